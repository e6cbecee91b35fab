"""One adapter per target tool."""

"""whyscope's conversation engine, command line and terminal app."""

__version__ = "0.1.0"

"""``python -m assistant`` runs the whyscope command line."""

import sys

from assistant.cli import main

sys.exit(main())

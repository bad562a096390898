"""``python -m fusednet COMMAND ...``: the same as the ``fusednet`` command."""
import sys

from .scripts.cli import main

sys.exit(main())

"""`python -m charnn` runs the command line."""

from .cli import entry

entry()

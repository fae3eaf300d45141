"""The command line, the only place that prints or exits."""

from .main import entry, main

__all__ = ["entry", "main"]

"""The command line, the only place that prints or exits."""

from .main import main

__all__ = ["main"]

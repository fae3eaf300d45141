"""Standard output that cannot crash the command line.

Text the console's encoding cannot represent is escaped (\\u2603), never an
error. A failure to write (a closed pipe, a full disk) is raised as
StdoutError, so it is never mistaken for a failure to write a run's files.
"""

from __future__ import annotations

import json
import math
import os
import sys


class StdoutError(Exception):
    """Writing to standard output failed; error is the OSError."""

    def __init__(self, error: OSError):
        super().__init__(str(error))
        self.error = error


class GuardedStream:
    """A text stream whose write and flush raise StdoutError instead of OSError."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as e:
            raise StdoutError(e) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as e:
            raise StdoutError(e) from None

    def __getattr__(self, name):
        return getattr(self._stream, name)


def escape_unencodable() -> None:
    """Let stdout and stderr escape what their encoding cannot write."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):
                pass


def silence_stdout() -> None:
    """Send what is still buffered or printed to stdout nowhere, so a closed
    pipe or a full disk raises no second error (at exit, say)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.__stdout__.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass  # no descriptor to redirect


def err(msg: str) -> None:
    """One line on standard error."""
    print(msg, file=sys.stderr)


def json_line(obj: dict) -> str:
    """obj as one line of strict JSON: a number that is not finite (a loss
    that overflowed) is null, not the NaN or Infinity that JSON parsers refuse."""

    def finite(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: finite(x) for k, x in v.items()}
        if isinstance(v, list):
            return [finite(x) for x in v]
        return v

    return json.dumps(finite(obj), ensure_ascii=False, allow_nan=False)

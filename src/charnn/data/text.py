"""Reading text safely: one place for the checks every corpus passes.

A corpus must be a regular UTF-8 file with no NUL byte, long enough for one
training sequence, and with at least two distinct characters.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import CorpusError


def read_text(path: str | os.PathLike) -> str:
    """Read a UTF-8 text file, refusing anything that is not usable text."""
    p = Path(path)
    if not p.exists():
        raise CorpusError(f"corpus file not found: {p}")
    if p.is_dir():
        raise CorpusError(f"corpus path is a directory, not a text file: {p}")
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise CorpusError(f"cannot read corpus {p}: {e.strerror or e}") from None
    return decode_text(raw, str(p))


def decode_text(raw: bytes, where: str = "text") -> str:
    """Decode UTF-8 bytes, naming the byte offset of the first invalid byte."""
    if not raw:
        raise CorpusError(f"corpus {where} is empty; give a text file with some characters in it")
    check_no_nul(raw, where)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CorpusError(
            f"corpus {where} is not valid UTF-8: bad byte 0x{raw[e.start]:02x} "
            f"at offset {e.start}; convert it to UTF-8 first"
        ) from None


def check_no_nul(raw: bytes, where: str, offset: int = 0) -> None:
    """Refuse binary data: raw (read at byte offset `offset`) must hold no NUL byte."""
    nul = raw.find(b"\x00")
    if nul >= 0:
        raise CorpusError(
            f"corpus {where} contains a NUL byte at offset {offset + nul}: "
            "it looks like binary data, not text"
        )


def check_size(name: str, n_chars: int, n_distinct: int, min_chars: int) -> None:
    """A corpus needs min_chars characters (seq_length + 1) and two distinct ones."""
    if n_chars < min_chars:
        raise CorpusError(
            f"corpus {name} has {n_chars} characters; at least {min_chars} "
            "are needed (seq_length + 1): use a longer text or a smaller --seq-length"
        )
    if n_distinct < 2:
        raise CorpusError(
            f"corpus {name} has a single distinct character; there is nothing to learn from it"
        )

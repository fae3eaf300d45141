"""Reading text safely: one place for the checks every corpus passes.

A corpus must be a regular UTF-8 file (not a device, FIFO or socket) with no
NUL byte, long enough for one training sequence, and with at least two
distinct characters. A leading UTF-8 byte order mark is not text and is
dropped; byte offsets in messages count it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import CorpusError
from ..words import counted

BOM = b"\xef\xbb\xbf"


def open_regular(path: str | os.PathLike, what: str = "corpus") -> int:
    """An open descriptor of path, which must be a regular file.

    Opened without blocking, so a FIFO is refused instead of waiting for a
    writer; /dev/zero and other devices are refused before any read. what
    names the file in messages ("corpus", "--prime-file").
    """
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise CorpusError(f"{what} file not found: {p}") from None
    except IsADirectoryError:
        raise CorpusError(f"{what} path is a directory, not a text file: {p}") from None
    except OSError as e:
        raise CorpusError(f"cannot read {what} {p}: {e.strerror or e}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise CorpusError(f"{what} path is a directory, not a text file: {p}")
        raise CorpusError(
            f"{what} {p} is not a regular file (a device, FIFO or socket); give a text file"
        )
    os.set_blocking(fd, True)
    return fd


def read_bytes(path: str | os.PathLike, what: str = "corpus") -> bytes:
    """All bytes of a regular file, with the errors a user can act on."""
    fd = open_regular(path, what)
    try:
        with os.fdopen(fd, "rb") as f:
            return f.read()
    except OSError as e:
        raise CorpusError(f"cannot read {what} {path}: {e.strerror or e}") from None


def read_text(path: str | os.PathLike, what: str = "corpus") -> str:
    """Read a UTF-8 text file, refusing anything that is not usable text;
    what names it in messages."""
    return decode_text(read_bytes(path, what), str(Path(path)), what)


def decode_text(raw: bytes, where: str = "text", what: str = "corpus") -> str:
    """Decode UTF-8 bytes, naming the byte offset of the first invalid byte."""
    skip = len(BOM) if raw.startswith(BOM) else 0
    if len(raw) == skip:
        raise CorpusError(f"{what} {where} is empty; give a text file with some characters in it")
    check_no_nul(raw, where, what=what)
    try:
        return raw[skip:].decode("utf-8")
    except UnicodeDecodeError as e:
        at = skip + e.start
        raise CorpusError(
            f"{what} {where} is not valid UTF-8: bad byte 0x{raw[at]:02x} "
            f"at offset {at}; convert it to UTF-8 first"
        ) from None


def check_no_nul(raw: bytes, where: str, offset: int = 0, what: str = "corpus") -> None:
    """Refuse binary data: raw (read at byte offset `offset`) must hold no NUL byte."""
    nul = raw.find(b"\x00")
    if nul >= 0 and offset == 0 and raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise CorpusError(  # the byte-order mark of UTF-16 (or UTF-32): NULs in every ASCII one
            f"{what} {where} is UTF-16 or UTF-32 text (it starts with a byte-order mark); "
            f"convert it to UTF-8 first (iconv -f UTF-16 -t UTF-8)"
        )
    if nul >= 0:
        raise CorpusError(
            f"{what} {where} contains a NUL byte at offset {offset + nul}: "
            "it looks like binary data, not text"
        )


def check_size(name: str, n_chars: int, n_distinct: int, min_chars: int) -> None:
    """A corpus needs min_chars characters (seq_length + 1) and two distinct ones."""
    if n_chars < min_chars:
        raise CorpusError(
            f"corpus {name} has {counted(n_chars, 'character')}; at least {min_chars:,} "
            "are needed (seq_length + 1): use a longer text or a smaller --seq-length"
        )
    if n_distinct < 2:
        raise CorpusError(
            f"corpus {name} has a single distinct character; there is nothing to learn from it"
        )

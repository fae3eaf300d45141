"""A corpus by name or path: which file, and its checked text."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import CorpusError
from . import corpora
from .fingerprint import Fingerprint, of_bytes
from .text import check_size, decode_text, read_bytes
from .vocab import distinct_chars


@dataclass(frozen=True)
class Corpus:
    """A loaded corpus: its name as the user gave it, the file read, its text
    and the fingerprint of the bytes the text was decoded from."""

    name: str
    path: Path
    text: str
    fingerprint: Fingerprint | None = None


def resolve(spec: str | os.PathLike | None) -> tuple[str, Path]:
    """(name, file) for a corpus name or a path; None means the default corpus."""
    spec = corpora.DEFAULT if spec is None else str(spec)
    p = Path(spec)
    if p.exists():
        return spec, p
    if spec in corpora.NAMED:
        return spec, corpora.cached_path(spec)
    if os.sep in spec or p.suffix:
        raise CorpusError(f"corpus file not found: {p}")
    raise CorpusError(
        f"unknown corpus {spec!r}: not a file and not one of {', '.join(sorted(corpora.NAMED))}"
    )


def load(spec: str | os.PathLike | None, min_chars: int = 2) -> Corpus:
    """Read a corpus by name or path, requiring at least min_chars characters
    (seq_length + 1 for training) and at least two distinct ones."""
    name, path = resolve(spec)
    raw = read_bytes(path)
    text = decode_text(raw, str(path))
    check_size(name, len(text), len(distinct_chars(text)), min_chars)
    return Corpus(name, path, text, of_bytes(raw))

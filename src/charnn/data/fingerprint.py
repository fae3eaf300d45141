"""The fingerprint of a corpus: a SHA-256 of its bytes and their count.

A run records the fingerprint of the file it trains on, so a resume can
tell the same text (wherever it now lies) from an edited one, and the id
cache can be keyed by content instead of by name and date.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

BLOCK = 4 << 20


@dataclass(frozen=True)
class Fingerprint:
    """sha256: hex digest of the file's bytes; size: their number."""

    sha256: str
    size: int

    def to_dict(self) -> dict:
        return {"sha256": self.sha256, "bytes": self.size}

    @classmethod
    def from_dict(cls, d) -> Fingerprint | None:
        """The fingerprint a run recorded, or None for a run that recorded none."""
        if isinstance(d, dict) and isinstance(d.get("sha256"), str):
            size = d.get("bytes")
            return cls(d["sha256"], size if isinstance(size, int) else -1)
        return None

    @property
    def short(self) -> str:
        return self.sha256[:12]


class Hasher:
    """A fingerprint built block by block, as a file is streamed."""

    def __init__(self):
        self.h, self.size = hashlib.sha256(), 0

    def update(self, raw: bytes) -> None:
        self.h.update(raw)
        self.size += len(raw)

    def result(self) -> Fingerprint:
        return Fingerprint(self.h.hexdigest(), self.size)


def of_bytes(raw: bytes) -> Fingerprint:
    return Fingerprint(hashlib.sha256(raw).hexdigest(), len(raw))


def of_file(f) -> Fingerprint:
    """The fingerprint of an open binary file, read from its current position."""
    h = Hasher()
    while raw := f.read(BLOCK):
        h.update(raw)
    return h.result()


def describe_change(old: Fingerprint, new: Fingerprint) -> str:
    """What differs between two fingerprints, in words."""
    if old.size >= 0 and old.size != new.size:
        return f"{old.size:,} bytes then, {new.size:,} bytes now"
    return f"same size, other content (sha256 {old.short}... then, {new.short}... now)"

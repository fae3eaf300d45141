"""Counts in words: "1 character", "2 characters", "1,000 updates"."""

from __future__ import annotations


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """n with thousands separators and the noun, plural unless n is 1."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"

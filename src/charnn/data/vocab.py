"""The character vocabulary: sorted code points, compact id arrays.

The vocabulary is the sorted set of the text's Unicode code points, so the
same text always gives the same ids. Ids are stored compactly: uint8 when
K <= 256, uint16 when K <= 65536, uint32 beyond.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import CorpusError, VocabError


def id_dtype(K: int) -> np.dtype:
    """The smallest unsigned integer type that holds ids 0..K-1."""
    if K <= 256:
        return np.dtype(np.uint8)
    return np.dtype(np.uint16) if K <= 65536 else np.dtype(np.uint32)


def code_points(text: str):
    """(start, code points (n,) uint32) of text in slices of 2**20 characters,
    which keep the 4-byte code points of a large text small."""
    step = 1 << 20
    for i in range(0, len(text), step):
        yield i, np.frombuffer(text[i : i + step].encode("utf-32-le"), dtype=np.uint32)


def distinct_chars(text: str) -> tuple[str, ...]:
    """The distinct characters of text in code point order: sorted(set(text)),
    counted with NumPy over the code points (a few times faster on a corpus)."""
    try:
        seen = np.zeros(0, dtype=bool)
        for _, codes in code_points(text):
            here = np.bincount(codes).astype(bool)
            if here.size > seen.size:
                here[: seen.size] |= seen
                seen = here
            else:
                seen[: here.size] |= here
    except UnicodeEncodeError:  # a lone surrogate has no UTF-32 code
        return tuple(sorted(set(text)))
    return tuple(map(chr, np.flatnonzero(seen).tolist()))


@dataclass(frozen=True)
class Vocab:
    """The characters of a corpus; id i is chars[i]."""

    chars: tuple[str, ...]
    index: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "index", {ch: i for i, ch in enumerate(self.chars)})

    @classmethod
    def from_text(cls, text: str) -> Vocab:
        if not text:
            raise CorpusError("cannot build a vocabulary from empty text")
        return cls(distinct_chars(text))

    @classmethod
    def from_chars(cls, chars) -> Vocab:
        """Rebuild a saved vocabulary, checking it is a sorted set of single characters."""
        chars = tuple(chars)
        if (
            not chars
            or any(not isinstance(c, str) or len(c) != 1 for c in chars)
            or list(chars) != sorted(set(chars))
        ):
            raise VocabError("a vocabulary must be a non-empty sorted list of distinct characters")
        return cls(chars)

    @property
    def size(self) -> int:
        """K, the number of distinct characters."""
        return len(self.chars)

    @property
    def dtype(self) -> np.dtype:
        return id_dtype(self.size)

    def unknown(self, text: str) -> list[str]:
        """Characters of text that are not in the vocabulary, sorted."""
        return sorted(set(text) - self.index.keys())

    def encode(self, text: str) -> np.ndarray:
        """ids (len(text),) of the vocabulary's compact dtype; VocabError
        naming the characters of text that are not in the vocabulary."""
        points = [ord(c) for c in self.chars]
        lut = np.zeros(max(points) + 1, dtype=self.dtype)
        lut[points] = np.arange(self.size, dtype=self.dtype)
        known = np.zeros(lut.size, dtype=bool)
        known[points] = True
        out = np.empty(len(text), dtype=self.dtype)
        for i, codes in code_points(text):
            if codes.size and (int(codes.max()) >= lut.size or not known[codes].all()):
                self._refuse(text)
            out[i : i + len(codes)] = lut[codes]
        return out

    def _refuse(self, text: str) -> None:
        missing = self.unknown(text)
        shown = ", ".join(repr(c) for c in missing[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        raise VocabError(f"characters not in the model's vocabulary: {shown}{more}")

    def decode(self, ids) -> str:
        """The text of ids (any int array-like with values in 0..K-1)."""
        chars, ids = self.chars, np.asarray(ids).ravel()
        if not ids.size:
            return ""
        if not np.issubdtype(ids.dtype, np.integer):
            raise VocabError(f"ids must be integers, got {ids.dtype} values")
        if not (0 <= ids.min() and ids.max() < len(chars)):
            bad = int(ids.min()) if ids.min() < 0 else int(ids.max())
            raise VocabError(f"id {bad} is outside the vocabulary's 0..{len(chars) - 1}")
        return "".join(chars[i] for i in ids.tolist())

    def one_hot(self, ids) -> np.ndarray:
        """One-hot matrix (K, T) of ids, for teaching; the model never needs it."""
        ids = np.asarray(ids, dtype=np.intp)
        X = np.zeros((self.size, len(ids)))
        X[ids, np.arange(len(ids))] = 1.0
        return X

"""A corpus as ids, for training: small files are read whole, large ones are
streamed once into a cached ``.npy`` of ids that later runs memory-map.

Memory stays flat for a large file: it is decoded in blocks (an invalid
byte is still reported with its offset), its vocabulary is gathered block
by block, and the ids are written straight into the cache file. The cache
is keyed by content: the SHA-256 of the file's bytes, computed on every
load, so an edit that keeps size and date is still seen. The cache records
the SHA-256 of its own id file too; a damaged or truncated cache is found
by that check and encoded again.
"""

from __future__ import annotations

import codecs
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import CorpusError
from ..fsio import atomic_write
from . import cache, corpus
from .fingerprint import Fingerprint, Hasher, of_file
from .text import BOM, check_no_nul, check_size, open_regular
from .vocab import Vocab

LARGE = 16 << 20  # bytes; above this a corpus goes through the id cache
BLOCK = 4 << 20


@dataclass(frozen=True)
class CorpusIds:
    """A corpus ready for training: ids (N,) in the vocabulary's compact dtype."""

    name: str
    path: Path
    vocab: Vocab
    ids: np.ndarray
    head: str  # the first characters, for a gradient check or a first input
    fingerprint: Fingerprint | None = None

    @property
    def chars(self) -> int:
        return int(self.ids.size)


def _blocks(path: Path, hasher: Hasher | None = None):
    """Decoded text blocks of a UTF-8 file, with NUL and encoding errors located
    (a leading byte order mark is skipped); hasher sees every byte read."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with os.fdopen(open_regular(path), "rb") as f:
        while True:
            raw = f.read(BLOCK)
            if hasher is not None:
                hasher.update(raw)
            check_no_nul(raw, str(path), offset)
            skip = len(BOM) if offset == 0 and raw.startswith(BOM) else 0
            pending = len(decoder.getstate()[0])
            try:
                text = decoder.decode(raw[skip:], final=not raw)
            except UnicodeDecodeError as e:
                at = offset + skip - pending + e.start
                raise CorpusError(
                    f"corpus {path} is not valid UTF-8: bad byte 0x{e.object[e.start]:02x} "
                    f"at offset {at}; "
                    "convert it to UTF-8 first"
                ) from None
            offset += len(raw)
            if text:
                yield text
            if not raw:
                return


def _scan(path: Path) -> tuple[Vocab, int, str]:
    chars, n, head = set(), 0, ""
    for text in _blocks(path):
        chars.update(text)
        n += len(text)
        head += text[: 4096 - len(head)]
    if n == 0:
        raise CorpusError(f"corpus {path} is empty; give a text file with some characters in it")
    return Vocab(tuple(sorted(chars))), n, head


def _file_sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return of_file(f).sha256


def _read_cache(ids_path: Path, info_path: Path, fp: Fingerprint):
    """(vocab, ids, head) from a cache entry that passes every check, else None."""
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
        vocab = Vocab(tuple(info["vocab"]))
        ok = info["sha256"] == fp.sha256 and info["bytes"] == fp.size
        if not ok or info["ids_sha256"] != _file_sha256(ids_path):
            return None
        ids = np.load(ids_path, mmap_mode="r", allow_pickle=False)
        if ids.shape != (info["chars"],) or ids.dtype != vocab.dtype:
            return None
        return vocab, ids, str(info["head"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # absent or damaged: encoded again


def _encode(path: Path, ids_path: Path, info_path: Path, fp: Fingerprint) -> None:
    """Stream path into ids_path (atomically) and record what it holds."""
    vocab, n, head = _scan(path)
    tmp = ids_path.with_name(f".{ids_path.stem}.{os.getpid()}.npy")
    try:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=vocab.dtype, shape=(n,))
        pos, hasher = 0, Hasher()
        for text in _blocks(path, hasher):
            out[pos : pos + len(text)] = vocab.encode(text)
            pos += len(text)
        out.flush()
        del out
        if hasher.result() != fp or pos != n:
            raise CorpusError(f"corpus {path} changed while it was read; try again")
        os.replace(tmp, ids_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    info = {
        "sha256": fp.sha256,
        "bytes": fp.size,
        "chars": n,
        "ids_sha256": _file_sha256(ids_path),
        "vocab": list(vocab.chars),
        "head": head,
    }
    data = json.dumps(info).encode("utf-8")
    atomic_write(info_path, lambda f: f.write(data))


def _cached(path: Path) -> tuple[Vocab, np.ndarray, str, Fingerprint]:
    """Vocabulary, memory-mapped ids, head and fingerprint of a large file,
    encoding it once per content."""
    with os.fdopen(open_regular(path), "rb") as f:
        fp = of_file(f)
    folder = cache.folder("ids")
    ids_path, info_path = folder / f"{fp.sha256}.npy", folder / f"{fp.sha256}.json"
    got = _read_cache(ids_path, info_path, fp)
    if got is None:
        try:
            _encode(path, ids_path, info_path, fp)
        except OSError as e:
            raise CorpusError(
                f"cannot write the id cache of {path} in {folder}: {e.strerror or e}"
            ) from None
        got = _read_cache(ids_path, info_path, fp)
        if got is None:
            raise CorpusError(f"the id cache {ids_path} cannot be read back; check {folder}")
    return (*got, fp)


def load_ids(spec, min_chars: int = 2) -> CorpusIds:
    """The corpus named or found at spec, as ids, with the checks of `corpus.load`."""
    name, path = corpus.resolve(spec)
    if path.is_file() and path.stat().st_size > LARGE:
        vocab, ids, head, fp = _cached(path)
    else:
        c = corpus.load(spec, min_chars)
        vocab = Vocab.from_text(c.text)
        return CorpusIds(c.name, c.path, vocab, vocab.encode(c.text), c.text[:4096], c.fingerprint)
    check_size(name, int(ids.size), vocab.size, min_chars)
    return CorpusIds(name, path, vocab, ids, head, fp)

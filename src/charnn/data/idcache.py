"""A corpus as ids, for training: small files are read whole, large ones are
streamed once into a cached ``.npy`` of ids that later runs memory-map.

Memory stays flat for a large file: it is decoded in blocks (an invalid
byte is still reported with its offset), its vocabulary is gathered block
by block, and the ids are written straight into the cache file. The cache
key is the file's absolute path, size and modification time, so an edited
file is encoded again.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import CorpusError
from ..fsio import atomic_write, cache_dir
from . import corpus
from .text import check_no_nul, check_size
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

    @property
    def chars(self) -> int:
        return int(self.ids.size)


def _blocks(path: Path):
    """Decoded text blocks of a UTF-8 file, with NUL and encoding errors located."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with open(path, "rb") as f:
        while True:
            raw = f.read(BLOCK)
            check_no_nul(raw, str(path), offset)
            pending = len(decoder.getstate()[0])
            try:
                text = decoder.decode(raw, final=not raw)
            except UnicodeDecodeError as e:
                at = offset - pending + e.start
                raise CorpusError(
                    f"corpus {path} is not valid UTF-8: bad byte at offset {at}; "
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


def _cache_key(path: Path) -> str:
    st = path.stat()
    return hashlib.sha256(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()


def _cached(path: Path) -> tuple[Vocab, np.ndarray, str]:
    """Vocabulary, memory-mapped ids and head of a large file, encoding it once."""
    folder = cache_dir() / "ids"
    key = _cache_key(path)
    ids_path, info_path = folder / f"{key}.npy", folder / f"{key}.json"
    if not (ids_path.exists() and info_path.exists()):
        vocab, n, head = _scan(path)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{key}.{os.getpid()}.npy"
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=vocab.dtype, shape=(n,))
        pos = 0
        for text in _blocks(path):
            out[pos : pos + len(text)] = vocab.encode(text)
            pos += len(text)
        out.flush()
        del out
        os.replace(tmp, ids_path)
        info = json.dumps({"vocab": list(vocab.chars), "head": head}).encode("utf-8")
        atomic_write(info_path, lambda f: f.write(info))
    info = json.loads(info_path.read_text(encoding="utf-8"))
    return Vocab(tuple(info["vocab"])), np.load(ids_path, mmap_mode="r"), info["head"]


def load_ids(spec, min_chars: int = 2) -> CorpusIds:
    """The corpus named or found at spec, as ids, with the checks of `corpus.load`."""
    name, path = corpus.resolve(spec)
    if path.is_file() and path.stat().st_size > LARGE:
        vocab, ids, head = _cached(path)
    else:
        c = corpus.load(spec, min_chars)
        vocab = Vocab.from_text(c.text)
        return CorpusIds(c.name, c.path, vocab, vocab.encode(c.text), c.text[:4096])
    check_size(name, int(ids.size), vocab.size, min_chars)
    return CorpusIds(name, path, vocab, ids, head)

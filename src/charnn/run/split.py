"""The corpus split for training: B streams of training ids and the held-out tail.

Validation holds out the last `val_fraction` of the corpus; the vocabulary
is built from the whole text, training reads only the first part, cut into
B contiguous segments read side by side (data (B, L)).

In document mode (``--documents``) validation holds out the last
`val_fraction` of the documents instead, and both parts are streams
END d1 END d2 ... END (data.documents); a training segment may then start
in the middle of a document, from a zero state like every epoch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..data import corpus as corpus_files
from ..data import documents as docs
from ..data.fingerprint import of_bytes
from ..data.idcache import CorpusIds, load_ids
from ..data.text import decode_text, read_bytes
from ..data.vocab import Vocab
from ..errors import CorpusError
from ..words import counted
from .config import TrainConfig


@dataclass
class Data:
    """The corpus split for training: data (B, L) ids and the held-out ids."""

    corpus: CorpusIds
    vocab: Vocab
    train: np.ndarray
    val: np.ndarray
    documents: dict = field(default_factory=dict)  # document mode: counts and lengths

    @property
    def info(self) -> dict:
        return {
            "name": self.corpus.name,
            "path": str(self.corpus.path),
            "chars": self.corpus.chars,
            "train_chars": int(self.train.size),
            "val_chars": int(self.val.size),
            "K": self.vocab.size,
            **(self.corpus.fingerprint.to_dict() if self.corpus.fingerprint else {}),
        }


def prepare_data(cfg: TrainConfig, vocab: Vocab | None = None) -> Data:
    """Load and split the corpus; with vocab given (resume), it must match."""
    if cfg.documents:
        return _split(cfg, *document_streams(cfg, vocab))
    c = load_ids(cfg.corpus, min_chars=cfg.seq_length + 1)
    _same_vocab(c, vocab)
    n = c.chars
    n_val = int(n * cfg.val_fraction)
    if cfg.val_fraction > 0 and n_val < 2:
        raise CorpusError(
            f"--val-fraction {cfg.val_fraction} holds out {counted(n_val, 'character')} of "
            f"{n:,}; use a larger fraction or 0 for no validation"
        )
    return _split(cfg, c, c.ids[: n - n_val], c.ids[n - n_val :])


def _same_vocab(c: CorpusIds, vocab: Vocab | None) -> None:
    if vocab is not None and c.vocab != vocab:
        raise CorpusError(
            f"corpus {c.name} has a different vocabulary than the run "
            f"({c.vocab.size} vs {vocab.size} characters); resume on the same text"
        )


def document_streams(cfg: TrainConfig, vocab: Vocab | None = None):
    """(corpus, train stream, val stream, info) of a corpus read as documents;
    the last val_fraction of the documents are held out."""
    name, path = corpus_files.resolve(cfg.corpus)
    mode = docs.parse_mode(cfg.documents)
    raw = read_bytes(path)
    parts = docs.split(decode_text(raw, str(path)), mode, name)
    d = parts.docs
    n_val = int(len(d) * cfg.val_fraction)
    if cfg.val_fraction > 0 and n_val < 1:
        raise CorpusError(
            f"--val-fraction {cfg.val_fraction} holds out no document of the {len(d)}; "
            "use a larger fraction or 0 for no validation"
        )
    v = docs.vocab_of(d)
    head = "\n".join(d[:20])[:4096]
    c = CorpusIds(name, path, v, docs.stream(d, v), head, of_bytes(raw))
    _same_vocab(c, vocab)
    train, val = d[: len(d) - n_val], d[len(d) - n_val :]
    info = {
        "mode": str(mode),
        "end": docs.END_ID,
        "train_documents": len(train),
        "val_documents": len(val),
        "skipped_empty": parts.skipped,
        "lengths": docs.length_stats(d),
    }
    val_ids = docs.stream(val, c.vocab) if val else np.empty(0, c.vocab.dtype)
    return c, docs.stream(train, c.vocab), val_ids, info


def _split(cfg: TrainConfig, c: CorpusIds, train, val, documents: dict | None = None) -> Data:
    """Data with the training ids cut into B streams of L, refused if too short."""
    L = len(train) // cfg.batch_size
    if L < cfg.seq_length + 1:
        raise CorpusError(
            f"the training text ({len(train)} characters) is too short for "
            f"--batch-size {cfg.batch_size} streams of --seq-length {cfg.seq_length}"
            " + 1; use a longer text or smaller values"
        )
    data = train[: L * cfg.batch_size].reshape(cfg.batch_size, L)
    return Data(c, c.vocab, data, val, documents or {})

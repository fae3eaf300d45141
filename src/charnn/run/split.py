"""The corpus split for training: B streams of training ids and the held-out tail.

Validation holds out the last `val_fraction` of the corpus; the vocabulary
is built from the whole text, training reads only the first part, cut into
B contiguous segments read side by side (data (B, L)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data.idcache import CorpusIds, load_ids
from ..data.vocab import Vocab
from ..errors import CorpusError
from .config import TrainConfig


@dataclass
class Data:
    """The corpus split for training: data (B, L) ids and the held-out ids."""

    corpus: CorpusIds
    vocab: Vocab
    train: np.ndarray
    val: np.ndarray

    @property
    def info(self) -> dict:
        return {
            "name": self.corpus.name,
            "path": str(self.corpus.path),
            "chars": self.corpus.chars,
            "train_chars": int(self.train.size),
            "val_chars": int(self.val.size),
            "K": self.vocab.size,
        }


def prepare_data(cfg: TrainConfig, vocab: Vocab | None = None) -> Data:
    """Load and split the corpus; with vocab given (resume), it must match."""
    c = load_ids(cfg.corpus, min_chars=cfg.seq_length + 1)
    if vocab is not None and c.vocab != vocab:
        raise CorpusError(
            f"corpus {c.name} has a different vocabulary than the run "
            f"({c.vocab.size} vs {vocab.size} characters); resume on the same text"
        )
    n = c.chars
    n_val = int(n * cfg.val_fraction)
    if cfg.val_fraction > 0 and n_val < 2:
        raise CorpusError(
            f"--val-fraction {cfg.val_fraction} holds out {n_val} characters of "
            f"{n}; use a larger fraction or 0 for no validation"
        )
    train, val = c.ids[: n - n_val], c.ids[n - n_val :]
    L = len(train) // cfg.batch_size
    if L < cfg.seq_length + 1:
        raise CorpusError(
            f"the training text ({len(train)} characters) is too short for "
            f"--batch-size {cfg.batch_size} streams of --seq-length {cfg.seq_length}"
            " + 1; use a longer text or smaller values"
        )
    return Data(c, c.vocab, train[: L * cfg.batch_size].reshape(cfg.batch_size, L), val)

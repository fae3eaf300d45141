"""Scoring a model on a text: the state it starts from, the units, and the
uniform-guessing bound every figure is checked against.

A model trained the seed's way carries its hidden state from sequence to
sequence and meets h = 0 only at epoch starts; from h = 0 it can fall into
a regime it never saw in training and stay there (measured in
bench/eval_state.md). So validation, `evaluate` and priming start from the
model's carried state: the state of stream 0 after its last update, kept
with every model (best.npz holds the state after the best model's sequence).

Units: nats per character, bits per character = nats / ln 2. The training
loss of an update is nats per sequence (T characters, mean over the B
streams), so its bits per character are loss / (T ln 2).
"""

from __future__ import annotations

import math

import numpy as np

LN2 = math.log(2.0)
STARTS = ("model", "zero")


def uniform_bpc(K: int) -> float:
    """Bits per character of guessing uniformly among K characters: log2 K."""
    return math.log2(K)


def per_char_bpc(loss: float, T: int) -> float:
    """Bits per character of a per-sequence loss in nats over T characters."""
    return loss / (T * LN2)


def score(
    text_loss, params: dict, ids: np.ndarray, h0: np.ndarray, reset_id: int = -1
) -> tuple[float, float]:
    """(nats per char, bits per char) of predicting ids[1:] from ids[:-1],
    starting from state h0 (S,) and restarting from zero after each reset_id
    input (document mode; -1 = plain text). text_loss is a backend's."""
    nats, count = text_loss(params, ids, np.asarray(h0, dtype=np.float64), reset_id=reset_id)
    per_char = nats / max(count, 1)
    return per_char, per_char / LN2


def start_state(h: np.ndarray, start: str) -> np.ndarray:
    """The state scoring or sampling starts from: the model's carried state h
    (start 'model') or zeros (start 'zero')."""
    if start not in STARTS:
        raise ValueError(f"start must be one of {', '.join(STARTS)}, got {start!r}")
    h = np.asarray(h, dtype=np.float64)
    return h.copy() if start == "model" else np.zeros_like(h)


STATE_CAUSE = "the model is in a state it did not learn from (see 'Evaluation state' in the README)"
TEXT_CAUSE = (
    "the text is unlike the model's training text, or the model starts in a state it did "
    "not learn from (see 'Evaluation state' in the README)"
)
DOCUMENT_CAUSE = (
    "the documents are unlike the model's training documents (each is read from the "
    "state training starts them from)"
)
HELD_OUT_DOCUMENTS_CAUSE = (
    "each held-out document is read from the state training starts documents from; the "
    "model may have over-fitted its training documents"
)


def validation_cause(cfg) -> str:
    """The likely cause of a run's validation worse than uniform guessing;
    cfg: a TrainConfig or config.json's dict."""
    documents = cfg.get("documents") if isinstance(cfg, dict) else cfg.documents
    return HELD_OUT_DOCUMENTS_CAUSE if documents else STATE_CAUSE


def uniform_warning(bpc: float, K: int, cause: str = STATE_CAUSE) -> str:
    """A warning when bpc is worse than uniform guessing, naming its likely
    cause, else ''."""
    if not bpc > uniform_bpc(K):  # also true for NaN
        return "" if math.isfinite(bpc) else f"WARNING: the loss is not finite ({bpc})"
    return (
        f"WARNING: {bpc:.4f} bits/char is worse than guessing uniformly among the "
        f"K = {K} characters ({uniform_bpc(K):.4f} bits/char): {cause}"
    )

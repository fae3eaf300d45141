"""One call per operation for every model the engine runs: the seed's
single RNN layer goes to its kernels (api.py), GRU and LSTM stacks to
the gated ones (cells.py). The kind of model is read off params["W"]:
(m, m) for the RNN, (3m, m) GRU, (4m, m) LSTM.

The state passed as `h` is the RNN's h (B, m) / (m,), or a gated stack's
state (B, S) / (S,): per layer [h] (GRU) or [h, c] (LSTM).
"""

from __future__ import annotations

import numpy as np

from . import api, cells


def is_gated(params: dict) -> bool:
    """True for GRU and LSTM stacks; False for the seed's RNN."""
    rows, m = params["W"].shape
    if rows == m:
        if "W1" in params:
            raise ValueError(
                "the compiled engine runs stacked GRU and LSTM layers, and one RNN layer; "
                "run stacked RNN layers with the reference engine"
            )
        return False
    return True


def train_chunk(state, data: np.ndarray, n: int, T: int, clip: float, cfg, reset_id: int = -1):
    """n updates on data (B, L) in place on state; see api.train_chunk."""
    impl = cells if is_gated(state.params) else api
    return impl.train_chunk(state, data, n, T, clip, cfg, reset_id)


def loss_and_grads(params: dict, X: np.ndarray, Y: np.ndarray, h=None, reset_id: int = -1):
    """(mean loss, grads keyed like params, state after T) for X, Y (B, T)."""
    if is_gated(params):
        return cells.loss_and_grads(params, X, Y, h, reset_id)
    if h is None:
        h = np.zeros((np.shape(X)[0], params["W"].shape[0]))
    return api.loss_and_grads(params, X, Y, h, reset_id)


def synthesize(
    params: dict,
    h0,
    x0: int,
    n: int,
    rng: np.random.Generator,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    stop: int = -1,
) -> np.ndarray:
    """n ids drawn from state h0 and input id x0 (same ids as the spec),
    ending early with `stop` when that id is drawn."""
    impl = cells if is_gated(params) else api
    return impl.synthesize(params, h0, x0, n, rng, temperature, top_k, top_p, stop)


def prime(params: dict, h0, ids) -> tuple[np.ndarray, int]:
    """(state after all primer ids (P,) but the last, that id), from h0 (None: zero)."""
    if is_gated(params):
        return cells.prime(params, h0, ids)
    if h0 is None:
        h0 = np.zeros(params["W"].shape[0])
    return api.prime(params, h0, ids)


def text_loss(params: dict, ids: np.ndarray, h0=None, chunk: int | None = None, reset_id=-1):
    """(nats, characters) of predicting ids[1:] from ids[:-1], from h0 (zero),
    `chunk` steps at a time (each engine's default when None)."""
    impl = cells if is_gated(params) else api
    kw = {} if chunk is None else {"chunk": chunk}
    return impl.text_loss(params, ids, h0, reset_id=reset_id, **kw)

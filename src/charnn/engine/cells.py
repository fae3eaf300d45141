"""Python-facing functions of the compiled gated cells (GRU, LSTM, L layers).

Parameters come as the spec's dict (nn/stack.py names: W, U, b, bn for
layer 0, W1, U1, b1, bn1 for layer 1, ..., V, c); the kernels see them
packed into one flat vector (stack.py) and results are written back into
the dict's own arrays. The state of B streams is (B, S): per layer [h]
(GRU) or [h, c] (LSTM), S = L m or 2 L m.

    train_chunk      n training updates in one compiled call (as engine.train_chunk)
    loss_and_grads   mean loss over B streams, gradients keyed like params, state_T
    text_loss        nats of a text, forward only
    prime            the state after a primer, forward only (as nn.sampling.prime)
    synthesize       ids drawn like the spec's sampling (same rng, same ids)
    warmup           compile, or load from numba's cache, every kernel

reset_id (-1: plain text) is the end-of-document id: the state of a stream
is zeroed before every step whose input is that id, as in the spec.

Shapes: K = vocabulary size, m = hidden size, T = seq_length, B = batch.
"""

from __future__ import annotations

import numpy as np

from ..nn.optim import OptimConfig
from ..nn.sampling import check_drawn, check_options
from ..nn.step import check_chunk
from . import cellcache, stack_run
from .api import DTYPES, _contiguous, _hyper, _ids, _inplace

CELL_CODES = {4: ("lstm", 0), 3: ("gru", 1)}
cellcache.drop_stale()


def describe(params: dict) -> tuple[str, int, int, int, int]:
    """(cell name, cell code, K, m, layers) read off the parameters."""
    rows, m = params["W"].shape
    if rows % m or rows // m not in CELL_CODES:
        raise ValueError(f"W of shape {params['W'].shape} is not a GRU or LSTM layer")
    name, code = CELL_CODES[rows // m]
    layers = 1
    while f"W{layers}" in params:
        layers += 1
    return name, code, params["V"].shape[0], m, layers


def param_names(cell: str, layers: int) -> list[str]:
    """Names in the order of the flat vector the kernels see."""
    own = ("W", "U", "b", "bn") if cell == "gru" else ("W", "U", "b")
    return [k + (str(l) if l else "") for l in range(layers) for k in own] + ["V", "c"]


def state_size(params: dict) -> int:
    """S, the length of one stream's state."""
    name, _, _, m, layers = describe(params)
    return layers * m * (2 if name == "lstm" else 1)


def _pack(arrays: dict, names: list[str], dtype) -> np.ndarray:
    return np.concatenate([np.asarray(arrays[k], dtype=dtype).ravel() for k in names])


def _unpack(flat: np.ndarray, arrays: dict, names: list[str]) -> None:
    o = 0
    for k in names:
        a = arrays[k]
        a[...] = flat[o : o + a.size].reshape(a.shape)
        o += a.size


def _dtype(params: dict):
    dtype = params["W"].dtype
    if dtype not in DTYPES:
        raise ValueError(f"the engine runs in float32 or float64, not {dtype}")
    return dtype


def _state(state, B: int, S: int, dtype) -> np.ndarray:
    """A fresh (B, S) copy in dtype (the kernels update it in place)."""
    out = np.array(np.zeros((B, S)) if state is None else state, dtype=dtype).reshape(B, -1)
    if out.shape != (B, S):
        raise ValueError(f"state has {out.shape[1]} numbers per stream, expected {S}")
    return out


def train_chunk(
    state, data: np.ndarray, n: int, T: int, clip: float, cfg: OptimConfig, reset_id: int = -1
) -> np.ndarray:
    """Run up to n updates on data (B, L) in place on `state` (params,
    opt m/v/t, h (B, S), best_params, best_h (S,), counters), exactly as
    the reference chunk. Returns the losses of the updates done."""
    if n <= 0:
        return np.empty(0)
    args, names = train_args(state, data, n, T, clip, cfg, reset_id)
    done = stack_run.train(*args)
    theta, mom, vel, best = args[4:8]
    for flat, arrays in (
        (theta, state.params),
        (mom, state.opt["m"]),
        (vel, state.opt["v"]),
        (best, state.best_params),
    ):
        _unpack(flat, arrays, names)
    counters, floats, losses = args[-4:-1]
    state.opt["t"], state.update, state.best_x, state.best_update = (int(v) for v in counters)
    state.smooth, state.best_smooth = float(floats[0]), float(floats[1])
    state.pointer += done * T
    return losses[:done]


def train_args(
    state, data: np.ndarray, n: int, T: int, clip: float, cfg: OptimConfig, reset_id: int = -1
) -> tuple[tuple, list[str]]:
    """The arguments of stack_run.train for train_chunk, and the names."""
    dtype = _dtype(state.params)
    name, code, K, m, layers = describe(state.params)
    names = param_names(name, layers)
    B, L = data.shape
    p = state.pointer
    check_chunk(p, n, T, L)
    flats = [
        _pack(d, names, dtype)
        for d in (state.params, state.opt["m"], state.opt["v"], state.best_params)
    ]
    S = state_size(state.params)
    h = _inplace(state.h, dtype, "h")
    if h.shape != (B, S):
        raise ValueError(f"h has shape {h.shape}, expected {(B, S)}")
    best_h = _inplace(state.best_h, dtype, "best_h")
    counters = np.array(
        [state.opt["t"], state.update, state.best_x, state.best_update], dtype=np.int64
    )
    floats = np.array([state.smooth, state.best_smooth], dtype=np.float64)
    window = _ids(data[:, p : p + n * T + 1], K)
    return (
        code,
        K,
        m,
        layers,
        *flats,
        h,
        best_h,
        window,
        int(n),
        int(T),
        float(clip),
        int(cfg.code),
        _hyper(cfg),
        counters,
        floats,
        np.empty(n),
        int(reset_id),
    ), names


def loss_and_grads(params: dict, X: np.ndarray, Y: np.ndarray, state=None, reset_id: int = -1):
    """Mean over the B streams of the per-sequence loss, its gradients
    (keyed like params) and the states after T steps (B, S), from state
    (B, S) (zero by default), in the dtype of params["W"]. X, Y: (B, T) ids."""
    args = loss_args(params, X, Y, state, reset_id)
    loss, grad, st = stack_run.loss_and_grads(*args)
    dtype = args[1].dtype
    name, _, _, _, layers = describe(params)
    names = param_names(name, layers)
    grads = {k: np.empty(np.shape(params[k]), dtype=dtype) for k in names}
    _unpack(grad, grads, names)
    return float(loss), grads, st


def loss_args(params: dict, X, Y, state, reset_id: int = -1) -> tuple:
    """The arguments of stack_run.loss_and_grads."""
    dtype = _dtype(params)
    name, code, K, m, layers = describe(params)
    X, Y = _ids(X, K), _ids(Y, K)
    if X.ndim != 2 or X.shape != Y.shape or X.shape[1] == 0:
        raise ValueError("X and Y must be (B, T) id arrays of the same shape with T >= 1")
    st = _state(state, X.shape[0], state_size(params), dtype)
    theta = _pack(params, param_names(name, layers), dtype)
    return (code, theta, K, m, layers, X, Y, st, int(reset_id))


def text_loss(
    params: dict,
    ids: np.ndarray,
    state=None,
    chunk: int = 256,
    dtype=np.float64,
    reset_id: int = -1,
) -> tuple[float, int]:
    """Nats of predicting ids[1:] from ids[:-1] from state (S,) (zero by
    default), computed in dtype (float64 by default, as the spec; the
    params' own dtype when None). Returns (nats, characters)."""
    args = text_args(params, ids, state, chunk, dtype, reset_id)
    return float(stack_run.text_loss(*args)), max(args[5].size - 1, 0)


def text_args(params: dict, ids, state, chunk: int, dtype=np.float64, reset_id=-1) -> tuple:
    """The arguments of stack_run.text_loss."""
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    dtype = _dtype(params) if dtype is None else np.dtype(dtype)
    name, code, K, m, layers = describe(params)
    st = _state(state, 1, state_size(params), dtype)
    theta = _pack(params, param_names(name, layers), dtype)
    return (code, K, m, layers, theta, _ids(np.ravel(ids), K), st, int(chunk), int(reset_id))


def prime(params: dict, state0, ids) -> tuple[np.ndarray, int]:
    """Like nn.sampling.prime: run the primer ids (P,) from state0 (S,)
    (None: zero) in float64; returns the state (S,) after all but the last
    primer id, and that id."""
    args = prime_args(params, state0, ids)
    stack_run.prime(*args)
    return args[6][0], int(np.ravel(ids)[-1])


def prime_args(params: dict, state0, ids) -> tuple:
    """The arguments of stack_run.prime (all primer ids but the last; the
    state (1, S) is updated in place)."""
    name, code, K, m, layers = describe(params)
    ids = _ids(np.ravel(ids), K)
    if ids.size == 0:
        raise ValueError("the primer must hold at least one character")
    st = _state(state0, 1, state_size(params), np.float64)
    theta = _pack(params, param_names(name, layers), np.float64)
    return code, K, m, layers, theta, ids[:-1].copy(), st, 256


def synthesize(
    params: dict,
    state0,
    x0: int,
    n: int,
    rng: np.random.Generator,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    stop: int = -1,
) -> np.ndarray:
    """Generate n ids from state0 (S,) (None: zero) and input id x0, in
    float64, drawing one uniform per id from rng. Returns int64 (n,), or
    fewer ending with `stop` when that id is drawn."""
    check_options(temperature, top_k, top_p)
    u = rng.random(n)
    args = synth_args(params, state0, x0, u, temperature, top_k, top_p, stop)
    return check_drawn(stack_run.synthesize(*args))


def synth_args(params: dict, state0, x0: int, u, temperature, top_k, top_p, stop=-1) -> tuple:
    """The arguments of stack_run.synthesize, with the uniforms u (n,) drawn."""
    name, code, K, m, layers = describe(params)
    if not 0 <= int(x0) < K:
        raise ValueError(f"x0 must lie in [0, {K}), got {x0}")
    st = _state(state0, 1, state_size(params), np.float64)
    theta = _pack(params, param_names(name, layers), np.float64)
    return (
        code,
        K,
        m,
        layers,
        theta,
        st,
        int(x0),
        _contiguous(u, np.float64),
        float(temperature),
        int(top_k),
        float(top_p),
        int(stop),
    )

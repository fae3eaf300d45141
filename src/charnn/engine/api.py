"""Python-facing wrappers of the compiled kernels: argument checks and
conversion, so every call reaches the kernels with one fixed signature
per dtype (C-contiguous, writeable arrays, int32 ids).

Shapes: K = vocabulary size, m = hidden size, T = seq_length, B = batch.
reset_id: the end-of-document id at whose input the state restarts from
zero (see nn.rnn); -1 for plain text.
"""

from __future__ import annotations

import numpy as np

from ..nn.optim import OptimConfig
from ..nn.rnn import PARAM_NAMES
from ..nn.sampling import check_drawn, check_options
from ..nn.step import check_chunk
from . import rnn as kernels

DTYPES = (np.float32, np.float64)


def _dtype_of(params: dict) -> np.dtype:
    dtype = params["W"].dtype
    if dtype not in DTYPES:
        raise ValueError(f"the engine runs in float32 or float64, not {dtype}")
    return dtype


def _inplace(arr: np.ndarray, dtype, what: str) -> np.ndarray:
    """arr itself, after checking that the kernel can update it in place."""
    if (
        not isinstance(arr, np.ndarray)
        or arr.dtype != dtype
        or not arr.flags.c_contiguous
        or not arr.flags.writeable
    ):
        raise ValueError(f"{what} must be a writeable C-contiguous {np.dtype(dtype).name} array")
    return arr


def _contiguous(arr, dtype) -> np.ndarray:
    """A C-contiguous writeable copy-if-needed, so one compiled signature fits all."""
    out = np.ascontiguousarray(arr, dtype=dtype)
    return out if out.flags.writeable else out.copy()


def _ids(arr, K: int) -> np.ndarray:
    """int32 C-contiguous ids, checked to lie in [0, K) (the kernels do not bounds-check)."""
    ids = np.ascontiguousarray(arr, dtype=np.int32)
    if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= K):
        raise ValueError(f"ids must lie in [0, {K}) for a vocabulary of size {K}")
    return ids


def _hyper(cfg: OptimConfig) -> tuple[float, ...]:
    return (float(cfg.lr), float(cfg.eps), float(cfg.rho), float(cfg.beta1), float(cfg.beta2))


def train_chunk(
    state, data: np.ndarray, n: int, T: int, clip: float, cfg: OptimConfig, reset_id: int = -1
) -> np.ndarray:
    """Run up to n updates on data (B, L) in place on `state`, like
    updates.reference_chunk. The chunk must end within the epoch:
    state.pointer + n*T + 1 <= L. Returns the losses (float64) of the
    updates done; fewer than n only when a loss was not finite."""
    if n <= 0:
        return np.empty(0)
    args = train_args(state, data, n, T, clip, cfg, reset_id)
    done = kernels.train(*args)
    counters, floats, losses = args[-4:-1]
    state.opt["t"], state.update, state.best_x, state.best_update = (int(v) for v in counters)
    state.smooth, state.best_smooth = float(floats[0]), float(floats[1])
    state.pointer += done * T
    return losses[:done]


def train_args(
    state, data: np.ndarray, n: int, T: int, clip: float, cfg: OptimConfig, reset_id: int = -1
) -> tuple:
    """The arguments of kernels.train for train_chunk (see there)."""
    dtype = _dtype_of(state.params)
    B, L = data.shape
    p = state.pointer
    check_chunk(p, n, T, L)
    K = state.params["c"].shape[0]
    window = _ids(data[:, p : p + n * T + 1], K)
    params = tuple(_inplace(state.params[k], dtype, f"params[{k!r}]") for k in PARAM_NAMES)
    moms = tuple(_inplace(state.opt["m"][k], dtype, f"opt m[{k!r}]") for k in PARAM_NAMES)
    vels = tuple(_inplace(state.opt["v"][k], dtype, f"opt v[{k!r}]") for k in PARAM_NAMES)
    best = tuple(_inplace(state.best_params[k], dtype, f"best_params[{k!r}]") for k in PARAM_NAMES)
    h = _inplace(state.h, dtype, "h")
    if h.shape != (B, params[0].shape[0]):
        raise ValueError(f"h has shape {h.shape}, expected {(B, params[0].shape[0])}")
    best_h = _inplace(state.best_h, dtype, "best_h")
    counters = np.array(
        [state.opt["t"], state.update, state.best_x, state.best_update], dtype=np.int64
    )
    floats = np.array([state.smooth, state.best_smooth], dtype=np.float64)
    return (
        params,
        moms,
        vels,
        best,
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
    )


def loss_and_grads(params: dict, X: np.ndarray, Y: np.ndarray, h: np.ndarray, reset_id: int = -1):
    """Mean over the B streams of the per-sequence loss, its gradients and h_T.

    X, Y: (B, T) ids; h: (B, m). Returns (loss, grads keyed like params,
    h_last (B, m)), computed in the dtype of params["W"].
    """
    loss, grads, h_last = kernels.loss_and_grads(*loss_args(params, X, Y, h, reset_id))
    return float(loss), dict(zip(PARAM_NAMES, grads)), h_last


def loss_args(params: dict, X, Y, h, reset_id: int = -1) -> tuple:
    """The arguments of kernels.loss_and_grads."""
    dtype = _dtype_of(params)
    K = params["c"].shape[0]
    X, Y = _ids(X, K), _ids(Y, K)
    if X.ndim != 2 or X.shape != Y.shape or X.shape[1] == 0:
        raise ValueError("X and Y must be (B, T) id arrays of the same shape with T >= 1")
    h = _contiguous(h, dtype)
    if h.shape != (X.shape[0], params["W"].shape[0]):
        raise ValueError(f"h has shape {h.shape}, expected {(X.shape[0], params['W'].shape[0])}")
    return (*(_contiguous(params[k], dtype) for k in PARAM_NAMES), X, Y, h, int(reset_id))


def _float64_params(params: dict) -> list[np.ndarray]:
    # The reference upcasts to float64 in its matrix products; so does this.
    return [_contiguous(params[k], np.float64) for k in PARAM_NAMES]


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
    """Generate n ids from hidden state h0 (m,) and input id x0, exactly as
    sampling.synthesize does with the same rng state (ending early after
    the id `stop`). Returns int64 (n,) or shorter."""
    check_options(temperature, top_k, top_p)
    u = rng.random(n)
    args = synth_args(params, h0, x0, u, temperature, top_k, top_p, stop)
    return check_drawn(kernels.synthesize(*args))


def synth_args(
    params: dict,
    h0,
    x0: int,
    u: np.ndarray,
    temperature: float,
    top_k: int,
    top_p: float,
    stop: int = -1,
) -> tuple:
    """The arguments of kernels.synthesize, with the uniforms u (n,) drawn."""
    K = params["c"].shape[0]
    if not 0 <= int(x0) < K:
        raise ValueError(f"x0 must lie in [0, {K}), got {x0}")
    return (
        *_float64_params(params),
        _contiguous(h0, np.float64),
        int(x0),
        _contiguous(u, np.float64),
        float(temperature),
        int(top_k),
        float(top_p),
        int(stop),
    )


def text_loss(
    params: dict,
    ids: np.ndarray,
    h0: np.ndarray | None = None,
    chunk: int = 256,
    reset_id: int = -1,
) -> tuple[float, int]:
    """Total loss in nats of predicting ids[1:] from ids[:-1] from h0 (zero
    by default), like nn.rnn.text_loss. Returns (nats, characters).

    One stream, in blocks of `chunk` steps (the block size does not change
    the result; 256 keeps a block's states and logits in the L2 cache)."""
    args = text_args(params, ids, h0, chunk, reset_id)
    return float(kernels.text_loss(*args)), max(args[5].size - 1, 0)


def text_args(params: dict, ids, h0, chunk: int, reset_id: int = -1) -> tuple:
    """The arguments of kernels.text_loss."""
    args = _float64_params(params)
    m, K = args[0].shape[0], args[4].shape[0]
    h = np.zeros(m) if h0 is None else _contiguous(h0, np.float64)
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    return (*args, _ids(np.ravel(ids), K), h, int(chunk), int(reset_id))


def prime(params: dict, h0, ids) -> tuple[np.ndarray, int]:
    """Like sampling.prime: run the primer ids (P,) from h0 (m,); returns the
    state after all but the last character, and that character (float64)."""
    args = prime_args(params, h0, ids)
    return kernels.prime(*args), int(np.ravel(ids)[-1])


def prime_args(params: dict, h0, ids) -> tuple:
    """The arguments of kernels.prime (all primer ids but the last)."""
    W, U, _, b, _ = _float64_params(params)
    ids = _ids(np.ravel(ids), U.shape[1])
    if ids.size == 0:
        raise ValueError("the primer must hold at least one character")
    return W, U, b, ids[:-1].copy(), _contiguous(h0, np.float64)

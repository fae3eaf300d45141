"""The vanilla RNN: parameters, initialization and the readable reference
forward/backward pass in float64.

This module is the specification every fast path is tested against.

Notation (shapes with K = vocabulary size, m = hidden size, T = seq_length):

    a_t = W h_{t-1} + U x_t + b        W (m, m), U (m, K), b (m,)
    h_t = tanh(a_t)                    h_t (m,)
    o_t = V h_t + c                    V (K, m), c (K,)
    p_t = softmax(o_t)                 p_t (K,)
    L   = sum_t -log p_t[y_t]          summed over the sequence, as in the seed

x_t is the one-hot vector of input id ``inputs[t]``, so ``U x_t`` is the
column ``U[:, inputs[t]]``; no one-hot matrix is ever multiplied.

As one layer of a stack (`stack.py`) the cell has the gated cells' interface,
the ``layer_*`` functions: the input side comes projected, ``UX[t] = U x_t + b``
(T, m), x_t being an id or the h_t of the layer below, and the backward pass
returns dUX for the caller to turn into dU, db and the gradient of its input:

    da_t = (dh_t + W^T da_{t+1}) * (1 - h_t^2),  dW += da_t h_{t-1}^T,  dUX[t] = da_t

A model of one RNN layer does not go through them: it is the code above.

Documents (``reset_id`` >= 0, the id of the end-of-document symbol): wherever
the input x_t is that symbol, a document starts and the state it reads is
zero, h_{t-1} := 0. No state, and no gradient, passes from one document
into the next: dL/dh_{t-1} gets nothing from step t, and dW nothing from
that step. ``reset_id = -1`` (no id) is plain text, computed exactly as
without it.
"""

from __future__ import annotations

import numpy as np

PARAM_NAMES = ("W", "U", "V", "b", "c")
GATES = 1
STATES = 1
LAYER_PARAMS = ("W", "U", "b")


def param_shapes(K: int, m: int) -> dict[str, tuple[int, ...]]:
    """Shapes of the five parameters for vocabulary size K and hidden size m."""
    return {"W": (m, m), "U": (m, K), "V": (K, m), "b": (m,), "c": (K,)}


def init_params(K: int, m: int, rng: np.random.Generator, sig: float = 0.01) -> dict:
    """Draw W, U, V ~ N(0, sig^2) (in that order) and set b = c = 0, float64."""
    shapes = param_shapes(K, m)
    params = {}
    for name in ("W", "U", "V"):
        params[name] = sig * rng.standard_normal(shapes[name])
    params["b"] = np.zeros(shapes["b"])
    params["c"] = np.zeros(shapes["c"])
    return params


def softmax(o: np.ndarray) -> np.ndarray:
    """Softmax along the last axis, shifted by the max so exp never overflows."""
    e = np.exp(o - o.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax(o: np.ndarray) -> np.ndarray:
    """log p along the last axis by log-sum-exp."""
    shifted = o - o.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def step(params: dict, h: np.ndarray, x: int) -> tuple[np.ndarray, np.ndarray]:
    """One time step from hidden state h (m,) and input id x.

    Returns (h_t (m,), o_t (K,)).
    """
    a = params["W"] @ h + params["U"][:, x] + params["b"]
    h = np.tanh(a)
    return h, params["V"] @ h + params["c"]


def forward(params: dict, inputs: np.ndarray, h0: np.ndarray, reset_id: int = -1) -> dict:
    """Run the network over ``inputs`` (T,) from h0 (m,), from a zero state
    wherever the input is reset_id.

    Returns a cache with H (T+1, m) where H[0] = h0 and H[t+1] = h_t, and
    the logits O (T, K).
    """
    T, m = len(inputs), h0.shape[0]
    H = np.empty((T + 1, m))
    H[0] = h0
    O = np.empty((T, params["c"].shape[0]))
    zero = np.zeros(m)
    for t in range(T):
        prev = zero if inputs[t] == reset_id else H[t]
        H[t + 1], O[t] = step(params, prev, int(inputs[t]))
    return {"H": H, "O": O}


def sequence_loss(O: np.ndarray, targets: np.ndarray) -> float:
    """L = sum_t -log softmax(o_t)[y_t] for logits O (T, K), targets (T,)."""
    logp = log_softmax(O)
    return float(-logp[np.arange(len(targets)), targets].sum())


def backward(
    params: dict, inputs: np.ndarray, targets: np.ndarray, cache: dict, reset_id: int = -1
) -> dict:
    """Backpropagation through time. Returns grads keyed like params plus 'h0'.

    dL/do_t = p_t - y_t;  dL/dh_t = V^T (p_t - y_t) + W^T dL/da_{t+1};
    dL/da_t = dL/dh_t * (1 - h_t^2). Where x_t is reset_id, h_{t-1} was zero:
    step t adds nothing to dW nor to dL/dh_{t-1}.
    """
    W, V = params["W"], params["V"]
    H, O = cache["H"], cache["O"]
    grads = {name: np.zeros_like(p) for name, p in params.items()}
    da_next = np.zeros(W.shape[0])
    for t in reversed(range(len(inputs))):
        g = softmax(O[t])
        g[targets[t]] -= 1.0
        grads["V"] += np.outer(g, H[t + 1])
        grads["c"] += g
        dh = V.T @ g + W.T @ da_next
        da = dh * (1.0 - H[t + 1] ** 2)
        grads["U"][:, inputs[t]] += da
        grads["b"] += da
        if inputs[t] == reset_id:
            da_next = np.zeros_like(da)
        else:
            grads["W"] += np.outer(da, H[t])
            da_next = da
    grads["h0"] = W.T @ da_next
    return grads


def as_ids(values, K: int, what: str = "ids") -> np.ndarray:
    """values as an int array of ids in 0..K-1; ValueError otherwise (NumPy
    would read id -1 as the last character, and truncate 2.5 to 2)."""
    ids = np.asarray(values)
    if ids.size and not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"{what} must be integer ids, got {ids.dtype} values")
    if ids.size:  # checked before the cast, which would wrap 2**64 - 1 to -1
        lo, hi = int(ids.min()), int(ids.max())
        if not (0 <= lo and hi < K):
            bad = lo if lo < 0 else hi
            raise ValueError(f"{what} holds id {bad}, outside the vocabulary's 0..{K - 1}")
    return ids.astype(np.intp, copy=False)


def loss_and_grads_h0(
    params: dict, inputs, targets, h0, reset_id: int = -1
) -> tuple[float, dict, np.ndarray]:
    """Loss, unclipped gradients (W, U, V, b, c and 'h0') and last hidden state.

    inputs, targets: int arrays (T,); h0: (m,); reset_id: see the module.
    """
    K = params["V"].shape[0]
    inputs, targets = as_ids(inputs, K, "inputs"), as_ids(targets, K, "targets")
    if inputs.shape != targets.shape or inputs.ndim != 1 or len(inputs) == 0:
        raise ValueError("inputs and targets must be 1-D int arrays of equal, non-zero length")
    cache = forward(params, inputs, np.asarray(h0, dtype=np.float64), reset_id)
    loss = sequence_loss(cache["O"], targets)
    return loss, backward(params, inputs, targets, cache, reset_id), cache["H"][-1].copy()


def loss_and_grads(
    params: dict, inputs, targets, h0, reset_id: int = -1
) -> tuple[float, dict, np.ndarray]:
    """Loss, unclipped gradients and last hidden state for one sequence.

    inputs, targets: int arrays (T,); h0: (m,). Returns (loss, grads, h_T),
    grads keyed W, U, V, b, c with the parameters' shapes.
    """
    loss, grads, h_last = loss_and_grads_h0(params, inputs, targets, h0, reset_id)
    grads.pop("h0")
    return loss, grads, h_last


def text_loss(
    params: dict,
    ids: np.ndarray,
    h0: np.ndarray | None = None,
    chunk: int = 4096,
    reset_id: int = -1,
) -> tuple[float, int]:
    """Total loss in nats of predicting ids[1:] from ids[:-1], carrying the
    hidden state from h0 (zero by default) except across a reset_id input.
    Returns (nats, characters)."""
    ids = as_ids(ids, params["V"].shape[0])
    h = np.zeros(params["W"].shape[0]) if h0 is None else np.asarray(h0, dtype=np.float64)
    total = 0.0
    for start in range(0, len(ids) - 1, chunk):
        x = ids[start : start + chunk]
        y = ids[start + 1 : start + chunk + 1]
        x = x[: len(y)]
        cache = forward(params, x, h, reset_id)
        total += sequence_loss(cache["O"], y)
        h = cache["H"][-1]
    return total, max(len(ids) - 1, 0)


def layer_step(p: dict, ux: np.ndarray, s: np.ndarray) -> np.ndarray:
    """One time step: state s = h_{t-1} (m,) -> h_t (m,)."""
    return np.tanh(p["W"] @ s + ux)


def layer_forward(p: dict, UX: np.ndarray, s0: np.ndarray, resets=None) -> dict:
    """Run the layer over UX (T, m) from s0 = h_0 (m,), from a zero state at
    the steps t where resets (T,) bool, if given, is true. Returns a cache
    with H (T+1, m), H[0] = h_0 and H[t+1] = h_t."""
    H = np.empty((UX.shape[0] + 1, s0.shape[0]))
    H[0] = s0
    for t in range(UX.shape[0]):
        H[t + 1] = layer_step(p, UX[t], np.zeros_like(H[t]) if reset_at(resets, t) else H[t])
    return {"H": H}


def reset_at(resets, t: int) -> bool:
    """Whether step t reads a zero state (resets: None or (T,) bool)."""
    return resets is not None and bool(resets[t])


def layer_final_state(cache: dict) -> np.ndarray:
    """h_T (m,) after the last step."""
    return cache["H"][-1].copy()


def layer_backward(
    p: dict, cache: dict, dH: np.ndarray, resets=None
) -> tuple[dict, np.ndarray, np.ndarray]:
    """BPTT through the layer, dH (T, m) the gradient at each h_t from above;
    resets as in `layer_forward`. Returns ({'W': dW}, dUX (T, m), ds0 (m,))."""
    W, H = p["W"], cache["H"]
    dW, dUX = np.zeros_like(W), np.empty_like(dH)
    dh_next = np.zeros(W.shape[0])
    for t in reversed(range(dH.shape[0])):
        da = (dH[t] + dh_next) * (1.0 - H[t + 1] ** 2)
        dUX[t] = da
        if reset_at(resets, t):
            dh_next = np.zeros_like(da)
            continue
        dW += np.outer(da, H[t])
        dh_next = W.T @ da
    return {"W": dW}, dUX, dh_next

"""A model of L stacked layers of one cell and the output layer: forward,
backward, loss and gradients, one step, the loss of a text.

Shapes: K = vocabulary size, m = hidden size, T = seq_length, S = state
size (see arch.py for the parameters and the state layout). Layer 0 reads
the input id x_t (U x_t is a column of U); layer l >= 1 reads h_t of layer
l-1, times its dropout mask when one is given; the top layer feeds

    o_t = V h_t^(L) + c                V (K, m), c (K,)
    p_t = softmax(o_t)
    L   = sum_t -log p_t[y_t]          summed over the sequence, as in the seed

Dropout (training only) is inverted dropout on the inputs of layers >= 1:
x_t^(l) = h_t^(l-1) * M_l[t], where M_l (T, m) holds 0 with probability p and
1/(1-p) otherwise (`dropout_masks`). The masks are an argument, so the loss
is a plain function of the parameters for any fixed masks.

Documents (reset_id >= 0, see rnn.py): at every step whose input id is
reset_id the whole state of the stream -- every layer's h (and c) -- is read
as zero, and no gradient flows back through that step into the state before.

A model of one RNN layer runs the seed's code (`rnn.py`) unchanged.
"""

from __future__ import annotations

import numpy as np

from . import rnn
from .arch import (
    CELLS,
    describe,
    init_params,
    layer_params,
    param_shapes,
    split_state,
    state_parts,
    suffix,
)

__all__ = [
    "backward",
    "describe",
    "dropout_masks",
    "forward",
    "init_params",
    "loss_and_grads",
    "loss_and_grads_state",
    "param_shapes",
    "state_parts",
    "step",
    "text_loss",
]


def step(params: dict, state: np.ndarray, x: int) -> tuple[np.ndarray, np.ndarray]:
    """One time step of every layer from state (S,) and input id x.

    Returns (state_t (S,), o_t (K,)).
    """
    a = describe(params)
    if a.seed_rnn:
        return rnn.step(params, state, x)
    cell, new = CELLS[a.cell], []
    below = None
    for l, s in enumerate(split_state(state, a.layers)):
        p = layer_params(params, l)
        ux = (p["U"][:, x] if l == 0 else p["U"] @ below) + p["b"]
        new.append(cell.layer_step(p, ux, s))
        below = new[-1][: a.m]
    return np.concatenate(new), params["V"] @ below + params["c"]


def dropout_masks(rng: np.random.Generator, p: float, layers: int, T: int, m: int) -> list:
    """Inverted-dropout masks for the inputs of layers 1 .. L-1, one (T, m)
    array each, drawn in that order: 1/(1-p) where rng.random((T, m)) >= p,
    else 0. No layer above the first, or p = 0: an empty list, nothing drawn."""
    if not 0 <= p < 1:
        raise ValueError(f"dropout must be in [0, 1), got {p}")
    if p == 0:
        return []
    return [(rng.random((T, m)) >= p) / (1.0 - p) for _ in range(layers - 1)]


def forward(
    params: dict, inputs: np.ndarray, state0: np.ndarray, masks=None, reset_id: int = -1
) -> dict:
    """Run every layer over inputs (T,) from state0 (S,); masks: None or the
    L-1 dropout masks (T, m) of the inputs of layers 1 .. L-1.

    Returns a cache with the logits O (T, K), the final state (S,), per layer
    the cell's cache in 'layers' (its H (T+1, m) holds h_0 ... h_T) and the
    input X (T, m) of each layer above the first in 'X' (X[0] is None).
    """
    a = describe(params)
    if a.seed_rnn:
        cache = rnn.forward(params, inputs, state0, reset_id)
        return {**cache, "state": cache["H"][-1].copy()}
    resets = np.asarray(inputs) == reset_id if reset_id >= 0 else None
    cell, caches, X = CELLS[a.cell], [], [None]
    for l, s0 in enumerate(split_state(state0, a.layers)):
        p = layer_params(params, l)
        if l == 0:
            UX = p["U"][:, inputs].T + p["b"]  # (T, G m)
        else:
            below = caches[-1]["H"][1:]  # (T, m)
            X.append(below if not masks else below * masks[l - 1])
            UX = X[l] @ p["U"].T + p["b"]
        caches.append(cell.layer_forward(p, UX, s0, resets))
    O = caches[-1]["H"][1:] @ params["V"].T + params["c"]
    state = np.concatenate([cell.layer_final_state(c) for c in caches])
    return {"layers": caches, "X": X, "masks": masks, "O": O, "state": state, "resets": resets}


def backward(
    params: dict, inputs: np.ndarray, targets: np.ndarray, cache: dict, reset_id: int = -1
) -> tuple[dict, np.ndarray]:
    """BPTT through the output layer and every layer, top to bottom.

    Returns (grads keyed like params, dL/dstate0 (S,)). Per layer, with dUX
    the gradient of its projected input U x_t + b: db = sum_t dUX[t],
    dU = sum_t dUX[t] x_t^T, and the layer below receives (dUX[t] U) * M_l[t].
    """
    a = describe(params)
    if a.seed_rnn:
        grads = rnn.backward(params, inputs, targets, cache, reset_id)
        return grads, grads.pop("h0")
    cell, layers = CELLS[a.cell], cache["layers"]
    dO = rnn.softmax(cache["O"])  # (T, K): p_t - y_t
    dO[np.arange(len(targets)), targets] -= 1.0
    grads = {"V": dO.T @ layers[-1]["H"][1:], "c": dO.sum(axis=0)}
    dH, dstates = dO @ params["V"], [None] * a.layers  # dH (T, m)
    for l in reversed(range(a.layers)):
        p, sfx = layer_params(params, l), suffix(l)
        g, dUX, dstates[l] = cell.layer_backward(p, layers[l], dH, cache["resets"])
        grads.update({k + sfx: v for k, v in g.items()})
        grads["b" + sfx] = dUX.sum(axis=0)
        if l == 0:
            dU = np.zeros_like(p["U"])
            np.add.at(dU.T, inputs, dUX)  # column x_t of dU gets dUX[t]
        else:
            dU = dUX.T @ cache["X"][l]
            dH = dUX @ p["U"]
            if cache["masks"]:
                dH *= cache["masks"][l - 1]
        grads["U" + sfx] = dU
    return {k: grads[k] for k in params}, np.concatenate(dstates)


def _ids(inputs, targets) -> tuple[np.ndarray, np.ndarray]:
    inputs = np.asarray(inputs, dtype=np.intp)
    targets = np.asarray(targets, dtype=np.intp)
    if inputs.shape != targets.shape or inputs.ndim != 1 or len(inputs) == 0:
        raise ValueError("inputs and targets must be 1-D int arrays of equal, non-zero length")
    return inputs, targets


def loss_and_grads_state(
    params: dict, inputs, targets, state0, masks=None, reset_id: int = -1
) -> tuple[float, dict, np.ndarray, np.ndarray]:
    """Loss, unclipped gradients, dL/dstate0 (S,) and the final state (S,).

    inputs, targets: int arrays (T,); state0: (S,); masks, reset_id: see `forward`.
    """
    inputs, targets = _ids(inputs, targets)
    cache = forward(params, inputs, np.asarray(state0, dtype=np.float64), masks, reset_id)
    loss = rnn.sequence_loss(cache["O"], targets)
    grads, dstate0 = backward(params, inputs, targets, cache, reset_id)
    return loss, grads, dstate0, cache["state"]


def loss_and_grads(
    params: dict, inputs, targets, state0, masks=None, reset_id: int = -1
) -> tuple[float, dict, np.ndarray]:
    """Loss, unclipped gradients keyed like params and the final state (S,)
    for one sequence: inputs, targets (T,) ids, state0 (S,), masks and
    reset_id as `forward`."""
    loss, grads, _, state = loss_and_grads_state(params, inputs, targets, state0, masks, reset_id)
    return loss, grads, state


def text_loss(
    params: dict,
    ids: np.ndarray,
    state0: np.ndarray | None = None,
    chunk: int = 4096,
    reset_id: int = -1,
) -> tuple[float, int]:
    """Total loss in nats of predicting ids[1:] from ids[:-1], carrying the
    state from state0 (zero by default) except across a reset_id input.
    Returns (nats, characters)."""
    a = describe(params)
    if a.seed_rnn:
        return rnn.text_loss(params, ids, state0, chunk, reset_id)
    ids = np.asarray(ids, dtype=np.intp)
    state = np.zeros(a.state_size) if state0 is None else np.asarray(state0, dtype=np.float64)
    total = 0.0
    for start in range(0, len(ids) - 1, chunk):
        y = ids[start + 1 : start + chunk + 1]
        cache = forward(params, ids[start : start + len(y)], state, reset_id=reset_id)
        total += rnn.sequence_loss(cache["O"], y)
        state = cache["state"]
    return total, max(len(ids) - 1, 0)

"""A model of L stacked layers of one cell (rnn, gru or lstm) and the output
layer: parameters, initialization, loss, gradients, one step, text loss.

Shapes: K = vocabulary size, m = hidden size, T = seq_length, G = gates
(rnn 1, gru 3, lstm 4). Layer 0 reads the input id x_t (U x_t is a column
of U); layer l >= 1 reads h_t of layer l-1; the top layer feeds

    o_t = V h_t^(L) + c                V (K, m), c (K,)
    p_t = softmax(o_t)
    L   = sum_t -log p_t[y_t]          summed over the sequence, as in the seed

Parameters (layer l >= 1 appends its number to the names: W1, U1, b1, bn1):

    W (G m, m)   U (G m, K) [layer 0], (G m, m) [layer >= 1]   b (G m,)
    bn (m,)      GRU only: the hidden-side bias of the candidate n
    V (K, m), c (K,)

The state of one stream is one flat vector of S numbers, the layers' states
one after another: [h] for rnn and gru, [h, c] for lstm, so S = L m or 2 L m.
A model of one RNN layer runs the seed's code (`charnn.model`) unchanged:
same names, shapes, draws, losses and gradients.

Initialization, drawn only from the rng given, in this order: W, U of layer
0, W1, U1, ..., then V, all ~ N(0, sig^2); every bias is zero except the
LSTM forget-gate block of b, which is 1. The default sig is the seed's 0.01
for rnn and 1/sqrt(m) for gru and lstm (fan-in scaling, as PyTorch's
uniform(-1/sqrt(m), 1/sqrt(m)) but normal).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import model
from ..errors import ConfigError
from . import gru, lstm, rnn_layer

CELLS = {"rnn": rnn_layer, "gru": gru, "lstm": lstm}
_BY_GATES = {mod.GATES: name for name, mod in CELLS.items()}


@dataclass(frozen=True)
class Arch:
    """What a parameter dict is: cell name, number of layers, K and m."""

    cell: str
    layers: int
    K: int
    m: int

    @property
    def seed_rnn(self) -> bool:
        """True for the seed's model: one RNN layer."""
        return self.cell == "rnn" and self.layers == 1

    @property
    def state_size(self) -> int:
        """S, the length of one stream's state vector."""
        return self.layers * CELLS[self.cell].STATES * self.m


def check_arch(cell: str, layers: int) -> None:
    """Raise ConfigError for an unknown cell or a number of layers below 1."""
    if cell not in CELLS:
        raise ConfigError(f"unknown cell {cell!r}; choose one of {', '.join(CELLS)}")
    if not isinstance(layers, int) or layers < 1:
        raise ConfigError(f"layers must be a positive integer, got {layers!r}")


def suffix(layer: int) -> str:
    """The name suffix of a layer's parameters: '' for layer 0, else its number."""
    return "" if layer == 0 else str(layer)


def param_shapes(K: int, m: int, cell: str = "rnn", layers: int = 1) -> dict:
    """Shapes of every parameter, keyed in the canonical order: weights in
    draw order (W, U, W1, U1, ..., V), then the biases layer by layer, then c."""
    check_arch(cell, layers)
    G = CELLS[cell].GATES
    shapes = {}
    for l in range(layers):
        shapes["W" + suffix(l)] = (G * m, m)
        shapes["U" + suffix(l)] = (G * m, K if l == 0 else m)
    shapes["V"] = (K, m)
    for l in range(layers):
        shapes["b" + suffix(l)] = (G * m,)
        if cell == "gru":
            shapes["bn" + suffix(l)] = (m,)
    shapes["c"] = (K,)
    return shapes


def default_sig(cell: str, m: int) -> float:
    """Standard deviation of the initial weights when none is given."""
    return 0.01 if cell == "rnn" else 1.0 / math.sqrt(m)


def init_params(
    K: int,
    m: int,
    rng: np.random.Generator,
    sig: float | None = None,
    cell: str = "rnn",
    layers: int = 1,
) -> dict:
    """Fresh float64 parameters (see the module docstring for the draws)."""
    shapes = param_shapes(K, m, cell, layers)
    sig = default_sig(cell, m) if sig is None else sig
    if cell == "rnn" and layers == 1:
        return model.init_params(K, m, rng, sig)
    params = {}
    for name, shape in shapes.items():
        if name[0] in "WUV":
            params[name] = sig * rng.standard_normal(shape)
        else:
            params[name] = np.zeros(shape)
    if cell == "lstm":
        for l in range(layers):
            params["b" + suffix(l)][m : 2 * m] = 1.0
    return params


def describe(params: dict) -> Arch:
    """Read cell, layers, K and m off the parameters' names and shapes."""
    rows, m = params["W"].shape
    layers = 1
    while "W" + suffix(layers) in params:
        layers += 1
    if rows % m or rows // m not in _BY_GATES:
        raise ConfigError(f"W of shape {params['W'].shape} fits no cell")
    return Arch(_BY_GATES[rows // m], layers, params["V"].shape[0], m)


def state_parts(params: dict) -> dict[str, slice]:
    """Where each layer's h (and c) sits in the state vector, named as the
    initial states: h0, c0 for layer 0, h0_1, c0_1 for layer 1, ..."""
    a = describe(params)
    names = ("h0", "c0")[: CELLS[a.cell].STATES]
    parts, start = {}, 0
    for l in range(a.layers):
        for name in names:
            parts[name + ("" if l == 0 else f"_{l}")] = slice(start, start + a.m)
            start += a.m
    return parts


def layer_params(params: dict, layer: int) -> dict:
    """The parameters of one layer under their layer-0 names (W, U, b, bn)."""
    cell = CELLS[describe(params).cell]
    return {name: params[name + suffix(layer)] for name in cell.LAYER_PARAMS}


def split_state(state: np.ndarray, layers: int) -> list[np.ndarray]:
    """The per-layer states (views) of a flat state vector (S,)."""
    return np.split(np.asarray(state, dtype=np.float64), layers)


def step(params: dict, state: np.ndarray, x: int) -> tuple[np.ndarray, np.ndarray]:
    """One time step of every layer from state (S,) and input id x.

    Returns (state_t (S,), o_t (K,)).
    """
    a = describe(params)
    if a.seed_rnn:
        return model.step(params, state, x)
    cell, new = CELLS[a.cell], []
    below = None
    for l, s in enumerate(split_state(state, a.layers)):
        p = layer_params(params, l)
        ux = (p["U"][:, x] if l == 0 else p["U"] @ below) + p["b"]
        new.append(cell.layer_step(p, ux, s))
        below = new[-1][: a.m]
    return np.concatenate(new), params["V"] @ below + params["c"]


def forward(params: dict, inputs: np.ndarray, state0: np.ndarray) -> dict:
    """Run every layer over inputs (T,) from state0 (S,).

    Returns a cache with the logits O (T, K), the final state (S,) and, per
    layer, the cell's cache in 'layers' (its H (T+1, m) holds h_0 ... h_T).
    """
    a = describe(params)
    if a.seed_rnn:
        cache = model.forward(params, inputs, state0)
        return {**cache, "state": cache["H"][-1].copy()}
    cell, caches, below = CELLS[a.cell], [], None
    for l, s0 in enumerate(split_state(state0, a.layers)):
        p = layer_params(params, l)
        UX = (p["U"][:, inputs].T if l == 0 else below @ p["U"].T) + p["b"]  # (T, G m)
        caches.append(cell.layer_forward(p, UX, s0))
        below = caches[-1]["H"][1:]  # (T, m), the input of the next layer
    O = below @ params["V"].T + params["c"]
    state = np.concatenate([cell.layer_final_state(c) for c in caches])
    return {"layers": caches, "O": O, "state": state}


def backward(
    params: dict, inputs: np.ndarray, targets: np.ndarray, cache: dict
) -> tuple[dict, np.ndarray]:
    """BPTT through the output layer and every layer, top to bottom.

    Returns (grads keyed like params, dL/dstate0 (S,)). Per layer, with dUX
    the gradient of its projected input U x_t + b: db = sum_t dUX[t],
    dU = sum_t dUX[t] x_t^T, and the layer below receives dUX[t] U.
    """
    a = describe(params)
    if a.seed_rnn:
        grads = model.backward(params, inputs, targets, cache)
        return grads, grads.pop("h0")
    cell, layers = CELLS[a.cell], cache["layers"]
    dO = model.softmax(cache["O"])  # (T, K): p_t - y_t
    dO[np.arange(len(targets)), targets] -= 1.0
    grads = {"V": dO.T @ layers[-1]["H"][1:], "c": dO.sum(axis=0)}
    dH, dstates = dO @ params["V"], [None] * a.layers  # dH (T, m)
    for l in reversed(range(a.layers)):
        p, sfx = layer_params(params, l), suffix(l)
        g, dUX, dstates[l] = cell.layer_backward(p, layers[l], dH)
        grads.update({k + sfx: v for k, v in g.items()})
        grads["b" + sfx] = dUX.sum(axis=0)
        if l == 0:
            dU = np.zeros_like(p["U"])
            np.add.at(dU.T, inputs, dUX)  # column x_t of dU gets dUX[t]
        else:
            dU = dUX.T @ layers[l - 1]["H"][1:]
            dH = dUX @ p["U"]
        grads["U" + sfx] = dU
    return {k: grads[k] for k in params}, np.concatenate(dstates)


def _ids(inputs, targets) -> tuple[np.ndarray, np.ndarray]:
    inputs = np.asarray(inputs, dtype=np.intp)
    targets = np.asarray(targets, dtype=np.intp)
    if inputs.shape != targets.shape or inputs.ndim != 1 or len(inputs) == 0:
        raise ValueError("inputs and targets must be 1-D int arrays of equal, non-zero length")
    return inputs, targets


def loss_and_grads_state(
    params: dict, inputs, targets, state0
) -> tuple[float, dict, np.ndarray, np.ndarray]:
    """Loss, unclipped gradients, dL/dstate0 (S,) and the final state (S,).

    inputs, targets: int arrays (T,); state0: (S,).
    """
    inputs, targets = _ids(inputs, targets)
    cache = forward(params, inputs, np.asarray(state0, dtype=np.float64))
    loss = model.sequence_loss(cache["O"], targets)
    grads, dstate0 = backward(params, inputs, targets, cache)
    return loss, grads, dstate0, cache["state"]


def loss_and_grads(params: dict, inputs, targets, state0) -> tuple[float, dict, np.ndarray]:
    """Loss, unclipped gradients keyed like params and the final state (S,)
    for one sequence: inputs, targets (T,) ids, state0 (S,)."""
    loss, grads, _, state = loss_and_grads_state(params, inputs, targets, state0)
    return loss, grads, state


def text_loss(
    params: dict, ids: np.ndarray, state0: np.ndarray | None = None, chunk: int = 4096
) -> tuple[float, int]:
    """Total loss in nats of predicting ids[1:] from ids[:-1], carrying the
    state from state0 (zero by default). Returns (nats, characters)."""
    a = describe(params)
    if a.seed_rnn:
        return model.text_loss(params, ids, state0, chunk)
    ids = np.asarray(ids, dtype=np.intp)
    state = np.zeros(a.state_size) if state0 is None else np.asarray(state0, dtype=np.float64)
    total = 0.0
    for start in range(0, len(ids) - 1, chunk):
        y = ids[start + 1 : start + chunk + 1]
        cache = forward(params, ids[start : start + len(y)], state)
        total += model.sequence_loss(cache["O"], y)
        state = cache["state"]
    return total, max(len(ids) - 1, 0)

"""What a model is: its cell (rnn, gru or lstm), its number of layers L,
the names and shapes of its parameters, their initialization and the layout
of its state.

Shapes: K = vocabulary size, m = hidden size, G = gates (rnn 1, gru 3,
lstm 4). Parameters (layer l >= 1 appends its number: W1, U1, b1, bn1):

    W (G m, m)   U (G m, K) [layer 0], (G m, m) [layer >= 1]   b (G m,)
    bn (m,)      GRU only: the hidden-side bias of the candidate n
    V (K, m), c (K,)

in the canonical order: weights in draw order (W, U, W1, U1, ..., V), then
the biases layer by layer, then c; for one RNN layer that is the seed's
W, U, V, b, c. A parameter dict says what it is: `describe` reads the cell
off W's shape (G m rows for m columns) and L off the names.

Initialization, drawn only from the rng given, in this order: W, U of layer
0, W1, U1, ..., then V, all ~ N(0, sig^2); every bias is zero except the
LSTM forget-gate block of b (rows m..2m), which is 1. The default sig is the
seed's 0.01 for rnn and 1/sqrt(m) for gru and lstm (fan-in scaling, as
PyTorch's uniform(-1/sqrt(m), 1/sqrt(m)), here normal). One RNN layer is
drawn by the seed's own `rnn.init_params`, so it is the seed's model bit for bit.

The state of one stream is one flat vector of S numbers, the layers' states
one after another: [h] for rnn and gru, [h, c] for lstm, so S = L m or
2 L m. B streams hold a state (B, S).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from . import gru, lstm, rnn

CELLS = {"rnn": rnn, "gru": gru, "lstm": lstm}
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
        return rnn.init_params(K, m, rng, sig)
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

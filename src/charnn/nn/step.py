"""The training state and the reference implementation of a run of updates.

One update, for B parallel streams over the training text (B = 1 is the
seed's algorithm). The text of N ids is cut into B segments of L = N // B
ids, viewed as ``data (B, L)``; every stream reads the same offset p:

    X[b] = data[b, p : p+T],  Y[b] = data[b, p+1 : p+T+1]
    loss = (1/B) sum_b sum_t -log p_t[y_t]      (the seed's per-sequence scale)
    g    = d loss / d theta                     (so eta and clip mean the same for any B)
    smooth = loss on the very first update, else 0.999 smooth + 0.001 loss
    if smooth < best_smooth: keep theta (before this update), h_T of stream 0
                             and y_T of stream 0 as the best model
    clip g element-wise to [-clip, clip], then the optimizer step
    h <- h_T (carried to the next update); p <- p + T

h is each stream's whole recurrent state, (B, S): for the seed's RNN the
hidden vector (S = m); for any cell and depth the flat vector of its layers'
states (see `arch.py`). With dropout p > 0 (models of two or more layers),
each update draws the masks of stream 0, then stream 1, ..., from the rng
given (`stack.dropout_masks`); without it nothing is drawn.

Documents: with reset_id >= 0 (the end-of-document id), each stream's state
is zeroed before every step whose input is reset_id (see nn.rnn), so a
sequence may hold the end of one document and the start of the next.

An epoch ends when p + T + 1 > L: the caller then sets p = 0 and h = 0
(`start_epoch`). A chunk never crosses an epoch boundary. A non-finite loss
stops the chunk before the update, leaving the parameters as they were.

`reference_chunk` is the readable spec; the fast engine's `train_chunk`
must do exactly the same.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import optim, stack


@dataclass
class TrainState:
    """Everything that changes while training; h has shape (B, S), best_h (S,)."""

    params: dict
    opt: dict
    h: np.ndarray
    pointer: int = 0
    epoch: int = 0
    update: int = 0
    smooth: float = math.nan
    best_smooth: float = math.inf
    best_params: dict = field(default_factory=dict)
    best_h: np.ndarray | None = None
    best_x: int = 0
    best_update: int = -1

    @classmethod
    def fresh(cls, params: dict, batch_size: int) -> TrainState:
        S = stack.describe(params).state_size
        dtype = params["W"].dtype
        return cls(
            params=params,
            opt=optim.init_state(params),
            h=np.zeros((batch_size, S), dtype=dtype),
            best_params={k: v.copy() for k, v in params.items()},
            best_h=np.zeros(S, dtype=dtype),
        )

    def start_epoch(self) -> None:
        """Back to the start of the text with a zero hidden state."""
        self.pointer = 0
        self.h[...] = 0.0
        self.epoch += 1


def updates_per_epoch(L: int, T: int) -> int:
    """Number of offsets p = 0, T, 2T, ... with p + T + 1 <= L."""
    return 0 if L < T + 1 else (L - T - 1) // T + 1


def updates_left_in_epoch(pointer: int, L: int, T: int) -> int:
    """Updates still possible before the epoch ends, from offset `pointer`."""
    return 0 if pointer + T + 1 > L else (L - T - 1 - pointer) // T + 1


def smoothed(prev: float, loss: float, first: bool) -> float:
    """The seed's smoothed loss: the first loss, then 0.999 prev + 0.001 loss."""
    return loss if first else 0.999 * prev + 0.001 * loss


def smoothed_series(prev: float, losses: list[float], first: bool) -> list[float]:
    """`smoothed` after each of a chunk's losses in turn, from prev; first:
    the chunk's first loss is the run's first."""
    out = []
    for loss in losses:
        prev = smoothed(prev, loss, first)
        first = False
        out.append(prev)
    return out


def check_chunk(pointer: int, n: int, T: int, L: int) -> None:
    """Refuse n updates of T from offset pointer that would run past the L ids."""
    if T < 1 or pointer + n * T + 1 > L:
        raise ValueError(
            f"{n} updates of T={T} from offset {pointer} run past the end "
            f"of the {L} ids per stream; end the epoch first"
        )


def track(state: TrainState, loss: float, h_last: np.ndarray, x_next: int) -> None:
    """Update the smoothed loss and, at a new minimum, keep the best model."""
    state.smooth = smoothed(state.smooth, loss, state.update == 0)
    if state.smooth < state.best_smooth:
        state.best_smooth = state.smooth
        for k, p in state.params.items():
            state.best_params[k][...] = p
        state.best_h[...] = h_last
        state.best_x = int(x_next)
        state.best_update = state.update


def batch_loss_and_grads(
    params: dict,
    X: np.ndarray,
    Y: np.ndarray,
    h: np.ndarray,
    dropout: float = 0.0,
    rng: np.random.Generator | None = None,
    reset_id: int = -1,
):
    """Mean over the B streams of the per-sequence loss and its gradients.

    X, Y: (B, T) ids; h: (B, S). Returns (loss, grads, h_last (B, S)).
    """
    B, T = X.shape
    a = stack.describe(params)
    total, grads, h_last = 0.0, None, np.empty_like(h)
    for s in range(B):
        masks = stack.dropout_masks(rng, dropout, a.layers, T, a.m) if dropout else None
        loss, g, h_last[s] = stack.loss_and_grads(params, X[s], Y[s], h[s], masks, reset_id)
        total += loss
        grads = g if grads is None else {k: grads[k] + g[k] for k in g}
    return total / B, {k: v / B for k, v in grads.items()}, h_last


def reference_chunk(
    state: TrainState,
    data: np.ndarray,
    n: int,
    T: int,
    clip: float,
    cfg: optim.OptimConfig,
    dropout: float = 0.0,
    rng: np.random.Generator | None = None,
    reset_id: int = -1,
) -> np.ndarray:
    """Run up to n updates (never past the epoch end) on data (B, L), float64,
    resetting the state at every input reset_id (-1: plain text).

    Returns the losses of the updates done; fewer than n only when a loss
    was not finite (that update is not applied). dropout > 0 needs rng.
    """
    check_chunk(state.pointer, n, T, data.shape[1])
    if dropout and rng is None:
        raise ValueError("dropout needs the rng its masks are drawn from")
    losses = []
    for _ in range(n):
        p = state.pointer
        X, Y = data[:, p : p + T], data[:, p + 1 : p + T + 1]
        loss, grads, h_last = batch_loss_and_grads(
            state.params, X, Y, state.h, dropout, rng, reset_id
        )
        if not math.isfinite(loss):
            break
        track(state, loss, h_last[0], Y[0, -1])
        optim.clip_(grads, clip)
        optim.apply_(state.params, grads, state.opt, cfg)
        state.h[...] = h_last
        state.pointer += T
        state.update += 1
        losses.append(loss)
    return np.asarray(losses, dtype=np.float64)

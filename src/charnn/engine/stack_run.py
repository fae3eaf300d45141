"""Compiled entry points of the gated stacks (see stack.py for the layout):
loss and gradients, a chunk of training updates, the loss of a text and
sampling. Shapes: K, m, T, B, L, S as in stack.py; `cell` 0 LSTM, 1 GRU.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from . import stack
from .rnn import _apply, _choose
from .vmath import matvec


@njit(cache=True, error_model="numpy")
def loss_and_grads(cell, theta, K, m, L, X, Y, state, reset):
    """Mean loss over the B streams of inputs X (B, T) and targets Y (B, T)
    from state (B, S), the state zeroed before every input `reset` (-1:
    never); returns (loss, grad (laid out as theta), state_T)."""
    B, T = X.shape
    fw = stack.fw_buffers(cell, B, T, K, m, L, theta)
    bw = stack.bw_buffers(cell, B, T, K, m, theta)
    stack.load_state(cell, state, fw[0], fw[1])
    stack.forward(cell, theta, K, m, X, 0, T, fw, reset)
    total = stack.loss(cell, theta, K, m, Y, 0, T, fw)
    grad = np.empty_like(theta)
    stack.backward(cell, theta, grad, K, m, X, 0, T, fw, bw)
    out = np.empty_like(state)
    stack.store_state(cell, fw[0], fw[1], T, out)
    return total / B, grad / B, out


@njit(cache=True, error_model="numpy")
def train(
    cell,
    K,
    m,
    L,
    theta,
    mom,
    vel,
    best,
    state,
    best_state,
    data,
    n,
    T,
    clip,
    code,
    hyper,
    counters,
    floats,
    losses,
    reset,
):
    """Up to n updates on data (B, n*T + 1), as the RNN's kernels.train:
    theta, mom, vel, best flat (P,); state (B, S) carried; best_state (S,);
    counters = [t, update, best_x, best_update], floats = [smooth,
    best_smooth], read and written back. Returns the updates done (< n
    only when a loss is not finite; that update is not applied)."""
    B = data.shape[0]
    fw = stack.fw_buffers(cell, B, T, K, m, L, theta)
    bw = stack.bw_buffers(cell, B, T, K, m, theta)
    Hs, Cs = fw[0], fw[1]
    grad = np.empty_like(theta)
    t, update, best_x, best_update = counters[0], counters[1], counters[2], counters[3]
    smooth, best_smooth = floats[0], floats[1]
    done = 0
    for it in range(n):
        p = it * T
        stack.load_state(cell, state, Hs, Cs)
        stack.forward(cell, theta, K, m, data, p, T, fw, reset)
        loss = stack.loss(cell, theta, K, m, data, p + 1, T, fw) / B
        if not math.isfinite(loss):
            break
        smooth = loss if update == 0 else 0.999 * smooth + 0.001 * loss
        if smooth < best_smooth:
            best_smooth = smooth
            best[:] = theta
            stack.store_state(cell, Hs, Cs, T, state)
            best_state[:] = state[0]
            best_x = data[0, p + T]
            best_update = update
        stack.backward(cell, theta, grad, K, m, data, p, T, fw, bw)
        t += 1
        _apply(theta, grad, mom, vel, B, clip, code, hyper, t)
        stack.store_state(cell, Hs, Cs, T, state)
        update += 1
        losses[it] = loss
        done += 1
    counters[0], counters[1], counters[2], counters[3] = t, update, best_x, best_update
    floats[0], floats[1] = smooth, best_smooth
    return done


@njit(cache=True, error_model="numpy")
def text_loss(cell, K, m, L, theta, ids, state, chunk, reset):
    """Summed loss of predicting ids[1:] from ids[:-1] (forward only) from
    state (1, S), which is left holding the final state; `chunk` steps at a time."""
    data = ids.reshape((1, ids.size))
    fw = stack.fw_buffers(cell, 1, chunk, K, m, L, theta)
    Hs, Cs = fw[0], fw[1]
    total = 0.0
    for p in range(0, ids.size - 1, chunk):
        T = min(chunk, ids.size - 1 - p)
        stack.load_state(cell, state, Hs, Cs)
        stack.forward(cell, theta, K, m, data, p, T, fw, reset)
        total += stack.loss(cell, theta, K, m, data, p + 1, T, fw)
        stack.store_state(cell, Hs, Cs, T, state)
    return total


@njit(cache=True, error_model="numpy")
def synthesize(cell, K, m, L, theta, state, x0, u, temperature, top_k, top_p, stop):
    """Ids (n,) drawn one step at a time from state (1, S) and input id x0
    with uniforms u (n,), or fewer, ending with `stop` when that id is
    drawn (-1: never); the state is left after the last id fed."""
    V, c = stack.views(theta, cell, K, m, L)[4:]
    fw = stack.fw_buffers(cell, 1, 1, K, m, L, theta)
    Hs, Cs = fw[0], fw[1]
    data = np.empty((1, 1), np.int32)
    o = np.empty(K, theta.dtype)
    out = np.empty(u.size, np.int64)
    x = x0
    for i in range(u.size):
        data[0, 0] = x
        stack.load_state(cell, state, Hs, Cs)
        stack.forward(cell, theta, K, m, data, 0, 1, fw, -1)
        stack.store_state(cell, Hs, Cs, 1, state)
        matvec(V, Hs[L - 1, 1], o)
        o += c
        x = _choose(o, u[i], temperature, top_k, top_p)
        out[i] = x
        if x == stop:
            return out[: i + 1]
    return out

"""Compiled entry points of the gated stacks (see stack.py for the layout):
loss and gradients, a chunk of training updates, and the forward-only
passes: the loss of a text, priming and sampling. Shapes: K, m, T, B, L, S
as in stack.py; `cell` 0 LSTM, 1 GRU.

The forward-only passes (one stream) keep no per-step gates or cell
states: only each layer's h_1..h_T of the current block of T steps (the
input of the layer above and of the output layer, one GEMM each per block)
and the current c. The recurrence reads W^T (m, G m) row by row
(out += h_j W^T[j]), which streams the weights in their memory order and
needs no horizontal sums, unlike the row dot products of W h.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from . import gru, lstm, stack
from .rnn import _aligned_copy, _apply, _choose, _output_loss, tanh_coefs
from .rnn import _transpose as transpose_
from .vmath import aligned, matvec, vecmat_add


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


@njit(cache=True, error_model="numpy", nogil=True)
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
def fo_buffers(cell, theta, K, m, L, T):
    """(WT, UT, UT1, H, C, Z, work) of the forward-only pass over blocks of
    up to T steps: WT (L, m, G m) every layer's W transposed, UT (K, G m)
    layer 0's U transposed, UT1 (L-1, m, G m) the U of the layers above
    transposed when T = 1 (single steps read them as W; empty otherwise),
    H (L, T+1, m) each layer's h_0..h_T, C (L, 1, m) the cell states (LSTM),
    Z (T, G m) a layer's x-side sums, and per-step scratch (tmp (G m,),
    aux (m,), pre, e float64 and bits int64 of 5m, zero (m,))."""
    G = stack.n_gates(cell)
    Ws, Us = stack.views(theta, cell, K, m, L)[:2]
    WT = aligned((L, m, G * m), theta)
    for layer in range(L):
        transpose_(Ws[layer], WT[layer])
    UT = aligned((K, G * m), theta)
    transpose_(Us[0], UT)
    UT1 = aligned((L - 1 if T == 1 else 0, m, G * m), theta)
    for layer in range(UT1.shape[0]):
        transpose_(Us[layer + 1], UT1[layer])
    H = aligned((L, T + 1, m), theta)
    C = np.zeros((L, 1, m), theta.dtype)
    work = (
        aligned((G * m,), theta),
        np.empty(m, theta.dtype),
        np.empty(5 * m),
        np.empty(5 * m),
        np.empty(5 * m, np.int64),
        np.zeros(m, theta.dtype),
    )
    return WT, UT, UT1, H, C, aligned((T, G * m), theta), work


@njit(cache=True, error_model="numpy")
def _fo_step(cell, WT, bn, z, hp, c, h, fresh, work):
    """One layer's step, forward only: h <- h_t and (LSTM) c <- c_t in place,
    from h_{t-1} = hp, c_{t-1} = c and z = U x_t + b (G m,), which is used
    as scratch. fresh: the step reads a zero state (a reset)."""
    tmp, aux, pre, e, bits, zero = work
    tmp[:] = 0.0
    if fresh:
        hp = zero
        c[:] = 0.0
    else:
        vecmat_add(hp, WT, tmp)
    if cell == stack.LSTM:
        lstm._step_row(tmp, z, c, c, h, aux, pre, e, bits)
    else:
        gru._step_row(tmp, bn, z, aux, hp, h, pre, e, bits)


@njit(cache=True, error_model="numpy")
def fo_layers(cell, theta, K, m, data, p, T, fo, reset):
    """Every layer over inputs x_t = data[0, p+t], t < T, forward only, from
    the state in fo's H[:, 0] and C; leaves each layer's h_1..h_T in H[:, 1:T+1]
    and c_T in C. The whole state is zeroed before an input `reset` (-1: never)."""
    WT, UT, UT1, H, C, Z, work = fo
    L = H.shape[0]
    Us, bs, bns = stack.views(theta, cell, K, m, L)[1:4]
    z = Z[:T]
    for layer in range(L):
        b = bs[layer]
        if layer == 0:
            for t in range(T):
                ut = UT[data[0, p + t]]
                for j in range(b.size):
                    z[t, j] = ut[j] + b[j]
        elif T == 1 and UT1.shape[0] > 0:  # one step: a BLAS call would repack U
            z[0] = b
            vecmat_add(H[layer - 1, 1], UT1[layer - 1], z[0])
        else:
            np.dot(H[layer - 1, 1 : T + 1], Us[layer].T, z)
            for t in range(T):
                for j in range(b.size):
                    z[t, j] += b[j]
        Hl, c = H[layer], C[layer, 0]
        for t in range(T):
            fresh = reset >= 0 and data[0, p + t] == reset
            _fo_step(cell, WT[layer], bns[layer], z[t], Hl[t], c, Hl[t + 1], fresh, work)


@njit(cache=True, error_model="numpy")
def _fo_carry(H, T):
    """Each layer's h_T becomes the h_0 of the next block."""
    for layer in range(H.shape[0]):
        H[layer, 0] = H[layer, T]


@njit(cache=True, error_model="numpy", nogil=True)
def text_loss(cell, K, m, L, theta, ids, state, chunk, reset):
    """Summed loss of predicting ids[1:] from ids[:-1] (forward only) from
    state (1, S), which is left holding the final state; blocks of `chunk`
    steps: the recurrence stepped, then the output layer and log-softmax
    of the block as one GEMM and a loop."""
    data = ids.reshape((1, ids.size))
    chunk = max(1, min(chunk, ids.size - 1))
    fo = fo_buffers(cell, theta, K, m, L, chunk)
    H, C = fo[3], fo[4]
    V, c = stack.views(theta, cell, K, m, L)[4:]
    VT, cf = _aligned_copy(V.T), tanh_coefs(theta)
    O = aligned((chunk, K), theta)
    stack.load_state(cell, state, H, C)
    total = 0.0
    for p in range(0, ids.size - 1, chunk):
        T = min(chunk, ids.size - 1 - p)
        fo_layers(cell, theta, K, m, data, p, T, fo, reset)
        total += _output_loss(VT, c, H[L - 1], data, p + 1, T, O[:T], cf, False)
        _fo_carry(H, T)
    stack.store_state(cell, H, C, 0, state)
    return total


@njit(cache=True, error_model="numpy")
def prime(cell, K, m, L, theta, ids, state, chunk):
    """Read ids (n,) from state (1, S), forward only, `chunk` steps at a
    time; state is left holding the state after the last id."""
    data = ids.reshape((1, ids.size))
    chunk = max(1, min(chunk, ids.size))
    fo = fo_buffers(cell, theta, K, m, L, chunk)
    H, C = fo[3], fo[4]
    stack.load_state(cell, state, H, C)
    for p in range(0, ids.size, chunk):
        T = min(chunk, ids.size - p)
        fo_layers(cell, theta, K, m, data, p, T, fo, -1)
        _fo_carry(H, T)
    stack.store_state(cell, H, C, 0, state)


@njit(cache=True, error_model="numpy")
def synthesize(cell, K, m, L, theta, state, x0, u, temperature, top_k, top_p, stop):
    """Ids (n,) drawn one step at a time from state (1, S) and input id x0
    with uniforms u (n,), or fewer, ending with `stop` when that id is
    drawn (-1: never); the state is left after the last id fed."""
    V, c = stack.views(theta, cell, K, m, L)[4:]
    fo = fo_buffers(cell, theta, K, m, L, 1)
    H, C = fo[3], fo[4]
    stack.load_state(cell, state, H, C)
    data = np.empty((1, 1), np.int32)
    o = np.empty(K, theta.dtype)
    out = np.empty(u.size, np.int64)
    n = u.size
    x = x0
    for i in range(u.size):
        data[0, 0] = x
        fo_layers(cell, theta, K, m, data, 0, 1, fo, -1)
        _fo_carry(H, 1)
        matvec(V, H[L - 1, 0], o)
        o += c
        x = _choose(o, u[i], temperature, top_k, top_p)
        out[i] = x
        if x == stop or x < 0:
            n = i + 1
            break
    stack.store_state(cell, H, C, 0, state)
    return out[:n]

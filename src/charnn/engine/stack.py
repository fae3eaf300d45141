"""Compiled forward and backward pass of L stacked gated layers and the
output layer, on one flat parameter vector.

Shapes: K = vocabulary size, m = hidden size, T = steps, B = streams,
G = gates (LSTM 4, GRU 3), L = layers. ``cell`` is LSTM (0) or GRU (1).
All parameters sit in one flat vector theta (so the optimizer step, the
best-model copy and the gradient are one array each), layer after layer
[W (G m, m), U (G m, n_in), b (G m,), bn (m,) for GRU only], then
V (K, m), c (K,); n_in = K for layer 0 (x_t an id), m above.

The state of one stream is the flat vector (S,) of [h_l] (GRU) or
[h_l, c_l] (LSTM) for l = 0..L-1; B streams: (B, S).

Sequence buffers hold row t*B + s for stream s at step t: per layer
Hs, Cs ((T+1)*B, m) with the carried state in the first B rows, gates
Gs (T*B, G m), Aux (T*B, m) (LSTM tanh(c_t), GRU hn). The input side of
every layer is one GEMM (layer 0: a gather of U's columns) over all T*B
rows, and so are the output layer and every weight gradient; only the
recurrence is stepped, in lstm.py / gru.py.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from . import gru, lstm
from .rnn import _column_sums, output_loss
from .rnn import _transpose as transpose_

LSTM, GRU = 0, 1


@njit(cache=True, error_model="numpy")
def n_gates(cell):
    return 4 if cell == LSTM else 3


@njit(cache=True, error_model="numpy")
def views(theta, cell, K, m, L):
    """Lists (W, U, b, bn) of the L layers and V, c: views into theta."""
    G = n_gates(cell)
    nb = m if cell == GRU else 0
    Ws = []
    Us = []
    bs = []
    bns = []
    o = 0
    for layer in range(L):
        n_in = K if layer == 0 else m
        Ws.append(theta[o : o + G * m * m].reshape((G * m, m)))
        o += G * m * m
        Us.append(theta[o : o + G * m * n_in].reshape((G * m, n_in)))
        o += G * m * n_in
        bs.append(theta[o : o + G * m])
        o += G * m
        bns.append(theta[o : o + nb])
        o += nb
    V = theta[o : o + K * m].reshape((K, m))
    return Ws, Us, bs, bns, V, theta[o + K * m : o + K * m + K]


@njit(cache=True, error_model="numpy")
def fw_buffers(cell, B, T, K, m, L, dtype_like):
    """(Hs, Cs, Gs, Aux, Gout (T*B, K), UT (K, G m), WT (L, m, G m), work) for
    the forward pass (WT: each layer's W transposed, for B > 1)."""
    dt, G = dtype_like.dtype, n_gates(cell)
    nc = (T + 1) * B if cell == LSTM else 1
    nw = max(B * G * m, 5 * m)
    work = (
        np.empty((B, G * m), dt),
        np.empty(nw),
        np.empty(nw),
        np.empty(nw, np.int64),
        np.zeros(m, dt),
        np.zeros(T * B, np.uint8),
    )
    return (
        np.empty((L, (T + 1) * B, m), dt),
        np.zeros((L, nc, m), dt),
        np.empty((L, T * B, G * m), dt),
        np.empty((L, T * B, m), dt),
        np.empty((T * B, K), dt),
        np.empty((K, G * m), dt),
        np.empty((L, m, G * m) if B > 1 else (L, 0, 0), dt),
        work,
    )


@njit(cache=True, error_model="numpy")
def bw_buffers(cell, B, T, K, m, dtype_like):
    """(dH, dA, dAh, tmp, dC, dUT) for the backward pass."""
    dt, G = dtype_like.dtype, n_gates(cell)
    nh = T * B if cell == GRU else 1
    return (
        np.empty((T * B, m), dt),
        np.empty((T * B, G * m), dt),
        np.empty((nh, G * m), dt),
        np.empty((B, m), dt),
        np.empty((B, m), dt),
        np.empty((K, G * m), dt),
    )


@njit(cache=True, error_model="numpy")
def load_state(cell, state, Hs, Cs):
    """Put the state (B, S) into the first B rows of every layer's Hs (and Cs)."""
    L, m, B = Hs.shape[0], Hs.shape[2], state.shape[0]
    width = 2 * m if cell == LSTM else m
    for layer in range(L):
        for s in range(B):
            Hs[layer, s] = state[s, layer * width : layer * width + m]
            if cell == LSTM:
                Cs[layer, s] = state[s, layer * width + m : (layer + 1) * width]


@njit(cache=True, error_model="numpy")
def store_state(cell, Hs, Cs, T, state):
    """Write the states after step T into state (B, S)."""
    L, m, B = Hs.shape[0], Hs.shape[2], state.shape[0]
    width = 2 * m if cell == LSTM else m
    for layer in range(L):
        for s in range(B):
            state[s, layer * width : layer * width + m] = Hs[layer, T * B + s]
            if cell == LSTM:
                state[s, layer * width + m : (layer + 1) * width] = Cs[layer, T * B + s]


@njit(cache=True, error_model="numpy")
def _mark_resets(data, p, T, reset, rs):
    """rs[t*B + s] = 1 where the input x_t of stream s is the reset id."""
    B = data.shape[0]
    for r in range(T * B):
        rs[r] = 1 if reset >= 0 and data[r % B, p + r // B] == reset else 0


@njit(cache=True, error_model="numpy")
def forward(cell, theta, K, m, data, p, T, fw, reset):
    """Run every layer over inputs x_t = data[:, p+t], t < T (data (B, n) ids),
    from the state already loaded into fw's Hs, Cs."""
    Hs, Cs, Gs, Aux, Gout, UT, WT, work = fw
    L, B = Hs.shape[0], data.shape[0]
    Ws, Us, bs, bns, V, c = views(theta, cell, K, m, L)
    n = T * B
    _mark_resets(data, p, T, reset, work[5])
    for layer in range(L):
        Z, b = Gs[layer, :n], bs[layer]
        if layer == 0:
            transpose_(Us[0], UT)
            for r in range(n):
                ut = UT[data[r % B, p + r // B]]
                for j in range(b.size):
                    Z[r, j] = ut[j] + b[j]
        else:
            np.dot(Hs[layer - 1, B : n + B], Us[layer].T, Z)
            for r in range(n):
                for j in range(b.size):
                    Z[r, j] += b[j]
        if B > 1:
            transpose_(Ws[layer], WT[layer])
        if cell == LSTM:
            lstm.forward(Ws[layer], WT[layer], Z, Hs[layer], Cs[layer], Aux[layer], T, B, work)
        else:
            gru.forward(Ws[layer], WT[layer], bns[layer], Z, Hs[layer], Aux[layer], T, B, work)


@njit(cache=True, error_model="numpy")
def loss(cell, theta, K, m, Y, q, T, fw):
    """Summed loss of targets y_t = Y[:, q+t] after `forward`; leaves
    g_t = p_t - onehot(y_t) in fw's Gout."""
    Hs, Gout = fw[0], fw[4]
    L, B = Hs.shape[0], Y.shape[0]
    V, c = views(theta, cell, K, m, L)[4:]
    return output_loss(V, c, Hs[L - 1], Y, q, T, Gout[: T * B])


@njit(cache=True, error_model="numpy")
def backward(cell, theta, grad, K, m, data, p, T, fw, bw):
    """Gradients of the summed loss into grad (laid out as theta), after
    `forward` and `loss` on the same data, p and T. Where a reset zeroed
    the state a step read, the stored h_{t-1} (and c_{t-1}) rows are zeroed
    here, once the output layer and the layer above have used them."""
    Hs, Cs, Gs, Aux, Gout, UT, WT, work = fw
    dH, dA, dAh, tmp, dC, dUT = bw
    L, B = Hs.shape[0], data.shape[0]
    Ws, Us, bs, bns, V, c = views(theta, cell, K, m, L)
    dWs, dUs, dbs, dbns, dV, dc = views(grad, cell, K, m, L)
    n = T * B
    rs = work[5]
    np.dot(Gout, V, dH)
    np.dot(Gout.T, Hs[L - 1, B : n + B], dV)
    _column_sums(Gout, dc)
    for layer in range(L - 1, -1, -1):
        H, W = Hs[layer], Ws[layer]
        for r in range(n):  # steps after a reset read a zero state
            if rs[r]:
                H[r] = 0.0
                if cell == LSTM:
                    Cs[layer, r] = 0.0
        if cell == LSTM:
            lstm.backward(W, Gs[layer], H, Cs[layer], Aux[layer], dH, dA, T, B, tmp, dC, rs)
            np.dot(dA.T, H[:n], dWs[layer])
        else:
            gru.backward(W, Gs[layer], H, Aux[layer], dH, dA, dAh, T, B, tmp, rs)
            np.dot(dAh.T, H[:n], dWs[layer])
            _column_sums(dAh[:, 2 * m :], dbns[layer])
        _column_sums(dA, dbs[layer])
        if layer > 0:
            np.dot(dA.T, Hs[layer - 1, B : n + B], dUs[layer])
            np.dot(dA, Us[layer], dH)
        else:
            dUT[:] = 0.0
            for r in range(n):
                row = dUT[data[r % B, p + r // B]]
                for j in range(row.size):
                    row[j] += dA[r, j]
            transpose_(dUT, dUs[0])

"""Compiled LSTM layer over a whole sequence of B streams: forward and BPTT.

The equations are the spec's (nn/lstm.py), gates in PyTorch's order i, f, g, o:

    a_t = W h_{t-1} + U x_t + b        i, f, o = sigmoid(a_i, a_f, a_o), g = tanh(a_g)
    c_t = f c_{t-1} + i g              h_t = o tanh(c_t)

Shapes: m = hidden size, T = steps, B = streams; row t*B + s of a sequence
buffer belongs to stream s at step t. The caller fills
``Gs (T*B, 4m)`` with U x_t + b (one GEMM or a gather for the whole
sequence) and puts h_0, c_0 in the first B rows of ``Hs, Cs ((T+1)*B, m)``;
only the recurrence W h_{t-1} is stepped here. ``work`` is the tuple
(tmp (B, 4m), pre (B*4m,) float64, e (B*4m,) float64, bits (B*4m,) int64).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .vmath import exp_, matvec, matvec_add, sig, tanh_e


@njit(cache=True, error_model="numpy")
def forward(W, Gs, Hs, Cs, Tc, T, B, work):
    """Run T steps; on exit Gs holds the gates (i, f, g, o), Hs and Cs the
    states h_1..h_T, c_1..c_T after h_0, c_0, and Tc (T*B, m) tanh(c_t)."""
    tmp, pre, e, bits = work
    m = W.shape[1]
    n = B * 4 * m
    for t in range(T):
        lo = t * B
        if B == 1:
            matvec(W, Hs[lo], tmp[0])
        else:
            np.dot(Hs[lo : lo + B], W.T, tmp)
        for s in range(B):
            g, a, k = Gs[lo + s], tmp[s], s * 4 * m
            for j in range(4 * m):
                pre[k + j] = a[j] + g[j]
            for j in range(2 * m):
                e[k + j] = -pre[k + j]
            for j in range(2 * m, 3 * m):
                e[k + j] = -2.0 * abs(pre[k + j])
            for j in range(3 * m, 4 * m):
                e[k + j] = -pre[k + j]
        exp_(e[:n], bits)
        for s in range(B):
            g, k = Gs[lo + s], s * 4 * m
            for j in range(2 * m):
                pre[k + j] = sig(e[k + j])
            for j in range(2 * m, 3 * m):
                pre[k + j] = tanh_e(pre[k + j], e[k + j])
            for j in range(3 * m, 4 * m):
                pre[k + j] = sig(e[k + j])
            for j in range(4 * m):
                g[j] = pre[k + j]
            cp, c = Cs[lo + s], Cs[lo + B + s]
            for j in range(m):
                cj = pre[k + m + j] * cp[j] + pre[k + j] * pre[k + 2 * m + j]
                c[j] = cj
                e[s * m + j] = -2.0 * abs(np.float64(c[j]))
        exp_(e[: B * m], bits)
        for s in range(B):
            k, c, h, tc = s * 4 * m, Cs[lo + B + s], Hs[lo + B + s], Tc[lo + s]
            for j in range(m):
                v = tanh_e(np.float64(c[j]), e[s * m + j])
                tc[j] = v
                h[j] = pre[k + 3 * m + j] * v


@njit(cache=True, error_model="numpy")
def backward(W, WT, Gs, Hs, Cs, Tc, dH, dA, T, B, tmp, dC):
    """BPTT through the layer. dH (T*B, m) holds on entry the gradient
    arriving at h_1..h_T from above (output or next layer); it is used as
    work space. dA (T*B, 4m) receives the gradient of a_t. WT (m, 4m) is
    W^T (used when B = 1), tmp (B, m) and dC (B, m) work space.

        dh_t = dH_t + W^T da_{t+1},   dc = dc_{t+1} f_{t+1} + dh o (1 - tanh(c)^2)
        da = [dc g i(1-i), dc c_{t-1} f(1-f), dc i (1-g^2), dh tanh(c) o(1-o)]
    """
    m = W.shape[1]
    dC[:] = 0.0
    for t in range(T - 1, -1, -1):
        lo = t * B
        if t < T - 1:
            if B == 1:
                matvec_add(WT, dA[lo + 1], dH[lo])
            else:
                np.dot(dA[lo + B : lo + 2 * B], W, tmp)
                for s in range(B):
                    for j in range(m):
                        dH[lo + s, j] += tmp[s, j]
        for s in range(B):
            r = lo + s
            gs, tc, cp, dh, da, dc = Gs[r], Tc[r], Cs[r], dH[r], dA[r], dC[s]
            for j in range(m):
                i, f, g, o = gs[j], gs[m + j], gs[2 * m + j], gs[3 * m + j]
                dcj = dc[j] + dh[j] * o * (1.0 - tc[j] * tc[j])
                da[j] = dcj * g * i * (1.0 - i)
                da[m + j] = dcj * cp[j] * f * (1.0 - f)
                da[2 * m + j] = dcj * i * (1.0 - g * g)
                da[3 * m + j] = dh[j] * tc[j] * o * (1.0 - o)
                dc[j] = dcj * f

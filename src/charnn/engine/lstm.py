"""Compiled LSTM layer over a whole sequence of B streams: forward and BPTT.

The equations are the spec's (nn/lstm.py), gates in PyTorch's order i, f, g, o:

    a_t = W h_{t-1} + U x_t + b        i, f, o = sigmoid(a_i, a_f, a_o), g = tanh(a_g)
    c_t = f c_{t-1} + i g              h_t = o tanh(c_t)

Shapes: m = hidden size, T = steps, B = streams; row t*B + s of a sequence
buffer belongs to stream s at step t. The caller fills
``Gs (T*B, 4m)`` with U x_t + b (one GEMM or a gather for the whole
sequence) and puts h_0, c_0 in the first B rows of ``Hs, Cs ((T+1)*B, m)``;
only the recurrence W h_{t-1} is stepped here. ``work`` is the tuple
(tmp (B, G m), pre, e float64 and bits int64, each of at least 5m).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .vmath import carry_back, exp_, matvec, rows_dot, sig, tanh_e


@njit(cache=True, error_model="numpy")
def _step_row(a, g, cp, c, h, tc, pre, e, bits):
    """One stream's step from a = W h_{t-1} (4m,) and g = U x_t + b (4m,):
    g <- gates (i, f, g, o); c, h, tc <- c_t, h_t, tanh(c_t) (m,).
    pre, e (>= 5m,) float64 and bits (>= 5m,) int64 are work space."""
    m = c.size
    for j in range(4 * m):
        pre[j] = np.float64(a[j]) + g[j]
    p_if, p_g, p_o = pre[: 2 * m], pre[2 * m : 3 * m], pre[3 * m : 4 * m]
    e_if, e_g, e_o, e_c = e[: 2 * m], e[2 * m : 3 * m], e[3 * m : 4 * m], e[4 * m : 5 * m]
    for j in range(2 * m):
        e_if[j] = -p_if[j]
    for j in range(m):
        e_g[j] = -2.0 * abs(p_g[j])
        e_o[j] = -p_o[j]
    exp_(e[: 4 * m], bits)
    for j in range(2 * m):
        p_if[j] = sig(e_if[j])
    for j in range(m):
        p_g[j] = tanh_e(p_g[j], e_g[j])
        p_o[j] = sig(e_o[j])
    for j in range(4 * m):
        g[j] = pre[j]
    p_i, p_f = pre[:m], pre[m : 2 * m]
    for j in range(m):
        v = p_f[j] * cp[j] + p_i[j] * p_g[j]
        c[j] = v
        e_c[j] = -2.0 * abs(np.float64(c[j]))
    exp_(e_c, bits)
    for j in range(m):
        v = tanh_e(np.float64(c[j]), e_c[j])
        tc[j] = v
        h[j] = p_o[j] * v


@njit(cache=True, error_model="numpy")
def forward(W, WT, Gs, Hs, Cs, Tc, T, B, work):
    """Run T steps; on exit Gs holds the gates (i, f, g, o), Hs and Cs the
    states h_1..h_T, c_1..c_T after h_0, c_0, and Tc (T*B, m) tanh(c_t).
    WT (m, 4m) is W transposed, read at B > 1 (see rnn.rows_dot)."""
    tmp, pre, e, bits, zero, rs = work
    for t in range(T):
        lo = t * B
        if B == 1:
            matvec(W, Hs[lo], tmp[0])
        else:
            rows_dot(Hs[lo : lo + B], WT, tmp)
        for s in range(B):
            r = lo + s
            cp = Cs[r]
            if rs[r]:  # a reset: this step reads a zero state
                tmp[s] = 0.0
                cp = zero
            _step_row(tmp[s], Gs[r], cp, Cs[r + B], Hs[r + B], Tc[r], pre, e, bits)


@njit(cache=True, error_model="numpy")
def backward(W, Gs, Hs, Cs, Tc, dH, dA, T, B, tmp, dC, rs):
    """BPTT through the layer. dH (T*B, m) holds on entry the gradient
    arriving at h_1..h_T from above (output or next layer); it is used as
    work space. dA (T*B, 4m) receives the gradient of a_t; tmp (B, m) and
    dC (B, m) are work space. Where rs (T*B,) marks a reset, no gradient
    flows into h_{t-1}, c_{t-1}; the caller has zeroed those rows of Hs, Cs.

        dh_t = dH_t + W^T da_{t+1},   dc = dc_{t+1} f_{t+1} + dh o (1 - tanh(c)^2)
        da = [dc g i(1-i), dc c_{t-1} f(1-f), dc i (1-g^2), dh tanh(c) o(1-o)]
    """
    m = W.shape[1]
    dC[:] = 0.0
    for t in range(T - 1, -1, -1):
        lo = t * B
        if t < T - 1:
            carry_back(dA, W, dH, lo, B, rs, tmp)
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
            if rs[r]:
                dc[:] = 0.0

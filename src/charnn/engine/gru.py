"""Compiled GRU layer over a whole sequence of B streams: forward and BPTT.

The equations are the spec's (nn/gru.py), gates in PyTorch's order r, z, n,
the reset applied after the hidden product:

    x-side  [u_r, u_z, u_n] = U x_t + b       h-side  [w_r, w_z, w_n] = W h_{t-1}
    r = sigmoid(u_r + w_r)    z = sigmoid(u_z + w_z)
    hn = w_n + bn             n = tanh(u_n + r hn)
    h_t = (1 - z) n + z h_{t-1}

Shapes and buffers as in lstm.py, with G = 3: the caller fills
``Gs (T*B, 3m)`` with U x_t + b and puts h_0 in the first B rows of
``Hs ((T+1)*B, m)``; ``HN (T*B, m)`` keeps hn for the backward pass.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .vmath import carry_back, exp_, matvec, rows_dot, sig, tanh_e


@njit(cache=True, error_model="numpy")
def _step_row(a, bn, g, hn, hp, h, pre, e, bits):
    """One stream's step from a = W h_{t-1} (3m,) and g = U x_t + b (3m,):
    g <- (r, z, n), hn <- w_n + bn, h <- h_t (m,). pre, e (>= 3m,) float64
    and bits (>= 3m,) int64 are work space."""
    m = h.size
    e_rz, e_n, p_rz, p_n = e[: 2 * m], e[2 * m : 3 * m], pre[: 2 * m], pre[2 * m : 3 * m]
    g_n = g[2 * m :]
    for j in range(2 * m):
        e_rz[j] = -(np.float64(a[j]) + g[j])
    a_n = a[2 * m :]
    for j in range(m):
        hn[j] = a_n[j] + bn[j]
    exp_(e_rz, bits)
    for j in range(2 * m):
        p_rz[j] = sig(e_rz[j])
    for j in range(m):
        v = g_n[j] + p_rz[j] * np.float64(hn[j])
        p_n[j] = v
        e_n[j] = -2.0 * abs(v)
    exp_(e_n, bits)
    p_z = pre[m : 2 * m]
    for j in range(m):
        n = tanh_e(p_n[j], e_n[j])
        z = p_z[j]
        h[j] = (1.0 - z) * n + z * hp[j]
        p_n[j] = n
    for j in range(3 * m):
        g[j] = pre[j]


@njit(cache=True, error_model="numpy")
def forward(W, WT, bn, Gs, Hs, HN, T, B, work):
    """Run T steps; on exit Gs holds (r, z, n), Hs h_1..h_T after h_0.
    WT (m, 3m) is W transposed, read at B > 1 (see rnn.rows_dot)."""
    tmp, pre, e, bits, zero, rs = work
    for t in range(T):
        lo = t * B
        if B == 1:
            matvec(W, Hs[lo], tmp[0])
        else:
            rows_dot(Hs[lo : lo + B], WT, tmp)
        for s in range(B):
            r = lo + s
            hp = Hs[r]
            if rs[r]:  # a reset: this step reads a zero state
                tmp[s] = 0.0
                hp = zero
            _step_row(tmp[s], bn, Gs[r], HN[r], hp, Hs[r + B], pre, e, bits)


@njit(cache=True, error_model="numpy")
def backward(W, Gs, Hs, HN, dH, dA, dAh, T, B, tmp, rs):
    """BPTT through the layer. dH (T*B, m): gradient arriving at h_1..h_T
    from above, used as work space. dA (T*B, 3m) receives the gradient of
    the x-side sums [u_r, u_z, u_n], dAh (T*B, 3m) that of the h-side
    [w_r, w_z, hn] (so dW = dAh^T H_{t-1}, dbn = column sums of its last m).
    Where rs (T*B,) marks a reset, no gradient flows into h_{t-1}; the
    caller has zeroed those rows of Hs.

        dn = dh (1 - z),  dz = dh (h_{t-1} - n),  dh_{t-1} = dh z + W^T dAh_t
        du_n = dn (1 - n^2),  dhn = du_n r,  du_r = du_n hn r(1-r),  du_z = dz z(1-z)
    """
    m = W.shape[1]
    for t in range(T - 1, -1, -1):
        lo = t * B
        if t < T - 1:
            carry_back(dAh, W, dH, lo, B, rs, tmp)
        for s in range(B):
            r = lo + s
            gs, hn, hp, dh, da, dah = Gs[r], HN[r], Hs[r], dH[r], dA[r], dAh[r]
            for j in range(m):
                rr, z, n = gs[j], gs[m + j], gs[2 * m + j]
                dun = dh[j] * (1.0 - z) * (1.0 - n * n)
                dur = dun * hn[j] * rr * (1.0 - rr)
                duz = dh[j] * (hp[j] - n) * z * (1.0 - z)
                da[j], da[m + j], da[2 * m + j] = dur, duz, dun
                dah[j], dah[m + j], dah[2 * m + j] = dur, duz, dun * rr
            if t > 0 and not rs[r]:
                for j in range(m):
                    dH[r - B, j] += dh[j] * gs[m + j]

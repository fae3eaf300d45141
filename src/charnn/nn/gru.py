"""The GRU cell: one layer over T steps for one stream, forward and BPTT, float64.

PyTorch's layout: the three gates are stacked along the rows in the order
r, z, n, and the reset gate acts after the hidden matrix product. With
m = hidden size and n_in = the size of the layer's input x_t:

    u_t = U x_t + b                    U (3m, n_in), b (3m,)   input side
    v_t = W h_{t-1}                    W (3m, m)               hidden side
    r_t = sigmoid(u_r + v_r)           reset gate    ([u_r, u_z, u_n] = u_t,
    z_t = sigmoid(u_z + v_z)           update gate    likewise v_t)
    n_t = tanh(u_n + r_t * (v_n + bn)) candidate, bn (m,)
    h_t = (1 - z_t) * n_t + z_t * h_{t-1}

W is torch's weight_hh, U its weight_ih, b its bias_ih, and its bias_hh is
[0, 0, bn]: a hidden-side bias on r and z would only repeat b, the one on n
does not because r_t multiplies it. The state of one layer is h (m,).

The layer functions take the input side already projected, ``UX (T, 3m)``
with ``UX[t] = u_t``, so the same code serves a first layer (x_t a one-hot
id: a column of U) and a stacked one (x_t the h_t of the layer below); the
caller turns dUX back into dU, db and the gradient of its input.

Backward, with dh_t the gradient arriving at h_t (from the output and from
step t+1), e_n = v_n + bn:

    dn = dh_t (1 - z_t),  dz = dh_t (h_{t-1} - n_t)
    da_n = dn (1 - n_t^2),  dr = da_n * e_n,  de_n = da_n * r_t
    da_r = dr r(1-r),  da_z = dz z(1-z)
    dUX[t] = [da_r, da_z, da_n],  dv = [da_r, da_z, de_n],  dbn += de_n
    dW += dv h_{t-1}^T,  dh_{t-1} = dh_t z_t + W^T dv
"""

from __future__ import annotations

import numpy as np

from .lstm import sigmoid
from .rnn import reset_at

GATES = 3
STATES = 1
LAYER_PARAMS = ("W", "U", "b", "bn")


def gates(p: dict, ux: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, ...]:
    """(r, z, n, e_n), each (m,), from the layer params p, ux = u_t and h_{t-1}."""
    ur, uz, un = np.split(ux, GATES)
    vr, vz, vn = np.split(p["W"] @ h, GATES)
    r, z = sigmoid(ur + vr), sigmoid(uz + vz)
    en = vn + p["bn"]
    return r, z, np.tanh(un + r * en), en


def layer_step(p: dict, ux: np.ndarray, s: np.ndarray) -> np.ndarray:
    """One time step: state s = h_{t-1} (m,) -> h_t (m,)."""
    r, z, n, _ = gates(p, ux, s)
    return (1.0 - z) * n + z * s


def layer_forward(p: dict, UX: np.ndarray, s0: np.ndarray, resets=None) -> dict:
    """Run the layer over UX (T, 3m) from state s0 = h_0 (m,), from a zero
    state at the steps where resets (T,) bool, if given, is true.

    Returns a cache: H (T+1, m) with H[0] = h_0 and H[t+1] = h_t; the gates
    A (T, 3m) = [r, z, n] and E (T, m) = e_n = W_n h_{t-1} + bn.
    """
    T, m = UX.shape[0], s0.shape[0]
    H, A, E = np.empty((T + 1, m)), np.empty((T, GATES * m)), np.empty((T, m))
    H[0] = s0
    for t in range(T):
        prev = np.zeros_like(H[t]) if reset_at(resets, t) else H[t]
        r, z, n, E[t] = gates(p, UX[t], prev)
        H[t + 1] = (1.0 - z) * n + z * prev
        A[t] = np.concatenate([r, z, n])
    return {"H": H, "A": A, "E": E}


def layer_final_state(cache: dict) -> np.ndarray:
    """h_T (m,) after the last step."""
    return cache["H"][-1].copy()


def layer_backward(
    p: dict, cache: dict, dH: np.ndarray, resets=None
) -> tuple[dict, np.ndarray, np.ndarray]:
    """BPTT through the layer, dH (T, m) the gradient of the loss at each h_t
    from above; resets as in `layer_forward`.
    Returns ({'W': dW, 'bn': dbn}, dUX (T, 3m), ds0 (m,))."""
    W, H, A, E = p["W"], cache["H"], cache["A"], cache["E"]
    T, m = dH.shape
    dW, dbn, dUX = np.zeros_like(W), np.zeros(m), np.empty((T, GATES * m))
    dh_next = np.zeros(m)
    for t in reversed(range(T)):
        r, z, n = np.split(A[t], GATES)
        prev = np.zeros_like(H[t]) if reset_at(resets, t) else H[t]
        dh = dH[t] + dh_next
        dan = dh * (1.0 - z) * (1.0 - n**2)
        dar = dan * E[t] * r * (1.0 - r)
        daz = dh * (prev - n) * z * (1.0 - z)
        den = dan * r
        dv = np.concatenate([dar, daz, den])
        dW += np.outer(dv, prev)
        dbn += den
        dUX[t] = np.concatenate([dar, daz, dan])
        dh_next = np.zeros_like(dh) if reset_at(resets, t) else dh * z + W.T @ dv
    return {"W": dW, "bn": dbn}, dUX, dh_next

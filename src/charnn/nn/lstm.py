"""The LSTM cell: one layer over T steps for one stream, forward and BPTT, float64.

PyTorch's layout: the four gates are stacked along the rows in the order
i, f, g, q (PyTorch calls the output gate o; here q, since o_t is the logits).
With m = hidden size and n_in = the size of the layer's input x_t:

    a_t = W h_{t-1} + U x_t + b        W (4m, m), U (4m, n_in), b (4m,)
    [a_i, a_f, a_g, a_q] = a_t         four blocks of m rows
    i_t = sigmoid(a_i)                 input gate
    f_t = sigmoid(a_f)                 forget gate
    g_t = tanh(a_g)                    candidate
    q_t = sigmoid(a_q)                 output gate
    c_t = f_t * c_{t-1} + i_t * g_t    cell state (m,)
    h_t = q_t * tanh(c_t)              hidden state (m,), the layer's output

W is torch's weight_hh, U its weight_ih, b its bias_ih (its bias_hh is zero).
The state of one layer is the flat vector s = [h, c] (2m,).

The layer functions take the input side already projected, ``UX (T, 4m)``
with ``UX[t] = U x_t + b``, so the same code serves a first layer (x_t a
one-hot id: a column of U) and a stacked one (x_t the h_t of the layer below);
the caller turns dUX back into dU, db and the gradient of its input.

Backward, with dh_t the gradient arriving at h_t (from the output and from
step t+1) and dc_t the one arriving at c_t from step t+1:

    dq = dh_t * tanh(c_t)
    dc = dc_t + dh_t * q_t * (1 - tanh(c_t)^2)
    di = dc * g_t,  df = dc * c_{t-1},  dg = dc * i_t,  dc_{t-1} = dc * f_t
    da = [di i(1-i), df f(1-f), dg (1-g^2), dq q(1-q)]
    dW += da h_{t-1}^T,  dh_{t-1} = W^T da,  dUX[t] = da
"""

from __future__ import annotations

import numpy as np

from .rnn import reset_at

GATES = 4
STATES = 2
LAYER_PARAMS = ("W", "U", "b")


def sigmoid(a: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-a)) without overflow for large |a|."""
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def gates(p: dict, ux: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, ...]:
    """(i, f, g, q), each (m,), from the layer params p, ux = U x_t + b and h_{t-1}."""
    a = p["W"] @ h + ux
    i, f, g, q = np.split(a, GATES)
    return sigmoid(i), sigmoid(f), np.tanh(g), sigmoid(q)


def layer_step(p: dict, ux: np.ndarray, s: np.ndarray) -> np.ndarray:
    """One time step: state s = [h_{t-1}, c_{t-1}] (2m,) -> [h_t, c_t] (2m,)."""
    h, c = np.split(s, STATES)
    i, f, g, q = gates(p, ux, h)
    c = f * c + i * g
    return np.concatenate([q * np.tanh(c), c])


def layer_forward(p: dict, UX: np.ndarray, s0: np.ndarray, resets=None) -> dict:
    """Run the layer over UX (T, 4m) from state s0 = [h_0, c_0] (2m,), from a
    zero state (h and c) at the steps where resets (T,) bool, if given, is true.

    Returns a cache: H, C (T+1, m) with H[0], C[0] the initial state and
    H[t+1], C[t+1] those after step t; the gates A (T, 4m) = [i, f, g, q].
    """
    T, m = UX.shape[0], s0.shape[0] // STATES
    H, C, A = np.empty((T + 1, m)), np.empty((T + 1, m)), np.empty((T, GATES * m))
    H[0], C[0] = np.split(s0, STATES)
    for t in range(T):
        zero = reset_at(resets, t)
        i, f, g, q = gates(p, UX[t], np.zeros_like(H[t]) if zero else H[t])
        C[t + 1] = f * (np.zeros_like(C[t]) if zero else C[t]) + i * g
        H[t + 1] = q * np.tanh(C[t + 1])
        A[t] = np.concatenate([i, f, g, q])
    return {"H": H, "C": C, "A": A}


def layer_final_state(cache: dict) -> np.ndarray:
    """[h_T, c_T] (2m,) after the last step."""
    return np.concatenate([cache["H"][-1], cache["C"][-1]])


def layer_backward(
    p: dict, cache: dict, dH: np.ndarray, resets=None
) -> tuple[dict, np.ndarray, np.ndarray]:
    """BPTT through the layer, dH (T, m) the gradient of the loss at each h_t
    from above; resets as in `layer_forward`.
    Returns ({'W': dW}, dUX (T, 4m), ds0 (2m,))."""
    W, H, C, A = p["W"], cache["H"], cache["C"], cache["A"]
    T, m = dH.shape
    dW, dUX = np.zeros_like(W), np.empty((T, GATES * m))
    dh_next, dc_next = np.zeros(m), np.zeros(m)
    for t in reversed(range(T)):
        i, f, g, q = np.split(A[t], GATES)
        zero = reset_at(resets, t)
        h_prev, c_prev = (np.zeros_like(H[t]), np.zeros_like(C[t])) if zero else (H[t], C[t])
        dh = dH[t] + dh_next
        tc = np.tanh(C[t + 1])
        dc = dc_next + dh * q * (1.0 - tc**2)
        da = np.concatenate(
            [
                dc * g * i * (1.0 - i),
                dc * c_prev * f * (1.0 - f),
                dc * i * (1.0 - g**2),
                dh * tc * q * (1.0 - q),
            ]
        )
        dW += np.outer(da, h_prev)
        dUX[t] = da
        dh_next, dc_next = W.T @ da, dc * f
        if zero:
            dh_next, dc_next = np.zeros_like(dh_next), np.zeros_like(dc_next)
    return {"W": dW}, dUX, np.concatenate([dh_next, dc_next])

"""The seed's tanh cell as one stackable layer over T steps, forward and BPTT.

    a_t = W h_{t-1} + U x_t + b        W (m, m), U (m, n_in), b (m,)
    h_t = tanh(a_t)                    the layer's output and state (m,)

The same interface as the gated cells (see lstm.py): the input side comes
projected, ``UX[t] = U x_t + b`` (T, m). A model of one RNN layer does not
come here: it runs the seed's own code, unchanged.

Backward: da_t = (dh_t + W^T da_{t+1}) * (1 - h_t^2), dW += da_t h_{t-1}^T.
"""

from __future__ import annotations

import numpy as np

GATES = 1
STATES = 1
LAYER_PARAMS = ("W", "U", "b")


def layer_step(p: dict, ux: np.ndarray, s: np.ndarray) -> np.ndarray:
    """One time step: state s = h_{t-1} (m,) -> h_t (m,)."""
    return np.tanh(p["W"] @ s + ux)


def layer_forward(p: dict, UX: np.ndarray, s0: np.ndarray) -> dict:
    """Run the layer over UX (T, m) from s0 = h_0 (m,). Returns a cache with
    H (T+1, m), H[0] = h_0 and H[t+1] = h_t."""
    H = np.empty((UX.shape[0] + 1, s0.shape[0]))
    H[0] = s0
    for t in range(UX.shape[0]):
        H[t + 1] = layer_step(p, UX[t], H[t])
    return {"H": H}


def layer_final_state(cache: dict) -> np.ndarray:
    """h_T (m,) after the last step."""
    return cache["H"][-1].copy()


def layer_backward(p: dict, cache: dict, dH: np.ndarray) -> tuple[dict, np.ndarray, np.ndarray]:
    """BPTT through the layer, dH (T, m) the gradient at each h_t from above.
    Returns ({'W': dW}, dUX (T, m), ds0 (m,))."""
    W, H = p["W"], cache["H"]
    dW, dUX = np.zeros_like(W), np.empty_like(dH)
    dh_next = np.zeros(W.shape[0])
    for t in reversed(range(dH.shape[0])):
        da = (dH[t] + dh_next) * (1.0 - H[t + 1] ** 2)
        dW += np.outer(da, H[t])
        dUX[t] = da
        dh_next = W.T @ da
    return {"W": dW}, dUX, dh_next

"""The GRU layer: forward against a naive loop, BPTT against centred
differences, one step against torch.nn.GRUCell."""

import numpy as np
import pytest

from charnn.nn import gru


def sig(a):
    return 1.0 / (1.0 + np.exp(-a))


def random_layer(rng, m, n_in, T, scale=0.6):
    p = {
        "W": rng.normal(0, scale, (3 * m, m)),
        "U": rng.normal(0, scale, (3 * m, n_in)),
        "b": rng.normal(0, scale, 3 * m),
        "bn": rng.normal(0, scale, m),
    }
    X = rng.normal(0, 1, (T, n_in))
    return p, X, X @ p["U"].T + p["b"], rng.uniform(-0.5, 0.5, m)


def naive(p, X, h):
    """The equations written out per gate, one step at a time."""
    m = p["W"].shape[1]
    Wr, Wz, Wn = (p["W"][k * m : (k + 1) * m] for k in range(3))
    Ur, Uz, Un = (p["U"][k * m : (k + 1) * m] for k in range(3))
    br, bz, bn = (p["b"][k * m : (k + 1) * m] for k in range(3))
    hs = []
    for x in X:
        r = sig(Ur @ x + br + Wr @ h)
        z = sig(Uz @ x + bz + Wz @ h)
        n = np.tanh(Un @ x + bn + r * (Wn @ h + p["bn"]))
        h = (1 - z) * n + z * h
        hs.append(h)
    return np.array(hs)


def centred(f, arr, step=1e-3):
    """Fourth-order centred differences of the scalar f() for every entry of
    arr: (8 (f(+s) - f(-s)) - (f(+2s) - f(-2s))) / (12 s), error O(s^4)."""
    num = np.zeros_like(arr)
    for i in np.ndindex(arr.shape):
        old = arr[i]
        fs = []
        for d in (step, -step, 2 * step, -2 * step):
            arr[i] = old + d
            fs.append(f())
        arr[i] = old
        num[i] = (8 * (fs[0] - fs[1]) - (fs[2] - fs[3])) / (12 * step)
    return num


def test_forward_matches_naive_loop(rng):
    p, X, UX, s0 = random_layer(rng, 5, 3, 8)
    cache = gru.layer_forward(p, UX, s0)
    np.testing.assert_allclose(cache["H"][1:], naive(p, X, s0), rtol=0, atol=1e-14)
    assert np.array_equal(cache["H"][0], s0)
    np.testing.assert_array_equal(gru.layer_final_state(cache), cache["H"][-1])
    s = s0
    for ux in UX:
        s = gru.layer_step(p, ux, s)
    np.testing.assert_allclose(s, gru.layer_final_state(cache), rtol=0, atol=1e-14)


def test_backward_matches_centred_differences(rng):
    m, T = 4, 6
    p, _, UX, s0 = random_layer(rng, m, 3, T)
    R = rng.normal(0, 1, (T, m))  # the scalar f = sum_t R[t] . h_t

    def f():
        return float((R * gru.layer_forward(p, UX, s0)["H"][1:]).sum())

    g, dUX, ds0 = gru.layer_backward(p, gru.layer_forward(p, UX, s0), R)
    checks = (("W", p["W"], g["W"]), ("bn", p["bn"], g["bn"]), ("UX", UX, dUX), ("s0", s0, ds0))
    for name, arr, analytic in checks:
        num = centred(f, arr)
        rel = np.abs(analytic - num) / np.maximum(np.abs(analytic) + np.abs(num), 1e-30)
        assert rel.max() < 1e-6, (name, rel.max())
    assert set(g) == {"W", "bn"} and dUX.shape == (T, 3 * m) and ds0.shape == (m,)


def test_reset_acts_after_the_hidden_product(rng):
    """With the reset gate shut (r = 0), n_t no longer sees h_{t-1} nor bn."""
    p, X, UX, s0 = random_layer(rng, 3, 2, 1)
    UX[0, :3] = -1000.0  # r = 0
    r, z, n, _ = gru.gates(p, UX[0], s0)
    assert not r.any()
    np.testing.assert_allclose(n, np.tanh(UX[0, 6:]), rtol=1e-15)


def test_step_matches_torch_cell(rng):
    torch = pytest.importorskip("torch")
    m, n_in = 6, 4
    p, X, UX, s0 = random_layer(rng, m, n_in, 1)
    cell = torch.nn.GRUCell(n_in, m, dtype=torch.float64)
    with torch.no_grad():
        cell.weight_ih.copy_(torch.from_numpy(p["U"]))
        cell.weight_hh.copy_(torch.from_numpy(p["W"]))
        cell.bias_ih.copy_(torch.from_numpy(p["b"]))
        cell.bias_hh.copy_(torch.from_numpy(np.concatenate([np.zeros(2 * m), p["bn"]])))
        h = cell(torch.from_numpy(X), torch.from_numpy(s0[None]))
    np.testing.assert_allclose(gru.layer_step(p, UX[0], s0), h[0].numpy(), rtol=0, atol=1e-14)

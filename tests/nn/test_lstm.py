"""The LSTM layer: forward against a naive loop, BPTT against centred
differences, one step against torch.nn.LSTMCell."""

import numpy as np
import pytest

from charnn.nn import lstm


def sig(a):
    return 1.0 / (1.0 + np.exp(-a))


def random_layer(rng, m, n_in, T, scale=0.6):
    p = {
        "W": rng.normal(0, scale, (4 * m, m)),
        "U": rng.normal(0, scale, (4 * m, n_in)),
        "b": rng.normal(0, scale, 4 * m),
    }
    X = rng.normal(0, 1, (T, n_in))
    return p, X, X @ p["U"].T + p["b"], rng.uniform(-0.5, 0.5, 2 * m)


def naive(p, X, s0):
    """The equations written out per gate, one step at a time."""
    m = p["W"].shape[1]
    Wi, Wf, Wg, Wo = (p["W"][k * m : (k + 1) * m] for k in range(4))
    Ui, Uf, Ug, Uo = (p["U"][k * m : (k + 1) * m] for k in range(4))
    bi, bf, bg, bo = (p["b"][k * m : (k + 1) * m] for k in range(4))
    h, c, hs, cs = s0[:m], s0[m:], [], []
    for x in X:
        i = sig(Wi @ h + Ui @ x + bi)
        f = sig(Wf @ h + Uf @ x + bf)
        g = np.tanh(Wg @ h + Ug @ x + bg)
        o = sig(Wo @ h + Uo @ x + bo)
        c = f * c + i * g
        h = o * np.tanh(c)
        hs.append(h)
        cs.append(c)
    return np.array(hs), np.array(cs)


def test_forward_matches_naive_loop(rng):
    p, X, UX, s0 = random_layer(rng, 5, 3, 8)
    cache = lstm.layer_forward(p, UX, s0)
    hs, cs = naive(p, X, s0)
    np.testing.assert_allclose(cache["H"][1:], hs, rtol=0, atol=1e-14)
    np.testing.assert_allclose(cache["C"][1:], cs, rtol=0, atol=1e-14)
    assert np.array_equal(cache["H"][0], s0[:5]) and np.array_equal(cache["C"][0], s0[5:])
    np.testing.assert_array_equal(
        lstm.layer_final_state(cache), np.concatenate([cache["H"][-1], cache["C"][-1]])
    )
    s = s0
    for ux in UX:
        s = lstm.layer_step(p, ux, s)
    np.testing.assert_allclose(s, lstm.layer_final_state(cache), rtol=0, atol=1e-14)


def test_sigmoid_is_finite_and_exact_at_extremes():
    a = np.array([-800.0, -30.0, 0.0, 30.0, 800.0])
    s = lstm.sigmoid(a)
    assert s[0] == 0.0 and s[2] == 0.5 and s[4] == 1.0
    np.testing.assert_allclose(s[1:4], sig(a[1:4]), rtol=1e-15)
    np.testing.assert_allclose(s[1] + s[3], 1.0, rtol=1e-15)


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


def test_backward_matches_centred_differences(rng):
    m, T = 4, 6
    p, _, UX, s0 = random_layer(rng, m, 3, T)
    R = rng.normal(0, 1, (T, m))  # the scalar f = sum_t R[t] . h_t

    def f():
        return float((R * lstm.layer_forward(p, UX, s0)["H"][1:]).sum())

    g, dUX, ds0 = lstm.layer_backward(p, lstm.layer_forward(p, UX, s0), R)
    for name, arr, analytic in (("W", p["W"], g["W"]), ("UX", UX, dUX), ("s0", s0, ds0)):
        num = centred(f, arr)
        rel = np.abs(analytic - num) / np.maximum(np.abs(analytic) + np.abs(num), 1e-30)
        assert rel.max() < 1e-6, (name, rel.max())
    assert set(g) == {"W"} and dUX.shape == (T, 4 * m) and ds0.shape == (2 * m,)


def test_step_matches_torch_cell(rng):
    torch = pytest.importorskip("torch")
    m, n_in = 6, 4
    p, X, UX, s0 = random_layer(rng, m, n_in, 1)
    cell = torch.nn.LSTMCell(n_in, m, dtype=torch.float64)
    with torch.no_grad():
        cell.weight_ih.copy_(torch.from_numpy(p["U"]))
        cell.weight_hh.copy_(torch.from_numpy(p["W"]))
        cell.bias_ih.copy_(torch.from_numpy(p["b"]))
        cell.bias_hh.zero_()
        h, c = cell(
            torch.from_numpy(X), (torch.from_numpy(s0[None, :m]), torch.from_numpy(s0[None, m:]))
        )
    s = lstm.layer_step(p, UX[0], s0)
    np.testing.assert_allclose(s[:m], h[0].numpy(), rtol=0, atol=1e-14)
    np.testing.assert_allclose(s[m:], c[0].numpy(), rtol=0, atol=1e-14)

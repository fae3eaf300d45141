"""The reference model: init, loss, gradients (numerical and PyTorch)."""

import math
import re

import numpy as np
import pytest

from charnn import init_params, loss_and_grads
from charnn.nn import gradcheck, rnn


def random_case(rng, K, m, T, sig=0.01):
    params = init_params(K, m, rng, sig)
    x = rng.integers(0, K, T)
    y = rng.integers(0, K, T)
    h0 = rng.uniform(-0.5, 0.5, m)
    return params, x, y, h0


def test_init_shapes_and_stats(rng):
    p = init_params(80, 100, rng)
    assert {k: v.shape for k, v in p.items()} == {
        "W": (100, 100),
        "U": (100, 80),
        "V": (80, 100),
        "b": (100,),
        "c": (80,),
    }
    assert all(v.dtype == np.float64 for v in p.values())
    assert abs(p["W"].std() - 0.01) < 0.001 and abs(p["U"].mean()) < 0.001
    assert not p["b"].any() and not p["c"].any()
    again = init_params(80, 100, np.random.default_rng(1234))
    assert all(np.array_equal(p[k], again[k]) for k in p)


def test_loss_at_init_is_T_ln_K(rng):
    K, T = 65, 25
    params, x, y, _ = random_case(rng, K, 100, T)
    loss, grads, h = loss_and_grads(params, x, y, np.zeros(100))
    assert loss == pytest.approx(T * math.log(K), rel=0.01)
    assert h.shape == (100,) and set(grads) == {"W", "U", "V", "b", "c"}


def test_loss_is_stable_for_huge_logits(rng):
    params, x, y, h0 = random_case(rng, 5, 4, 3)
    params["c"][:] = [1000.0, -1000.0, 0, 500, 800]
    loss, grads, _ = loss_and_grads(params, x, y, h0)
    assert math.isfinite(loss) and all(np.isfinite(g).all() for g in grads.values())


@pytest.mark.parametrize("K, m, T", [(4, 3, 1), (10, 5, 25), (30, 8, 7), (65, 5, 25)])
def test_gradients_match_numerical(rng, K, m, T):
    params, x, y, h0 = random_case(rng, K, m, T)
    rows, _ = gradcheck.check(params, x, y, h0, rng)
    assert [r.name for r in rows] == ["W", "U", "V", "b", "c", "h0"]
    for r in rows:
        assert r.checked == int(np.prod(r.shape))
        assert r.max_rel < 1e-6, r


def test_gradcheck_catches_a_wrong_gradient(rng, monkeypatch):
    params, x, y, h0 = random_case(rng, 6, 4, 5)
    real = rnn.backward

    def broken(*args):
        g = real(*args)
        g["W"] *= 1.01
        return g

    monkeypatch.setattr(rnn, "backward", broken)
    rows = {r.name: r for r in gradcheck.check(params, x, y, h0, rng)[0]}
    assert rows["W"].failed and rows["V"].passed


def test_relative_error_floor():
    err = gradcheck.relative_error(np.array([0.0, 1.0]), np.array([0.0, 1.1]))
    assert err[0] == 0.0 and err[1] == pytest.approx(0.1 / 2.1)


def test_text_loss_carries_state(rng):
    params, _, _, _ = random_case(rng, 7, 5, 1, sig=0.3)
    ids = rng.integers(0, 7, 30)
    nats, count = rnn.text_loss(params, ids, chunk=8)
    whole, _, _ = loss_and_grads(params, ids[:-1], ids[1:], np.zeros(5))
    assert count == 29 and nats == pytest.approx(whole, rel=1e-12)


def test_matches_pytorch_autograd(rng):
    torch = pytest.importorskip("torch")
    K, m, T = 12, 7, 9
    params, x, y, h0 = random_case(rng, K, m, T, sig=0.3)
    for k in ("b", "c"):
        params[k] = rng.normal(0, 0.3, params[k].shape)
    loss, grads, h_last = loss_and_grads(params, x, y, h0)

    tp = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    h = torch.tensor(h0, dtype=torch.float64)
    total = torch.zeros((), dtype=torch.float64)
    for t in range(T):
        h = torch.tanh(tp["W"] @ h + tp["U"][:, int(x[t])] + tp["b"])
        o = tp["V"] @ h + tp["c"]
        total = total - torch.log_softmax(o, dim=0)[int(y[t])]
    total.backward()
    assert loss == pytest.approx(total.item(), rel=1e-12)
    np.testing.assert_allclose(h_last, h.detach().numpy(), rtol=1e-12)
    for k in params:
        np.testing.assert_allclose(grads[k], tp[k].grad.numpy(), rtol=1e-10, atol=1e-14)


def test_the_public_api_refuses_ids_it_would_misread():
    """NumPy reads id -1 as the last character and truncates 2.5 to 2: the
    API's functions refuse such ids rather than return a plausible number."""
    import charnn
    from charnn.errors import VocabError

    vocab = charnn.Vocab.from_text("hello world")
    K = vocab.size
    params = charnn.init_params(K, 8, np.random.default_rng(0))
    ids = vocab.encode("hello worl")
    ok = charnn.loss_and_grads(params, ids[:-1], ids[1:], np.zeros(8))[0]
    assert np.isfinite(ok)
    for inputs, message in (
        (np.full(9, -1), "inputs holds id -1, outside the vocabulary's 0..7"),
        (ids[:-1] + 0.5, "inputs must be integer ids, got float64 values"),
        (np.full(9, K), f"inputs holds id {K}"),
        (np.full(9, 2**64 - 1, np.uint64), f"inputs holds id {2**64 - 1},"),
    ):
        with pytest.raises(ValueError, match=re.escape(message)):
            charnn.loss_and_grads(params, inputs, ids[1:], np.zeros(8))
    with pytest.raises(ValueError, match="x0 holds id -1"):
        charnn.synthesize(params, np.zeros(8), -1, 5, np.random.default_rng(0))
    with pytest.raises(VocabError, match="id 999 is outside the vocabulary's 0..7"):
        vocab.decode([999])
    with pytest.raises(VocabError, match="ids must be integers"):
        vocab.decode(np.array([1.5]))
    assert vocab.decode(ids) == "hello worl" and vocab.decode([]) == ""
    assert {"Vocab", "init_params", "loss_and_grads", "synthesize"} <= set(dir(charnn))

"""The stacked model: parameters and init, the seed's RNN unchanged, forward
against a step-by-step loop, every gradient (initial states included)
against centred differences, and loss and gradients against PyTorch's
nn.GRU / nn.LSTM + nn.Linear in float64."""

import math

import numpy as np
import pytest

from charnn.errors import ConfigError
from charnn.nn import gradcheck, rnn, stack

CASES = [(cell, layers) for cell in ("rnn", "gru", "lstm") for layers in (1, 2, 3)]


def random_case(rng, cell, layers, K=7, m=4, T=6, sig=0.5):
    """Parameters with non-zero biases, ids and a non-zero initial state."""
    params = stack.init_params(K, m, rng, sig, cell, layers)
    for name in params:
        if name[0] in "bc":
            params[name] = rng.normal(0, sig, params[name].shape)
    S = stack.describe(params).state_size
    return params, rng.integers(0, K, T), rng.integers(0, K, T), rng.uniform(-0.5, 0.5, S)


def test_param_names_shapes_and_init(rng):
    p = stack.init_params(11, 5, rng, cell="lstm", layers=2)
    assert {k: v.shape for k, v in p.items()} == {
        "W": (20, 5),
        "U": (20, 11),
        "W1": (20, 5),
        "U1": (20, 5),
        "V": (11, 5),
        "b": (20,),
        "b1": (20,),
        "c": (11,),
    }
    for b in (p["b"], p["b1"]):
        assert np.array_equal(b, np.r_[np.zeros(5), np.ones(5), np.zeros(10)])
    again = np.random.default_rng(1234)  # draws W, U, W1, U1, V in that order
    s = 1 / math.sqrt(5)
    for name in ("W", "U", "W1", "U1", "V"):
        np.testing.assert_array_equal(p[name], s * again.standard_normal(p[name].shape))
    g = stack.init_params(11, 5, rng, cell="gru", layers=2)
    assert list(g) == ["W", "U", "W1", "U1", "V", "b", "bn", "b1", "bn1", "c"]
    assert g["W"].shape == (15, 5) and g["bn1"].shape == (5,) and not g["bn"].any()


def test_seed_rnn_is_the_seed_model(rng):
    p = stack.init_params(9, 6, np.random.default_rng(5))
    ref = rnn.init_params(9, 6, np.random.default_rng(5))
    assert list(p) == list(ref) == ["W", "U", "V", "b", "c"]
    assert all(np.array_equal(p[k], ref[k]) for k in p)
    x, y, h0 = rng.integers(0, 9, 10), rng.integers(0, 9, 10), rng.uniform(-1, 1, 6)
    ours, theirs = stack.loss_and_grads(p, x, y, h0), rnn.loss_and_grads(p, x, y, h0)
    assert ours[0] == theirs[0] and np.array_equal(ours[2], theirs[2])
    assert all(np.array_equal(ours[1][k], theirs[1][k]) for k in p)
    _, _, dh0, _ = stack.loss_and_grads_state(p, x, y, h0)
    assert np.array_equal(dh0, rnn.loss_and_grads_h0(p, x, y, h0)[1]["h0"])


def test_describe_and_state_parts(rng):
    for cell, layers in CASES:
        p = stack.init_params(5, 3, rng, cell=cell, layers=layers)
        a = stack.describe(p)
        assert (a.cell, a.layers, a.K, a.m) == (cell, layers, 5, 3)
        assert a.state_size == layers * 3 * (2 if cell == "lstm" else 1)
    parts = stack.state_parts(stack.init_params(5, 3, rng, cell="lstm", layers=2))
    assert parts == {
        "h0": slice(0, 3),
        "c0": slice(3, 6),
        "h0_1": slice(6, 9),
        "c0_1": slice(9, 12),
    }


def test_bad_cell_or_layers():
    with pytest.raises(ConfigError, match="unknown cell"):
        stack.param_shapes(5, 3, "transformer")
    with pytest.raises(ConfigError, match="positive integer"):
        stack.param_shapes(5, 3, "gru", 0)


@pytest.mark.parametrize("cell, layers", CASES)
def test_forward_matches_a_loop_of_steps(rng, cell, layers):
    params, x, y, s0 = random_case(rng, cell, layers)
    cache = stack.forward(params, x, s0)
    s = s0
    for t, xt in enumerate(x):
        s, o = stack.step(params, s, int(xt))
        np.testing.assert_allclose(o, cache["O"][t], rtol=0, atol=1e-13)
    np.testing.assert_allclose(s, cache["state"], rtol=0, atol=1e-14)
    loss = stack.loss_and_grads(params, x, y, s0)[0]
    logp = cache["O"] - np.log(np.exp(cache["O"]).sum(axis=1, keepdims=True))
    assert loss == pytest.approx(-logp[np.arange(len(y)), y].sum(), rel=1e-13)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_loss_at_init_is_near_T_ln_K(rng, cell):
    K, T = 40, 20
    params = stack.init_params(K, 32, rng, cell=cell, layers=2)
    x, S = rng.integers(0, K, T), stack.describe(params).state_size
    loss, _, state = stack.loss_and_grads(params, x, np.roll(x, -1), np.zeros(S))
    assert loss == pytest.approx(T * math.log(K), rel=0.05)
    assert np.abs(state).max() < 1


def numerical(params, x, y, s0, arr, index, masks=None, step=1e-3):
    """Fourth-order centred difference of the loss for one entry of arr."""
    old, diffs = arr[index], []
    for d in (step, 2 * step):
        Os = []
        for sign in (1, -1):
            arr[index] = old + sign * d
            Os.append(stack.forward(params, x, s0, masks)["O"])
        arr[index] = old
        diffs.append(gradcheck.loss_difference(Os[0], Os[1], y))
    return (8 * diffs[0] - diffs[1]) / (12 * step)


@pytest.mark.parametrize("cell, layers", CASES)
def test_every_gradient_matches_centred_differences(rng, cell, layers):
    params, x, y, s0 = random_case(rng, cell, layers)
    _, grads, dstate, _ = stack.loss_and_grads_state(params, x, y, s0)
    worst = {}
    for name, arr, analytic in [(k, params[k], grads[k]) for k in params] + [("state", s0, dstate)]:
        num = np.array([numerical(params, x, y, s0, arr, i) for i in np.ndindex(arr.shape)])
        worst[name] = gradcheck.relative_error(analytic.ravel(), num).max()
    assert set(worst) == set(params) | {"state"}
    assert max(worst.values()) < 1e-6, worst


def torch_model(torch, params, cell, layers):
    """torch.nn.GRU / LSTM + Linear holding a copy of params, float64."""
    K, m = params["V"].shape
    net = getattr(torch.nn, cell.upper())(K, m, num_layers=layers, dtype=torch.float64)
    out = torch.nn.Linear(m, K, dtype=torch.float64)
    with torch.no_grad():
        for l in range(layers):
            sfx = stack.suffix(l)
            getattr(net, f"weight_hh_l{l}").copy_(torch.from_numpy(params["W" + sfx]))
            getattr(net, f"weight_ih_l{l}").copy_(torch.from_numpy(params["U" + sfx]))
            getattr(net, f"bias_ih_l{l}").copy_(torch.from_numpy(params["b" + sfx]))
            bias_hh = np.zeros(params["b"].shape)
            if cell == "gru":
                bias_hh[2 * m :] = params["bn" + sfx]
            getattr(net, f"bias_hh_l{l}").copy_(torch.from_numpy(bias_hh))
        out.weight.copy_(torch.from_numpy(params["V"]))
        out.bias.copy_(torch.from_numpy(params["c"]))
    return net, out


def torch_loss_and_grads(torch, params, cell, layers, x, y, s0):
    """Loss, gradients keyed like params, dL/dstate0 and the final state, by autograd."""
    K, m = params["V"].shape
    net, out = torch_model(torch, params, cell, layers)
    per = s0.reshape(layers, -1, m)  # (L, 1 or 2, m): h (and c) of each layer
    h0 = torch.tensor(per[:, 0], requires_grad=True)
    c0 = torch.tensor(per[:, 1], requires_grad=True) if cell == "lstm" else None
    X = torch.nn.functional.one_hot(torch.from_numpy(x), K).double()  # (T, K)
    H, hT = net(X, (h0, c0) if cell == "lstm" else h0)
    loss = torch.nn.functional.cross_entropy(out(H), torch.from_numpy(y), reduction="sum")
    loss.backward()
    grads = {"V": out.weight.grad, "c": out.bias.grad}
    for l in range(layers):
        sfx = stack.suffix(l)
        grads["W" + sfx] = getattr(net, f"weight_hh_l{l}").grad
        grads["U" + sfx] = getattr(net, f"weight_ih_l{l}").grad
        grads["b" + sfx] = getattr(net, f"bias_ih_l{l}").grad
        if cell == "gru":
            grads["bn" + sfx] = getattr(net, f"bias_hh_l{l}").grad[2 * m :]
    dstate = torch.stack([h0.grad] + ([c0.grad] if c0 is not None else []), 1)
    state = torch.stack(list(hT) if cell == "lstm" else [hT], 1)
    grads = {k: v.numpy() for k, v in grads.items()}
    return loss.item(), grads, dstate.numpy().ravel(), state.detach().numpy().ravel()


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("layers", [1, 2])
def test_matches_pytorch(rng, cell, layers):
    torch = pytest.importorskip("torch")
    params, x, y, s0 = random_case(rng, cell, layers, K=9, m=6, T=12)
    loss, grads, dstate, state = stack.loss_and_grads_state(params, x, y, s0)
    t_loss, t_grads, t_dstate, t_state = torch_loss_and_grads(torch, params, cell, layers, x, y, s0)
    assert abs(loss - t_loss) <= 1e-12 * abs(t_loss)
    assert set(grads) == set(t_grads) == set(params)
    for name, ours, theirs in [(k, grads[k], t_grads[k]) for k in params] + [
        ("state", dstate, t_dstate),
        ("final", state, t_state),
    ]:
        err = np.abs(ours - theirs).max() / np.abs(theirs).max()
        assert err < 1e-10, (name, err)


@pytest.mark.parametrize("cell, layers", [("rnn", 1), ("gru", 2), ("lstm", 2)])
def test_text_loss_carries_state(rng, cell, layers):
    params, _, _, _ = random_case(rng, cell, layers)
    ids = rng.integers(0, 7, 30)
    nats, count = stack.text_loss(params, ids, chunk=8)
    S = stack.describe(params).state_size
    whole, _, _ = stack.loss_and_grads(params, ids[:-1], ids[1:], np.zeros(S))
    assert count == 29 and nats == pytest.approx(whole, rel=1e-12)
    start = rng.uniform(-1, 1, S)
    carried, _ = stack.text_loss(params, ids, start, chunk=8)
    assert carried == pytest.approx(
        stack.loss_and_grads(params, ids[:-1], ids[1:], start)[0], rel=1e-12
    )
    assert carried != pytest.approx(nats, rel=1e-6)


def test_dropout_masks(rng):
    again = np.random.default_rng(1234)
    masks = stack.dropout_masks(rng, 0.25, 3, 400, 50)
    assert len(masks) == 2 and all(M.shape == (400, 50) for M in masks)
    for M in masks:
        np.testing.assert_array_equal(M, (again.random((400, 50)) >= 0.25) / 0.75)
        assert set(np.unique(M)) == {0.0, 1 / 0.75}
        assert abs((M == 0).mean() - 0.25) < 0.01
    state = rng.bit_generator.state
    assert (
        stack.dropout_masks(rng, 0.0, 3, 5, 4) == []
        and stack.dropout_masks(rng, 0.5, 1, 5, 4) == []
    )
    assert rng.bit_generator.state == state
    with pytest.raises(ValueError, match="dropout"):
        stack.dropout_masks(rng, 1.0, 2, 5, 4)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_dropout_gradients_match_centred_differences(rng, cell):
    params, x, y, s0 = random_case(rng, cell, 3)
    masks = stack.dropout_masks(rng, 0.4, 3, len(x), 4)
    loss, grads, dstate, _ = stack.loss_and_grads_state(params, x, y, s0, masks)
    assert loss != pytest.approx(stack.loss_and_grads(params, x, y, s0)[0], rel=1e-6)
    worst = {}
    for name, arr, analytic in [(k, params[k], grads[k]) for k in params] + [("state", s0, dstate)]:
        num = [numerical(params, x, y, s0, arr, i, masks) for i in np.ndindex(arr.shape)]
        worst[name] = gradcheck.relative_error(analytic.ravel(), np.array(num)).max()
    assert max(worst.values()) < 1e-6, worst
    ones = [np.ones_like(M) for M in masks]
    plain, with_ones = (
        stack.loss_and_grads(params, x, y, s0),
        stack.loss_and_grads(params, x, y, s0, ones),
    )
    assert plain[0] == with_ones[0] and all(
        np.array_equal(plain[1][k], with_ones[1][k]) for k in params
    )

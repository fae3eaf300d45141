"""The document reset of the reference: h_{t-1} := 0 wherever x_t is the end id."""

import numpy as np
import pytest

from charnn.nn import gradcheck, rnn, sampling, stack, step

END = 0


def random_case(rng, K, m, T, resets):
    params = rnn.init_params(K, m, rng, sig=0.3)
    params["b"] = 0.2 * rng.standard_normal(m)
    params["c"] = 0.2 * rng.standard_normal(K)
    x = rng.integers(1, K, T)
    x[list(resets)] = END
    y = rng.integers(0, K, T)
    h0 = rng.uniform(-0.5, 0.5, m)
    return params, x, y, h0


def test_state_after_a_reset_is_the_fresh_state(rng):
    params, x, y, h0 = random_case(rng, 6, 5, 9, resets=(3, 7))
    H = rnn.forward(params, x, h0, reset_id=END)["H"]
    fresh, _ = rnn.step(params, np.zeros(5), END)
    assert np.array_equal(H[4], fresh) and np.array_equal(H[8], fresh)
    # without the reset the same step reads the carried state
    assert not np.allclose(rnn.forward(params, x, h0)["H"][4], fresh)


def test_no_state_and_no_gradient_crosses_a_reset(rng):
    params, x, y, h0 = random_case(rng, 6, 5, 10, resets=(4,))
    loss, grads, _ = rnn.loss_and_grads_h0(params, x, y, h0, reset_id=END)
    # the document after the reset is the same from any state before it
    x2 = x.copy()
    x2[:4] = rng.integers(1, 6, 4)
    H, H2 = (rnn.forward(params, xs, h0, reset_id=END)["H"] for xs in (x, x2))
    assert np.array_equal(H[5:], H2[5:])
    # and the loss splits into the two parts, each from its own start
    before, _, _ = rnn.loss_and_grads(params, x[:4], y[:4], h0)
    after, _, _ = rnn.loss_and_grads(params, x[4:], y[4:], np.ones(5))
    # the second part resets at its first input, so its h0 does not matter
    after_reset, g_after, _ = rnn.loss_and_grads_h0(params, x[4:], y[4:], np.ones(5), END)
    assert loss == pytest.approx(before + after_reset, rel=1e-14)
    assert after != after_reset
    assert not g_after["h0"].any()


def test_a_reset_id_that_never_occurs_changes_nothing(rng):
    params, x, y, h0 = random_case(rng, 6, 5, 12, resets=())
    plain = rnn.loss_and_grads_h0(params, x, y, h0)
    reset = rnn.loss_and_grads_h0(params, x, y, h0, reset_id=END)
    assert plain[0] == reset[0] and np.array_equal(plain[2], reset[2])
    assert all(np.array_equal(plain[1][k], reset[1][k]) for k in plain[1])


def numerical(params, name, index, x, y, h0):
    target = h0 if name == "h0" else params[name]
    old, eps = target[index], 1e-5
    out = []
    for v in (old + eps, old - eps):
        target[index] = v
        out.append(rnn.forward(params, x, h0, reset_id=END)["O"])
    target[index] = old
    return gradcheck.loss_difference(out[0], out[1], y) / (2 * eps)


@pytest.mark.parametrize("resets", [(0,), (2, 5), (1, 2, 8), (9,)])
def test_gradients_with_resets_match_numerical(rng, resets):
    K, m, T = 7, 4, 10
    params, x, y, h0 = random_case(rng, K, m, T, resets)
    _, grads, _ = rnn.loss_and_grads_h0(params, x, y, h0, reset_id=END)
    for name, g in grads.items():
        target = h0 if name == "h0" else params[name]
        num = np.array([numerical(params, name, i, x, y, h0) for i in np.ndindex(target.shape)])
        err = gradcheck.relative_error(g.ravel(), num)
        # entries with no path to the loss are exactly zero on both sides
        assert err.max() < 1e-6, name
    if 0 in resets:
        assert not grads["h0"].any()


def test_gradients_with_resets_match_pytorch(rng):
    torch = pytest.importorskip("torch")
    K, m, T = 8, 5, 12
    params, x, y, h0 = random_case(rng, K, m, T, resets=(0, 4, 5, 9))
    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    h = torch.tensor(h0)
    loss = torch.zeros((), dtype=torch.float64)
    for i in range(T):
        h = torch.zeros_like(h) if x[i] == END else h
        h = torch.tanh(t["W"] @ h + t["U"][:, int(x[i])] + t["b"])
        loss = loss - torch.log_softmax(t["V"] @ h + t["c"], 0)[int(y[i])]
    loss.backward()
    ref, grads, _ = rnn.loss_and_grads(params, x, y, h0, reset_id=END)
    assert ref == pytest.approx(loss.item(), rel=1e-13)
    for k in rnn.PARAM_NAMES:
        np.testing.assert_allclose(grads[k], t[k].grad.numpy(), rtol=1e-10, atol=1e-14)


def test_text_loss_with_resets_is_the_sum_over_documents(rng):
    params = rnn.init_params(5, 4, rng, sig=0.5)
    docs = [[1, 2, 3], [4], [2, 2, 1, 3, 4, 1]]
    ids = np.array([END] + [i for d in docs for i in [*d, END]])
    total, count = rnn.text_loss(params, ids, chunk=4, reset_id=END)
    parts = [rnn.text_loss(params, np.array([END, *d, END]))[0] for d in docs]
    assert count == len(ids) - 1 == sum(len(d) + 1 for d in docs)
    assert total == pytest.approx(sum(parts), rel=1e-13)


def test_reference_chunk_batch_matches_per_stream(rng):
    """B streams with resets at different steps: the mean of B = 1 losses."""
    K, m, T, B = 6, 4, 5, 3
    params = rnn.init_params(K, m, rng, sig=0.3)
    X = rng.integers(1, K, (B, T))
    X[0, 0], X[1, 3], X[2, 1], X[2, 4] = END, END, END, END
    Y = rng.integers(0, K, (B, T))
    h = rng.uniform(-0.5, 0.5, (B, m))
    loss, grads, h_last = step.batch_loss_and_grads(params, X, Y, h, reset_id=END)
    each = [rnn.loss_and_grads(params, X[s], Y[s], h[s], END) for s in range(B)]
    assert loss == pytest.approx(np.mean([e[0] for e in each]), rel=1e-14)
    np.testing.assert_allclose(grads["W"], np.mean([e[1]["W"] for e in each], 0), rtol=1e-13)
    assert np.array_equal(h_last[1], each[1][2])


def test_synthesize_stops_at_the_stop_id_and_draws_n_uniforms(rng):
    params = rnn.init_params(4, 3, rng, sig=1.0)
    params["c"][END] = 1.0  # the stop id is likely
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    full = sampling.synthesize(params, np.zeros(3), END, 50, a)
    cut = sampling.synthesize(params, np.zeros(3), END, 50, b, stop=END)
    first = int(np.argmax(full == END))
    assert full[first] == END and np.array_equal(cut, full[: first + 1])
    assert a.random() == b.random()  # the same number of uniforms drawn


GATED = [(cell, layers) for cell in ("rnn", "gru", "lstm") for layers in (1, 2)]


def stack_case(rng, cell, layers, K=7, m=3, T=9, resets=(0, 4, 5)):
    params = stack.init_params(K, m, rng, 0.5, cell, layers)
    for name in params:
        if name[0] in "bc":
            params[name] = rng.normal(0, 0.5, params[name].shape)
    x = rng.integers(1, K, T)
    x[list(resets)] = END
    S = stack.describe(params).state_size
    return params, x, rng.integers(0, K, T), rng.uniform(-0.5, 0.5, S)


@pytest.mark.parametrize("cell, layers", GATED)
def test_stack_resets_every_layer_of_the_state(rng, cell, layers):
    params, x, y, s0 = stack_case(rng, cell, layers, resets=(3,))
    whole = stack.forward(params, x, s0, reset_id=END)
    after = stack.forward(params, x[3:], np.zeros_like(s0))
    np.testing.assert_array_equal(whole["O"][3:], after["O"])
    np.testing.assert_array_equal(whole["state"], after["state"])
    # and the state before the reset gets no gradient from after it
    _, _, ds0, _ = stack.loss_and_grads_state(params, x[3:], y[3:], s0, reset_id=END)
    assert not ds0.any()


@pytest.mark.parametrize("cell, layers", GATED)
def test_stack_gradients_with_resets_match_numerical(rng, cell, layers):
    params, x, y, s0 = stack_case(rng, cell, layers)
    _, grads, ds0, _ = stack.loss_and_grads_state(params, x, y, s0, reset_id=END)
    grads = {**grads, "state0": ds0}

    def loss_diff(name, index, eps=1e-5):
        target = s0 if name == "state0" else params[name]
        old, out = target[index], []
        for v in (old + eps, old - eps):
            target[index] = v
            out.append(stack.forward(params, x, s0, reset_id=END)["O"])
        target[index] = old
        return gradcheck.loss_difference(out[0], out[1], y) / (2 * eps)

    for name, g in grads.items():
        target = s0 if name == "state0" else params[name]
        num = np.array([loss_diff(name, i) for i in np.ndindex(target.shape)])
        assert gradcheck.relative_error(g.ravel(), num).max() < 1e-6, name
    assert not ds0.any()  # the first input is END


def test_stack_text_loss_and_reference_chunk_take_the_reset(rng):
    params, x, y, s0 = stack_case(rng, "gru", 2, T=12)
    ids = np.concatenate([[END], x])
    total, _ = stack.text_loss(params, ids, chunk=5, reset_id=END)
    ref = stack.loss_and_grads(params, ids[:-1], ids[1:], np.zeros_like(s0), reset_id=END)[0]
    assert total == pytest.approx(ref, rel=1e-13)
    st = step.TrainState.fresh(params, 1)
    from charnn.nn.optim import OptimConfig

    losses = step.reference_chunk(st, ids[None, :], 1, 12, 5.0, OptimConfig(), reset_id=END)
    assert losses[0] == pytest.approx(ref, rel=1e-13)

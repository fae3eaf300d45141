"""The engine's document reset against the reference (float64, 1e-12)."""

import copy

import numpy as np
import pytest

from charnn import engine
from charnn.nn import rnn, sampling, step
from charnn.nn.optim import OptimConfig

END = 0


def rel_err(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def random_params(K, m, rng):
    params = rnn.init_params(K, m, rng, sig=0.3)
    params["b"] = 0.2 * rng.standard_normal(m)
    params["c"] = 0.2 * rng.standard_normal(K)
    return params


def document_ids(rng, K, n, mean_len):
    """A stream END d1 END d2 ... of n ids with documents of random lengths."""
    out = [END]
    while len(out) < n:
        out += [*rng.integers(1, K, rng.integers(0, 2 * mean_len)), END]
    return np.array(out[:n])


@pytest.mark.parametrize("K,m,T,B", [(5, 4, 1, 1), (7, 6, 9, 1), (11, 8, 9, 3), (13, 16, 25, 4)])
def test_loss_and_grads_with_resets_match_reference(K, m, T, B):
    rng = np.random.default_rng(K + T + B)
    params = random_params(K, m, rng)
    data = document_ids(rng, K, B * (T + 1), 3).reshape(B, T + 1)
    data[0, 0] = END  # a reset at the very first step, too
    X, Y = data[:, :T], data[:, 1:]
    h = np.tanh(rng.standard_normal((B, m)))
    loss, grads, h_last = engine.loss_and_grads(params, X, Y, h, reset_id=END)
    ref_loss, ref_grads, ref_h = step.batch_loss_and_grads(params, X, Y, h, reset_id=END)
    assert abs(loss - ref_loss) <= 1e-12 * abs(ref_loss)
    for k in rnn.PARAM_NAMES:
        assert rel_err(grads[k], ref_grads[k]) < 1e-12, k
    assert rel_err(h_last, ref_h) < 1e-12
    # the reset is real: without it the gradients differ
    plain = engine.loss_and_grads(params, X, Y, h)[1]
    assert rel_err(plain["W"], ref_grads["W"]) > 1e-6


@pytest.mark.parametrize("B", [1, 2])
def test_state_after_a_reset_is_exactly_the_fresh_state(B):
    """The step at an END input reads exactly zero, whatever came before."""
    rng = np.random.default_rng(3)
    params = random_params(6, 5, rng)
    X = np.tile([1, 2, 3, END], (B, 1))
    _, _, h_last = engine.loss_and_grads(params, X, X, np.ones((B, 5)), reset_id=END)
    one = np.full((B, 1), END)
    _, _, fresh = engine.loss_and_grads(params, one, one, np.zeros((B, 5)))
    assert np.array_equal(h_last, fresh)
    ref, _ = rnn.step(params, np.zeros(5), END)
    assert rel_err(h_last[0], ref) < 1e-14


@pytest.mark.parametrize("B", [1, 3])
def test_train_chunk_with_resets_matches_reference(B):
    rng = np.random.default_rng(10 + B)
    K, m, T, n = 9, 7, 6, 12
    params = random_params(K, m, rng)
    ids = document_ids(rng, K, B * (n * T + 1), 4)
    data = ids.reshape(B, -1)
    cfg = OptimConfig("adagrad", 0.1)
    fast, ref = step.TrainState.fresh(params, B), step.TrainState.fresh(copy.deepcopy(params), B)
    losses = engine.train_chunk(fast, data, n, T, 5.0, cfg, reset_id=END)
    ref_losses = step.reference_chunk(ref, data, n, T, 5.0, cfg, reset_id=END)
    assert rel_err(losses, ref_losses) < 1e-10
    for k in rnn.PARAM_NAMES:
        assert rel_err(fast.params[k], ref.params[k]) < 1e-10, k
    assert rel_err(fast.h, ref.h) < 1e-10
    assert fast.best_x == ref.best_x and fast.pointer == ref.pointer == n * T


def test_text_loss_with_resets_matches_reference():
    rng = np.random.default_rng(4)
    params = random_params(8, 6, rng)
    ids = document_ids(rng, 8, 300, 5)
    nats, count = engine.text_loss(params, ids, chunk=7, reset_id=END)
    ref, ref_count = rnn.text_loss(params, ids, chunk=50, reset_id=END)
    assert count == ref_count == 299
    assert abs(nats - ref) <= 1e-12 * ref
    assert abs(engine.text_loss(params, ids)[0] - ref) > 1e-6


def test_synthesize_stops_like_reference():
    rng = np.random.default_rng(6)
    params = random_params(5, 4, rng)
    params["c"][END] = 1.5
    for seed in range(5):
        a = engine.synthesize(params, np.zeros(4), END, 40, np.random.default_rng(seed), stop=END)
        b = sampling.synthesize(params, np.zeros(4), END, 40, np.random.default_rng(seed), stop=END)
        assert np.array_equal(a, b) and a[-1] == END and (a[:-1] != END).all()

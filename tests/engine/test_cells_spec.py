"""The compiled GRU and LSTM stacks against the readable float64 spec (nn/):
losses, gradients, states, training chunks, text loss and sampling."""

import copy

import numpy as np
import pytest

from charnn.engine import cells

arch = pytest.importorskip("charnn.nn.arch")
from charnn.nn import optim, sampling, stack, step  # noqa: E402


def spec_params(cell, K, m, layers, seed):
    rng = np.random.default_rng(seed)
    params = arch.init_params(K, m, rng, cell=cell, layers=layers)
    for k in params:
        if k[0] in "bc":
            params[k] = params[k] + 0.2 * rng.standard_normal(params[k].shape)
    return params


def rel_err(a, b) -> float:
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("layers,B", [(1, 1), (2, 3), (3, 2)])
def test_loss_and_grads_match_the_spec(cell, layers, B):
    K, m, T = 9, 7, 11
    params = spec_params(cell, K, m, layers, seed=layers * 10 + B)
    rng = np.random.default_rng(B)
    X, Y = rng.integers(0, K, (B, T)), rng.integers(0, K, (B, T))
    h = 0.5 * np.tanh(rng.standard_normal((B, cells.state_size(params))))
    loss, grads, st = cells.loss_and_grads(params, X, Y, h)
    ref_loss, ref_grads, ref_st = step.batch_loss_and_grads(params, X, Y, h)
    assert abs(loss - ref_loss) < 1e-12 * ref_loss
    assert sorted(grads) == sorted(ref_grads)
    for k in grads:
        assert rel_err(grads[k], ref_grads[k]) < 1e-12, k
    assert rel_err(st, ref_st) < 1e-13


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_train_chunk_matches_reference_chunk(cell):
    params = spec_params(cell, 8, 6, 2, seed=1)
    data = np.random.default_rng(2).integers(0, 8, (2, 4 * 7 + 1))
    cfg = optim.OptimConfig("adam", lr=0.01)
    fast = step.TrainState.fresh(copy.deepcopy(params), 2)
    ref = step.TrainState.fresh(params, 2)
    got = cells.train_chunk(fast, data, 4, 7, 1.0, cfg)
    want = step.reference_chunk(ref, data, 4, 7, 1.0, cfg)
    assert np.max(np.abs(got - want)) < 1e-12 * np.max(want)
    for k in params:
        assert rel_err(fast.params[k], ref.params[k]) < 1e-11, k
    assert rel_err(fast.h, ref.h) < 1e-11 and rel_err(fast.best_h, ref.best_h) < 1e-12
    assert (fast.update, fast.best_update, fast.best_x) == (ref.update, ref.best_update, ref.best_x)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_text_loss_and_sampling_match_the_spec(cell):
    params = spec_params(cell, 10, 6, 2, seed=3)
    ids = np.random.default_rng(4).integers(0, 10, 50)
    state = 0.2 * np.ones(cells.state_size(params))
    nats, n = cells.text_loss(params, ids, state, chunk=16)
    ref_nats, ref_n = stack.text_loss(params, ids, state, chunk=20)
    assert n == ref_n and abs(nats - ref_nats) < 1e-12 * ref_nats
    a = cells.synthesize(params, state, 2, 80, np.random.default_rng(6), top_p=0.9)
    b = sampling.synthesize(params, state, 2, 80, np.random.default_rng(6), top_p=0.9)
    assert np.array_equal(a, b)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("B", [1, 3])
def test_document_resets_match_the_spec(cell, B):
    K, END, T = 9, 0, 12
    params = spec_params(cell, K, 7, 2, seed=B + 20)
    rng = np.random.default_rng(B + 30)
    data = rng.integers(0, K, (B, 3 * T + 1))
    data[rng.random(data.shape) < 0.15] = END
    data[0, 0] = END  # a reset at the very first step, too
    X, Y = data[:, :T], data[:, 1 : T + 1]
    h = 0.5 * np.tanh(rng.standard_normal((B, cells.state_size(params))))
    loss, grads, st = cells.loss_and_grads(params, X, Y, h, reset_id=END)
    ref = step.batch_loss_and_grads(params, X, Y, h, reset_id=END)
    assert abs(loss - ref[0]) < 1e-12 * ref[0] and rel_err(st, ref[2]) < 1e-13
    for k in grads:
        assert rel_err(grads[k], ref[1][k]) < 1e-12, k
    cfg = optim.OptimConfig("adagrad", lr=0.05)
    fast = step.TrainState.fresh(copy.deepcopy(params), B)
    slow = step.TrainState.fresh(copy.deepcopy(params), B)
    got = cells.train_chunk(fast, data, 3, T, 5.0, cfg, reset_id=END)
    want = step.reference_chunk(slow, data, 3, T, 5.0, cfg, reset_id=END)
    assert np.max(np.abs(got - want)) < 1e-12 * np.max(want)
    for k in params:
        assert rel_err(fast.params[k], slow.params[k]) < 1e-11, k
    nats, _ = cells.text_loss(params, data[0], chunk=5, reset_id=END)
    assert abs(nats - stack.text_loss(params, data[0], reset_id=END)[0]) < 1e-12 * nats


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("layers,m", [(1, 5), (3, 6)])
def test_text_loss_any_block_size_matches_the_spec(cell, layers, m):
    # m = 5, 6: the recurrence's rows of W^T in fours leave a remainder
    params = spec_params(cell, 11, m, layers, seed=m + layers)
    rng = np.random.default_rng(9)
    ids = rng.integers(0, 11, 601)
    state = 0.4 * np.tanh(rng.standard_normal(cells.state_size(params)))
    ref, ref_n = stack.text_loss(params, ids, state)
    for chunk in (1, 7, 256, 5000):
        nats, n = cells.text_loss(params, ids, state, chunk=chunk)
        assert n == ref_n == 600 and abs(nats - ref) < 1e-12 * ref, chunk
    p32 = {k: v.astype(np.float32) for k, v in params.items()}
    nats32, _ = cells.text_loss(p32, ids, state, chunk=64, dtype=None)
    assert abs(nats32 - ref) < 1e-5 * ref


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("layers", [1, 2])
def test_prime_matches_the_spec(cell, layers):
    params = spec_params(cell, 9, 6, layers, seed=40 + layers)
    rng = np.random.default_rng(41)
    ids = rng.integers(0, 9, 600)
    state = 0.5 * np.tanh(rng.standard_normal(cells.state_size(params)))
    for n in (1, 2, 600):  # 599 steps: three blocks of the forward-only pass
        got, x = cells.prime(params, state, ids[:n])
        want, ref_x = sampling.prime(params, state, ids[:n])
        assert x == ref_x == ids[n - 1] and got.shape == want.shape
        assert rel_err(got, want) < 1e-12, n
    assert np.array_equal(cells.prime(params, None, ids[:1])[0], np.zeros_like(state))
    with pytest.raises(ValueError, match="at least one"):
        cells.prime(params, state, ids[:0])

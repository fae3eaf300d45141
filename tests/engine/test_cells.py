"""The compiled GRU and LSTM stacks against PyTorch float64 autograd."""

import numpy as np
import pytest

from charnn.engine import cells

from .torch_judge import loss_and_grads as torch_loss_and_grads
from .torch_judge import random_params

# (cell, K, m, layers, T, B): B = 1 steps with the compiled matvec, B > 1
# with BLAS; m = 5 leaves a remainder for the 4-row matvec.
CASES = [
    (c, *case)
    for c in ("lstm", "gru")
    for case in [
        (7, 5, 1, 4, 1),
        (7, 5, 2, 6, 1),
        (9, 8, 2, 5, 3),
        (5, 12, 3, 3, 2),
        (11, 6, 1, 9, 4),
    ]
]


def rel_err(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def case_data(cell, K, m, layers, T, B, seed):
    rng = np.random.default_rng(seed)
    params = random_params(cell, K, m, layers, rng)
    X, Y = rng.integers(0, K, (B, T)), rng.integers(0, K, (B, T))
    state = 0.5 * np.tanh(rng.standard_normal((B, cells.state_size(params))))
    return params, X, Y, state


@pytest.mark.parametrize("cell,K,m,layers,T,B", CASES)
def test_loss_grads_state_match_torch_float64(cell, K, m, layers, T, B):
    params, X, Y, state = case_data(cell, K, m, layers, T, B, seed=K * m + T)
    loss, grads, st = cells.loss_and_grads(params, X, Y, state)
    ref_loss, ref_grads, ref_st = torch_loss_and_grads(cell, params, X, Y, state)
    assert abs(loss - ref_loss) <= 1e-12 * abs(ref_loss)
    assert sorted(grads) == sorted(ref_grads)
    for k in grads:
        assert rel_err(grads[k], ref_grads[k]) < 1e-12, k
    assert rel_err(st, ref_st) < 1e-13


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("B", [1, 4])
def test_float32_follows_float64(cell, B):
    params, X, Y, state = case_data(cell, 13, 16, 2, 20, B, seed=3)
    loss, grads, st = cells.loss_and_grads(params, X, Y, state)
    p32 = {k: v.astype(np.float32) for k, v in params.items()}
    loss32, grads32, st32 = cells.loss_and_grads(p32, X, Y, state)
    assert grads32["W1"].dtype == np.float32 and st32.dtype == np.float32
    assert abs(loss32 - loss) < 2e-5 * loss
    for k in grads:
        assert rel_err(grads32[k], grads[k]) < 5e-4, k
    assert rel_err(st32, st) < 1e-5


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_zero_state_by_default(cell):
    params, X, Y, _ = case_data(cell, 7, 5, 2, 4, 2, seed=5)
    zero = np.zeros((2, cells.state_size(params)))
    assert cells.loss_and_grads(params, X, Y)[0] == cells.loss_and_grads(params, X, Y, zero)[0]
    ref = torch_loss_and_grads(cell, params, X, Y, zero)[0]
    assert abs(cells.loss_and_grads(params, X, Y)[0] - ref) < 1e-12 * ref


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("chunk", [1, 7, 64])
def test_text_loss_is_the_sequence_loss(cell, chunk):
    params, _, _, _ = case_data(cell, 9, 8, 2, 1, 1, seed=6)
    ids = np.random.default_rng(7).integers(0, 9, 40)
    state = 0.3 * np.ones(cells.state_size(params))
    nats, n = cells.text_loss(params, ids, state, chunk=chunk)
    ref = torch_loss_and_grads(cell, params, ids[None, :-1], ids[None, 1:], state[None])[0]
    assert n == 39 and abs(nats - ref) < 1e-12 * ref
    nats32, _ = cells.text_loss(params, ids, state, chunk=chunk, dtype=np.float32)
    assert abs(nats32 - ref) < 1e-5 * ref


def test_describe_and_names():
    p = random_params("gru", 7, 5, 3, np.random.default_rng(0))
    assert cells.describe(p) == ("gru", 1, 7, 5, 3)
    assert cells.param_names("gru", 2) == ["W", "U", "b", "bn", "W1", "U1", "b1", "bn1", "V", "c"]
    assert cells.state_size(p) == 15
    with pytest.raises(ValueError, match="not a GRU or LSTM"):
        cells.describe({"W": np.zeros((10, 5)), "V": np.zeros((7, 5))})

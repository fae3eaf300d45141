"""The reference training updates: golden losses, learning, batches, best model."""

import math

import numpy as np
import pytest

from charnn import Vocab
from charnn.nn import optim, rnn, stack, step
from charnn.nn.step import TrainState
from conftest import TEXT

# The first 10 losses of the seed's algorithm (m=16, T=25, AdaGrad lr 0.1,
# clip 5, init seed 42) on TEXT, computed once by the reference: refactors
# must not change the math.
GOLDEN = [
    82.39160585883168,
    81.3461420059943,
    74.43570370455112,
    81.44327223125649,
    81.08122596530568,
    75.93527794340868,
    74.5077803860338,
    61.58551132979458,
    75.12803101506263,
    61.675760877448965,
]


def setup(m=16, B=1, seed=42):
    v = Vocab.from_text(TEXT)
    ids = v.encode(TEXT)
    L = len(ids) // B
    params = rnn.init_params(v.size, m, np.random.default_rng(seed))
    return TrainState.fresh(params, B), ids[: B * L].reshape(B, L)


def test_golden_first_losses():
    st, data = setup()
    losses = step.reference_chunk(st, data, 10, 25, 5.0, optim.OptimConfig())
    np.testing.assert_allclose(losses, GOLDEN, rtol=1e-12)
    assert st.update == 10 and st.pointer == 250


def test_first_loss_is_smooth_start_and_smoothing_formula():
    st, data = setup()
    losses = step.reference_chunk(st, data, 5, 25, 5.0, optim.OptimConfig())
    s = losses[0]
    for loss in losses[1:]:
        s = 0.999 * s + 0.001 * loss
    assert st.smooth == pytest.approx(s, rel=1e-15)


def test_loss_falls_on_repetitive_text():
    st, data = setup(m=32)
    T, L = 25, data.shape[1]
    first = None
    for _ in range(40):
        if step.updates_left_in_epoch(st.pointer, L, T) == 0:
            st.start_epoch()
        n = step.updates_left_in_epoch(st.pointer, L, T)
        losses = step.reference_chunk(st, data, n, T, 5.0, optim.OptimConfig())
        first = losses[0] if first is None else first
    assert losses.mean() < 0.25 * first


def test_hidden_state_carried_then_reset_at_epoch():
    st, data = setup()
    step.reference_chunk(st, data, 2, 25, 5.0, optim.OptimConfig())
    assert np.abs(st.h).sum() > 0
    # the carried state is the last hidden state of the previous sequence
    p = {k: v.copy() for k, v in st.params.items()}
    h_before = st.h.copy()
    _, _, h_last = rnn.loss_and_grads(p, data[0, 50:75], data[0, 51:76], h_before[0])
    step.reference_chunk(st, data, 1, 25, 5.0, optim.OptimConfig())
    np.testing.assert_array_equal(st.h[0], h_last)
    st.start_epoch()
    assert st.pointer == 0 and not st.h.any() and st.epoch == 1


def test_updates_per_epoch():
    assert step.updates_per_epoch(26, 25) == 1
    assert step.updates_per_epoch(25, 25) == 0
    assert step.updates_per_epoch(1376, 25) == 55  # p = 0, 25, ..., 1350
    assert step.updates_left_in_epoch(50, 76, 25) == 1
    assert step.updates_left_in_epoch(75, 76, 25) == 0


def test_batch_loss_is_mean_of_streams():
    st, data = setup(B=2)
    X, Y = data[:, :25], data[:, 1:26]
    loss, grads, h_last = step.batch_loss_and_grads(st.params, X, Y, st.h)
    l0, g0, _ = rnn.loss_and_grads(st.params, X[0], Y[0], st.h[0])
    l1, g1, _ = rnn.loss_and_grads(st.params, X[1], Y[1], st.h[1])
    assert loss == pytest.approx((l0 + l1) / 2)
    np.testing.assert_allclose(grads["W"], (g0["W"] + g1["W"]) / 2)
    assert h_last.shape == (2, 16)


def test_best_model_is_kept_at_min_smooth():
    st, data = setup()
    before = {k: v.copy() for k, v in st.params.items()}
    step.reference_chunk(st, data, 1, 25, 5.0, optim.OptimConfig())
    # after one update the best model is the one that produced that loss
    assert st.best_update == 0 and st.best_smooth == st.smooth
    assert all(np.array_equal(st.best_params[k], before[k]) for k in before)
    assert st.best_x == int(data[0, 25])


def test_non_finite_loss_stops_before_update():
    st, data = setup()
    st.params["W"][0, 0] = math.nan
    w = st.params["V"].copy()
    losses = step.reference_chunk(st, data, 3, 25, 5.0, optim.OptimConfig())
    assert len(losses) == 0 and st.update == 0
    np.testing.assert_array_equal(st.params["V"], w)


def test_chunk_past_epoch_end_is_refused():
    st, data = setup()
    with pytest.raises(ValueError, match="end the epoch first"):
        step.reference_chunk(st, data, 56, 25, 5.0, optim.OptimConfig())


def gated_setup(cell, layers, B, m=8, seed=7):
    v = Vocab.from_text(TEXT)
    ids = v.encode(TEXT)
    L = len(ids) // B
    params = stack.init_params(v.size, m, np.random.default_rng(seed), cell=cell, layers=layers)
    return TrainState.fresh(params, B), ids[: B * L].reshape(B, L)


@pytest.mark.parametrize("cell, layers", [("gru", 2), ("lstm", 2), ("rnn", 2)])
def test_every_cell_trains_and_carries_its_whole_state(cell, layers):
    st, data = gated_setup(cell, layers, B=2)
    S = stack.describe(st.params).state_size
    assert st.h.shape == (2, S) and st.best_h.shape == (S,)
    X, Y = data[:, 25:50], data[:, 26:51]
    step.reference_chunk(st, data, 1, 25, 5.0, optim.OptimConfig(name="adam", lr=0.01))
    p = {k: v.copy() for k, v in st.params.items()}
    loss, _, h_last = step.batch_loss_and_grads(p, X, Y, st.h)
    _, _, h1 = stack.loss_and_grads(p, X[1], Y[1], st.h[1])
    step.reference_chunk(st, data, 1, 25, 5.0, optim.OptimConfig(name="adam", lr=0.01))
    np.testing.assert_array_equal(st.h, h_last)
    np.testing.assert_array_equal(st.h[1], h1)
    cfg = optim.OptimConfig(name="adam", lr=0.05)
    for _ in range(4):  # the text repeats one verse: a working cell learns it
        st.start_epoch()
        losses = step.reference_chunk(
            st, data, step.updates_per_epoch(data.shape[1], 25), 25, 5.0, cfg
        )
    assert losses.mean() < 0.75 * loss


def test_dropout_draws_each_streams_masks_in_order():
    st, data = gated_setup("lstm", 3, B=2)
    X, Y = data[:, :10], data[:, 1:11]
    loss, grads, _ = step.batch_loss_and_grads(st.params, X, Y, st.h, 0.3, np.random.default_rng(5))
    again = np.random.default_rng(5)
    expect = [
        stack.loss_and_grads(
            st.params, X[s], Y[s], st.h[s], stack.dropout_masks(again, 0.3, 3, 10, 8)
        )
        for s in range(2)
    ]
    assert loss == (expect[0][0] + expect[1][0]) / 2
    np.testing.assert_array_equal(grads["U2"], (expect[0][1]["U2"] + expect[1][1]["U2"]) / 2)
    plain = step.batch_loss_and_grads(st.params, X, Y, st.h)[0]
    assert loss != pytest.approx(plain, rel=1e-6)
    with pytest.raises(ValueError, match="rng"):
        step.reference_chunk(st, data, 1, 10, 5.0, optim.OptimConfig(), dropout=0.3)

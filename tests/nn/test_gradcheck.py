"""The gradient check for every cell and depth: the rows it reports (the
initial states included), that they pass, and that it catches a wrong one."""

import numpy as np
import pytest

from charnn import Vocab
from charnn.nn import gradcheck, gru, lstm, stack
from conftest import TEXT


@pytest.mark.parametrize(
    "cell, layers, states",
    [
        ("rnn", 1, ["h0"]),
        ("rnn", 2, ["h0", "h0_1"]),
        ("gru", 2, ["h0", "h0_1"]),
        ("lstm", 1, ["h0", "c0"]),
        ("lstm", 2, ["h0", "c0", "h0_1", "c0_1"]),
    ],
)
def test_check_on_text_every_entry_passes(cell, layers, states):
    v = Vocab.from_text(TEXT)
    rows, T = gradcheck.check_on_text(v, TEXT, 4, 8, seed=3, cell=cell, layers=layers)
    shapes = stack.param_shapes(v.size, 4, cell, layers)
    assert T == 8 and [r.name for r in rows] == list(shapes) + states
    for r in rows:
        assert r.shape == shapes.get(r.name, (4,)) and r.checked == int(np.prod(r.shape))
        assert r.passed and r.max_rel < 1e-6, r


def test_seed_rnn_rows_are_the_seeds():
    rows, _ = gradcheck.check_on_text(Vocab.from_text(TEXT), TEXT, 5, 10, seed=0)
    assert [r.name for r in rows] == ["W", "U", "V", "b", "c", "h0"]
    assert max(r.max_rel for r in rows) < 1e-6


@pytest.mark.parametrize("cell, module", [("gru", gru), ("lstm", lstm)])
def test_catches_a_wrong_gradient(rng, monkeypatch, cell, module):
    params = stack.init_params(6, 4, rng, cell=cell, layers=2)
    S = stack.describe(params).state_size
    x, y, s0 = rng.integers(0, 6, 5), rng.integers(0, 6, 5), rng.uniform(-0.5, 0.5, S)
    real = module.layer_backward

    def broken(p, cache, dH, resets=None):
        g, dUX, ds0 = real(p, cache, dH, resets)
        return g, dUX, ds0 * 1.01

    monkeypatch.setattr(module, "layer_backward", broken)
    rows = {r.name: r for r in gradcheck.check(params, x, y, s0, rng)}
    assert not rows["h0"].passed and not rows["h0_1"].passed
    assert rows["W"].passed and rows["V"].passed


def test_numerical_grad_restores_what_it_perturbs(rng):
    params = stack.init_params(5, 3, rng, cell="lstm", layers=2)
    s0 = rng.uniform(-0.5, 0.5, 12)
    before, s_before = {k: v.copy() for k, v in params.items()}, s0.copy()
    x = rng.integers(0, 5, 4)
    gradcheck.numerical_grad(params, "c0_1", (2,), x, x, s0)
    gradcheck.numerical_grad(params, "U1", (3, 1), x, x, s0)
    assert np.array_equal(s0, s_before)
    assert all(np.array_equal(params[k], before[k]) for k in params)

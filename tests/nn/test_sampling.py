"""Sampling: exact categorical draws, temperature, top-k, nucleus, priming."""

import numpy as np
import pytest

from charnn import init_params, synthesize
from charnn.nn import rnn, sampling, stack


@pytest.fixture
def params(rng):
    p = init_params(9, 6, rng, sig=0.8)
    p["c"] = rng.normal(0, 1.0, 9)
    return p


def greedy_path(params, h, x, n):
    out = []
    for _ in range(n):
        h, o = rnn.step(params, h, x)
        x = int(np.argmax(o))
        out.append(x)
    return out


def test_temperature_zero_is_argmax(params):
    ids = synthesize(params, np.zeros(6), 0, 40, np.random.default_rng(0), temperature=0)
    assert ids.tolist() == greedy_path(params, np.zeros(6), 0, 40)


@pytest.mark.parametrize("temperature", [1e-300, 5e-324, 1e-12])
def test_tiny_temperature_is_argmax_never_nan(params, temperature):
    ids = synthesize(params, np.zeros(6), 0, 40, np.random.default_rng(0), temperature)
    assert ids.tolist() == greedy_path(params, np.zeros(6), 0, 40)
    o = np.array([-3.0, -1.0, -2.0])  # all negative: o / t is -inf everywhere
    assert sampling.choose(o, 0.99, temperature=1e-320) == 1


def test_tiny_top_p_is_argmax(params):
    ids = synthesize(params, np.zeros(6), 3, 40, np.random.default_rng(5), top_p=1e-9)
    assert ids.tolist() == greedy_path(params, np.zeros(6), 3, 40)


def test_top_k_one_is_argmax(params):
    ids = synthesize(params, np.zeros(6), 3, 40, np.random.default_rng(5), top_k=1)
    assert ids.tolist() == greedy_path(params, np.zeros(6), 3, 40)


def test_defaults_change_nothing(params):
    a = synthesize(params, np.zeros(6), 1, 200, np.random.default_rng(7))
    b = synthesize(
        params, np.zeros(6), 1, 200, np.random.default_rng(7), temperature=1.0, top_k=0, top_p=1.0
    )
    c = synthesize(params, np.zeros(6), 1, 200, np.random.default_rng(7), top_k=9)
    assert a.tolist() == b.tolist() == c.tolist()


def test_same_seed_same_text(params):
    a = synthesize(params, np.zeros(6), 1, 100, np.random.default_rng(3))
    b = synthesize(params, np.zeros(6), 1, 100, np.random.default_rng(3))
    d = synthesize(params, np.zeros(6), 1, 100, np.random.default_rng(4))
    assert a.tolist() == b.tolist() and a.tolist() != d.tolist()


@pytest.mark.slow
def test_choose_draws_from_p_exactly():
    """Empirical frequencies over 200k draws match p within 5 standard errors."""
    p = np.array([0.5, 0.05, 0.2, 0.0, 0.25])
    o = np.log(np.where(p > 0, p, 1e-300))
    u = np.random.default_rng(11).random(200_000)
    counts = np.bincount([sampling.choose(o, x) for x in u], minlength=5)
    freq = counts / len(u)
    se = np.sqrt(p * (1 - p) / len(u))
    assert counts[3] == 0
    assert np.all(np.abs(freq - p) <= 5 * se + 1e-12)


def test_filter_top_k_and_top_p():
    p = np.array([0.1, 0.4, 0.3, 0.2])
    assert sampling.filter_probs(p, top_k=2).tolist() == [0, 0.4, 0.3, 0]
    assert sampling.filter_probs(p, top_p=0.7).tolist() == [0, 0.4, 0.3, 0]
    assert sampling.filter_probs(p, top_p=0.71).tolist() == [0, 0.4, 0.3, 0.2]
    assert sampling.filter_probs(p, top_k=3, top_p=0.5).tolist() == [0, 0.4, 0.3, 0]
    ties = np.array([0.25, 0.25, 0.25, 0.25])
    assert sampling.filter_probs(ties, top_k=1).tolist() == [0.25, 0, 0, 0]


def test_temperature_sharpens():
    o = np.array([1.0, 2.0, 3.0])
    u = np.random.default_rng(2).random(20_000)
    cold = np.bincount([sampling.choose(o, x, temperature=0.3) for x in u], minlength=3)
    hot = np.bincount([sampling.choose(o, x, temperature=3.0) for x in u], minlength=3)
    assert cold[2] > hot[2] and cold[0] < hot[0]


@pytest.mark.parametrize(
    "kw",
    [
        {"temperature": -1},
        {"top_k": -1},
        {"top_p": 0},
        {"top_p": 1.5},
        {"temperature": float("nan")},
    ],
)
def test_bad_options(params, kw):
    with pytest.raises(ValueError):
        synthesize(params, np.zeros(6), 0, 5, np.random.default_rng(0), **kw)


def test_prime_runs_all_but_last(params):
    h, x = sampling.prime(params, np.zeros(6), np.array([2, 5, 7]))
    h1, _ = rnn.step(params, np.zeros(6), 2)
    h2, _ = rnn.step(params, h1, 5)
    assert x == 7 and np.allclose(h, h2)


@pytest.mark.parametrize("cell, layers", [("gru", 2), ("lstm", 2)])
def test_every_cell_samples_from_its_whole_state(rng, cell, layers):
    """Each character is drawn by `choose` from the logits of `stack.step`,
    one uniform per character, the state (S,) carried through every layer."""
    p = stack.init_params(9, 6, rng, sig=0.8, cell=cell, layers=layers)
    s0 = rng.uniform(-0.5, 0.5, stack.describe(p).state_size)
    ids = sampling.synthesize(p, s0, 4, 60, np.random.default_rng(11), temperature=0.9)
    u, s, x, expect = np.random.default_rng(11).random(60), s0, 4, []
    for i in range(60):
        s, o = stack.step(p, s, x)
        x = sampling.choose(o, u[i], temperature=0.9)
        expect.append(x)
    assert ids.tolist() == expect and len(set(expect)) > 3
    h, last = sampling.prime(p, s0, np.array([1, 2, 3]))
    s1, _ = stack.step(p, stack.step(p, s0, 1)[0], 2)
    assert last == 3 and np.array_equal(h, s1)
    other = sampling.synthesize(p, np.zeros_like(s0), 4, 60, np.random.default_rng(11), 0.9)
    assert other.tolist() != ids.tolist()

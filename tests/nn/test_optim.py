"""Optimizer formulas and clipping, each against the written rule."""

import numpy as np
import pytest

from charnn.nn import optim


def one_param(value, grad):
    return {"w": np.array(value, dtype=float)}, {"w": np.array(grad, dtype=float)}


def test_adagrad_two_steps():
    p, g = one_param([1.0, -2.0], [0.5, -4.0])
    cfg = optim.OptimConfig("adagrad", lr=0.1, eps=1e-8)
    s = optim.init_state(p)
    optim.apply_(p, g, s, cfg)
    optim.apply_(p, g, s, cfg)
    # v1 = g^2, v2 = 2 g^2: w -= 0.1 g / sqrt(g^2 + eps) + 0.1 g / sqrt(2 g^2 + eps)
    exp = np.array([1.0, -2.0]) - 0.1 * np.array([0.5, -4.0]) * (
        1 / np.sqrt(np.array([0.25, 16]) + 1e-8) + 1 / np.sqrt(np.array([0.5, 32]) + 1e-8)
    )
    np.testing.assert_allclose(p["w"], exp, rtol=1e-15)
    np.testing.assert_allclose(s["v"]["w"], [0.5, 32.0])


def test_rmsprop_step():
    p, g = one_param([0.0], [2.0])
    s = optim.init_state(p)
    optim.apply_(p, g, s, optim.OptimConfig("rmsprop", lr=0.01, eps=1e-8, rho=0.9))
    assert s["v"]["w"][0] == pytest.approx(0.4)
    assert p["w"][0] == pytest.approx(-0.01 * 2 / np.sqrt(0.4 + 1e-8))


def test_adam_first_step_is_lr_sign():
    p, g = one_param([0.0, 0.0], [3.0, -0.2])
    s = optim.init_state(p)
    optim.apply_(p, g, s, optim.OptimConfig("adam", lr=0.001, eps=1e-8))
    # bias correction makes the first step lr * g / (|g| + eps)
    np.testing.assert_allclose(p["w"], [-0.001 * 3 / (3 + 1e-8), 0.001 * 0.2 / (0.2 + 1e-8)])
    assert s["t"] == 1


def test_adam_second_step():
    p, g = one_param([0.0], [1.0])
    s = optim.init_state(p)
    cfg = optim.OptimConfig("adam", lr=0.1, eps=0.0, beta1=0.5, beta2=0.75)
    optim.apply_(p, g, s, cfg)
    g["w"][0] = 3.0
    optim.apply_(p, g, s, cfg)
    m = 0.5 * 0.5 + 0.5 * 3.0  # 1.75
    v = 0.75 * 0.25 + 0.25 * 9.0  # 2.4375
    step2 = 0.1 * (m / (1 - 0.25)) / np.sqrt(v / (1 - 0.5625))
    assert p["w"][0] == pytest.approx(-0.1 - step2, rel=1e-14)


def test_clip_elementwise_and_off():
    g = {"a": np.array([-7.0, 3.0, 9.0])}
    optim.clip_(g, 5.0)
    assert g["a"].tolist() == [-5.0, 3.0, 5.0]
    g = {"a": np.array([-7.0, 9.0])}
    optim.clip_(g, 0.0)
    assert g["a"].tolist() == [-7.0, 9.0]


def test_unknown_optimizer():
    p, g = one_param([0.0], [1.0])
    with pytest.raises(ValueError, match="unknown optimizer"):
        optim.apply_(p, g, optim.init_state(p), optim.OptimConfig("sgdx"))

"""Training chunks and sampling of the compiled gated stacks, against a
reference loop built from PyTorch float64 gradients and the spec's
optimizers, tracking and sampling rule."""

import copy
import math

import numpy as np
import pytest

from charnn.engine import cells
from charnn.nn import optim, sampling, step

from .torch_judge import loss_and_grads as torch_loss_and_grads
from .torch_judge import random_params, torch, torch_net, torch_state


def fresh_state(params, B):
    S = cells.state_size(params)
    dtype = params["W"].dtype
    return step.TrainState(
        params=params,
        opt=optim.init_state(params),
        h=np.zeros((B, S), dtype=dtype),
        best_params={k: v.copy() for k, v in params.items()},
        best_h=np.zeros(S, dtype=dtype),
    )


def reference_chunk(cell, state, data, n, T, clip, cfg):
    """The reference chunk of nn.step with PyTorch's gradients."""
    losses = []
    for _ in range(n):
        p = state.pointer
        X, Y = data[:, p : p + T], data[:, p + 1 : p + T + 1]
        loss, grads, h_last = torch_loss_and_grads(cell, state.params, X, Y, state.h)
        if not math.isfinite(loss):
            break
        step.track(state, loss, h_last[0], Y[0, -1])
        optim.clip_(grads, clip)
        optim.apply_(state.params, grads, state.opt, cfg)
        state.h[...] = h_last
        state.pointer += T
        state.update += 1
        losses.append(loss)
    return np.array(losses)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("B,name", [(1, "adam"), (3, "adagrad"), (2, "rmsprop")])
def test_train_chunk_matches_reference_loop(cell, B, name):
    rng = np.random.default_rng(B)
    params = random_params(cell, 9, 8, 2, rng, scale=0.3)
    data = rng.integers(0, 9, (B, 5 * 6 + 1))
    cfg = optim.OptimConfig(name=name, lr=0.05)
    fast, ref = fresh_state(copy.deepcopy(params), B), fresh_state(params, B)
    got = np.concatenate(
        [
            cells.train_chunk(fast, data, 2, 6, 0.5, cfg),
            cells.train_chunk(fast, data, 3, 6, 0.5, cfg),
        ]
    )
    want = reference_chunk(cell, ref, data, 5, 6, 0.5, cfg)
    assert np.max(np.abs(got - want)) < 1e-11 * np.max(want)
    for k in params:
        assert np.max(np.abs(fast.params[k] - ref.params[k])) < 1e-11, k
        assert np.max(np.abs(fast.opt["v"][k] - ref.opt["v"][k])) < 1e-11, k
        assert np.max(np.abs(fast.best_params[k] - ref.best_params[k])) < 1e-11, k
    assert np.max(np.abs(fast.h - ref.h)) < 1e-11
    assert np.max(np.abs(fast.best_h - ref.best_h)) < 1e-12
    assert (fast.pointer, fast.update, fast.opt["t"]) == (30, 5, 5)
    assert (fast.best_x, fast.best_update) == (ref.best_x, ref.best_update)
    assert fast.smooth == pytest.approx(ref.smooth, rel=1e-13)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_train_chunk_float32_and_nonfinite_stop(cell):
    rng = np.random.default_rng(4)
    params = {k: v.astype(np.float32) for k, v in random_params(cell, 7, 8, 2, rng).items()}
    data = rng.integers(0, 7, (2, 4 * 5 + 1))
    state = fresh_state(params, 2)
    losses = cells.train_chunk(state, data, 2, 5, 5.0, optim.OptimConfig("adam", lr=0.01))
    assert losses.shape == (2,) and state.params["W1"].dtype == np.float32
    assert np.all(np.isfinite(losses)) and state.pointer == 10
    state.params["V"][0, 0] = np.inf
    before = {k: v.copy() for k, v in state.params.items()}
    assert cells.train_chunk(state, data, 2, 5, 5.0, optim.OptimConfig()).size == 0
    assert state.pointer == 10 and state.update == 2
    for k in before:
        assert np.array_equal(state.params[k], before[k], equal_nan=True)


def test_train_chunk_refuses_to_cross_the_epoch():
    params = random_params("gru", 5, 4, 1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="end the epoch"):
        cells.train_chunk(
            fresh_state(params, 1), np.zeros((1, 10), int), 2, 5, 5.0, optim.OptimConfig()
        )


def torch_synthesize(cell, params, state0, x0, u, **opts):
    """One step of nn.LSTM / nn.GRU at a time, then the spec's choose."""
    layers = 1 + sum(1 for k in params if k.startswith("W") and k != "W")
    m, K = params["W"].shape[1], params["V"].shape[0]
    net, V, c = torch_net(cell, params, layers)
    hidden = torch_state(cell, state0[None], layers, m)
    x, out = x0, []
    with torch.no_grad():
        for ui in u:
            inp = torch.nn.functional.one_hot(torch.tensor([[x]]), K).double()
            top, hidden = net(inp, hidden)
            o = (V @ top[0, 0] + c).numpy()
            x = int(sampling.choose(o, ui, **opts))
            out.append(x)
    return np.array(out)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("opts", [{}, {"temperature": 0.7, "top_k": 3}, {"top_p": 0.8}])
def test_synthesize_draws_the_reference_ids(cell, opts):
    rng = np.random.default_rng(8)
    params = random_params(cell, 11, 6, 2, rng)
    state0 = 0.5 * np.tanh(rng.standard_normal(cells.state_size(params)))
    ids = cells.synthesize(params, state0, 3, 60, np.random.default_rng(5), **opts)
    u = np.random.default_rng(5).random(60)
    assert np.array_equal(ids, torch_synthesize(cell, params, state0, 3, u, **opts))
    assert len(set(ids.tolist())) > 2

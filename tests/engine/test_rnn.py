"""The fast engine against the readable reference (model, updates, sampling)."""

import copy
import importlib
import math
import subprocess
import sys

import numpy as np
import pytest

from charnn import engine
from charnn.nn import rnn, sampling, step
from charnn.nn.optim import OPTIMIZERS, OptimConfig


def rel_err(a, b) -> float:
    """max|a - b| / max|b|, floored so that all-zero references compare absolutely."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def random_params(K, m, rng, sig=0.3):
    params = rnn.init_params(K, m, rng, sig=sig)
    params["b"] = 0.2 * rng.standard_normal(m)
    params["c"] = 0.2 * rng.standard_normal(K)
    return params


def cast(params, dtype):
    return {k: v.astype(dtype) for k, v in params.items()}


CASES = [(5, 4, 1, 1), (7, 6, 3, 1), (11, 8, 9, 3), (4, 5, 2, 4), (13, 16, 25, 2)]


@pytest.mark.parametrize("K,m,T,B", CASES)
def test_loss_and_grads_match_reference_float64(K, m, T, B):
    rng = np.random.default_rng(K * 100 + T)
    params = random_params(K, m, rng)
    X, Y = rng.integers(0, K, (B, T)), rng.integers(0, K, (B, T))
    h = np.tanh(rng.standard_normal((B, m)))
    loss, grads, h_last = engine.loss_and_grads(params, X, Y, h)
    ref_loss, ref_grads, ref_h = step.batch_loss_and_grads(params, X, Y, h)
    assert abs(loss - ref_loss) <= 1e-12 * abs(ref_loss)
    assert set(grads) == set(rnn.PARAM_NAMES)
    for k in rnn.PARAM_NAMES:
        assert grads[k].shape == params[k].shape
        assert rel_err(grads[k], ref_grads[k]) < 1e-12, k
    assert rel_err(h_last, ref_h) < 1e-12


@pytest.mark.parametrize("K,m,T,B", CASES[2:])
def test_loss_and_grads_float32_close_to_float64(K, m, T, B):
    rng = np.random.default_rng(7 + K)
    params = cast(cast(random_params(K, m, rng), np.float32), np.float64)
    X, Y = rng.integers(0, K, (B, T)), rng.integers(0, K, (B, T))
    h = np.tanh(rng.standard_normal((B, m))).astype(np.float32).astype(np.float64)
    loss, grads, h_last = engine.loss_and_grads(
        cast(params, np.float32), X, Y, h.astype(np.float32)
    )
    ref_loss, ref_grads, ref_h = step.batch_loss_and_grads(params, X, Y, h)
    assert grads["W"].dtype == np.float32 and h_last.dtype == np.float32
    assert abs(loss - ref_loss) <= 1e-5 * abs(ref_loss)
    for k in rnn.PARAM_NAMES:
        assert rel_err(grads[k], ref_grads[k]) < 1e-5, k
    assert rel_err(h_last, ref_h) < 1e-5


def make_run(B, K=13, m=10, T=5, n=20, seed=0):
    rng = np.random.default_rng(seed + B)
    params = random_params(K, m, rng)
    L = n * T + 1 + 3
    data = rng.integers(0, K, (B, L)).astype(np.uint16)
    return step.TrainState.fresh(params, B), data


def assert_states_match(state, ref, tol):
    for k in rnn.PARAM_NAMES:
        assert rel_err(state.params[k], ref.params[k]) < tol, k
        assert rel_err(state.best_params[k], ref.best_params[k]) < tol, k
        assert rel_err(state.opt["v"][k], ref.opt["v"][k]) < tol, k
        assert rel_err(state.opt["m"][k], ref.opt["m"][k]) < tol or not ref.opt["m"][k].any()
    assert rel_err(state.h, ref.h) < tol
    assert rel_err(state.best_h, ref.best_h) < tol
    assert abs(state.smooth - ref.smooth) <= tol * abs(ref.smooth)
    assert abs(state.best_smooth - ref.best_smooth) <= tol * abs(ref.best_smooth)
    assert (state.pointer, state.update, state.opt["t"]) == (ref.pointer, ref.update, ref.opt["t"])
    assert (state.best_x, state.best_update) == (ref.best_x, ref.best_update)


@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("B", [1, 3])
def test_each_update_matches_the_reference_from_the_same_state(name, B):
    """Per step, from identical states, the engine is the reference to ~1e-15.
    (Whole trajectories are not compared: AdaGrad amplifies round-off, so two
    correct implementations part ways within tens of updates.)"""
    ref, data = make_run(B)
    cfg = OptimConfig(name=name, lr=0.01)
    clip = 0.05
    _, g, _ = step.batch_loss_and_grads(ref.params, data[:, :5], data[:, 1:6], ref.h)
    assert max(np.abs(v).max() for v in g.values()) > clip  # the clip is active
    for _ in range(20):
        state = copy.deepcopy(ref)  # the engine starts each update from the reference's state
        loss = engine.train_chunk(state, data, 1, 5, clip, cfg)
        ref_loss = step.reference_chunk(ref, data, 1, 5, clip, cfg)
        assert loss.dtype == np.float64 and rel_err(loss, ref_loss) < 1e-13
        assert_states_match(state, ref, 1e-12)
    assert ref.best_update > 0


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_columns_of_unread_ids_move_only_where_the_rule_says(name):
    """AdaGrad skips the columns of U whose ids no stream read (zero gradient:
    theta and v stay, bit for bit); the other rules still decay their v."""
    state, data = make_run(1, K=13, T=5)
    data[:, :6] = [0, 1, 2, 1, 0, 3]
    before = copy.deepcopy(state)
    state.opt["v"]["U"][:] = 0.5  # a nonzero v, so that RMSProp visibly decays it
    before.opt["v"]["U"][:] = 0.5
    engine.train_chunk(state, data, 1, 5, 5.0, OptimConfig(name=name, lr=0.01))
    unread = np.arange(3, 13)  # the inputs are data[0, :5]
    same_theta = np.array_equal(state.params["U"][:, unread], before.params["U"][:, unread])
    same_v = np.array_equal(state.opt["v"]["U"][:, unread], before.opt["v"]["U"][:, unread])
    assert same_theta  # no gradient and no momentum yet: theta stays under every rule
    assert same_v == (name == "adagrad")
    assert not np.array_equal(state.params["U"][:, :3], before.params["U"][:, :3])


@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("B", [1, 2])
def test_chunks_carry_the_state_across_their_boundary(B, name):
    """B = 1 in float64 works on W and its optimizer state in padded rows
    (m = 10: 16 wide) within a chunk: what a chunk writes back and the next
    pads again is what one chunk carries on with."""
    ref, data = make_run(B)
    cfg = OptimConfig(name=name, lr=0.01)
    one = copy.deepcopy(ref)
    engine.train_chunk(one, data, 6, 5, 5.0, cfg)
    two = copy.deepcopy(ref)
    engine.train_chunk(two, data, 4, 5, 5.0, cfg)
    engine.train_chunk(two, data, 2, 5, 5.0, cfg)
    assert_states_match(two, one, 1e-300)  # the same kernel, split: bit for bit


def final_losses(train, seeds, updates=150):
    """Mean loss of the last 30 updates of short AdaGrad runs, one per seed."""
    out = []
    for seed in seeds:
        rng = np.random.default_rng(100 + seed)
        data = np.tile(rng.integers(0, 6, 40), 30)[None, :].astype(np.uint8)  # a repeating text
        params = rnn.init_params(6, 10, rng)
        state = step.TrainState.fresh(params, 1)
        losses = train(state, data, updates, 5, 5.0, OptimConfig(name="adagrad", lr=0.1))
        out.append(float(np.mean(losses[-30:])))
    return np.array(out)


def test_final_quality_over_seeds_agrees():
    """What the engine and the reference share over a whole run: the quality,
    seed by seed within a small tolerance and on average over seeds."""
    seeds = range(4)
    fast = final_losses(engine.train_chunk, seeds)
    ref = final_losses(step.reference_chunk, seeds)
    start = 5 * np.log(6)  # the loss of guessing uniformly, per sequence of 5
    assert np.all(fast < 0.7 * start) and np.all(ref < 0.7 * start)  # both learned
    assert abs(fast.mean() - ref.mean()) < 0.1 * start
    assert np.all(np.abs(fast - ref) < 0.25 * start)


def test_train_chunk_float32_tracks_float64(tmp_path):
    ref, data = make_run(2, seed=5)
    mm = np.memmap(tmp_path / "ids.bin", dtype=np.uint8, mode="w+", shape=data.shape)
    mm[...] = data
    mm.flush()
    mm = np.memmap(tmp_path / "ids.bin", dtype=np.uint8, mode="r", shape=data.shape)
    ref.params = cast(cast(ref.params, np.float32), np.float64)
    ref.best_params = copy.deepcopy(ref.params)
    state = step.TrainState.fresh(cast(ref.params, np.float32), 2)
    cfg = OptimConfig(name="adagrad", lr=0.02)
    ref_losses = step.reference_chunk(ref, data, 10, 5, 5.0, cfg)
    losses = engine.train_chunk(state, mm, 10, 5, 5.0, cfg)
    assert state.params["W"].dtype == np.float32
    assert rel_err(losses, ref_losses) < 1e-5
    assert rel_err(state.params["W"], ref.params["W"]) < 1e-4


def test_non_finite_loss_stops_before_the_update():
    state, data = make_run(1)
    state.params["W"][0, 0] = np.nan
    before = copy.deepcopy(state)
    losses = engine.train_chunk(state, data, 5, 5, 5.0, OptimConfig())
    assert len(losses) == 0
    for k in rnn.PARAM_NAMES:
        np.testing.assert_array_equal(state.params[k], before.params[k])
        np.testing.assert_array_equal(state.opt["v"][k], before.opt["v"][k])
    assert (state.pointer, state.update, state.opt["t"]) == (0, 0, 0)
    assert math.isnan(state.smooth) and state.best_smooth == math.inf


def test_train_chunk_rejects_bad_input():
    state, data = make_run(1)
    with pytest.raises(ValueError, match="past the end"):
        engine.train_chunk(state, data, 21, 5, 5.0, OptimConfig())
    bad = data.copy()
    bad[0, 3] = 13
    with pytest.raises(ValueError, match="ids must lie"):
        engine.train_chunk(state, bad, 2, 5, 5.0, OptimConfig())
    state.params["W"] = np.asfortranarray(state.params["W"])
    with pytest.raises(ValueError, match="C-contiguous"):
        engine.train_chunk(state, data, 2, 5, 5.0, OptimConfig())


@pytest.mark.parametrize(
    "temperature,top_k,top_p",
    [
        (1.0, 0, 1.0),
        (0.7, 0, 1.0),
        (0.0, 0, 1.0),
        (1.0, 5, 1.0),
        (0.7, 0, 0.8),
        (1.3, 4, 0.6),
        (1.0, 1, 1.0),
        (1e-300, 0, 1.0),
        (5e-324, 3, 0.5),
    ],
)
def test_synthesize_gives_the_reference_ids(temperature, top_k, top_p):
    K, m = 20, 16
    params = random_params(K, m, np.random.default_rng(1), sig=0.5)
    h0 = np.tanh(np.random.default_rng(2).standard_normal(m))
    for seed in range(3):
        ids = engine.synthesize(
            params, h0, 3, 300, np.random.default_rng(seed), temperature, top_k, top_p
        )
        ref = sampling.synthesize(
            params, h0, 3, 300, np.random.default_rng(seed), temperature, top_k, top_p
        )
        assert ids.dtype == np.int64
        np.testing.assert_array_equal(ids, ref)
    assert len(set(ref.tolist())) > (1 if temperature > 1e-9 and top_k != 1 else 0)


@pytest.mark.parametrize("temperature", [1.0, 0.0])
def test_logits_that_overflow_to_nan_stop_sampling_with_an_error(temperature):
    """Logits that are not all finite (finite weights whose products overflow
    to inf, or both ways to NaN) define no distribution: the engine and the
    reference both stop at the first such step with one error, where they
    drew id 0 over and over before."""
    from charnn.errors import CheckpointError

    K, m = 9, 6
    params = random_params(K, m, np.random.default_rng(1))
    params["c"][4] = np.nan  # as such an overflow leaves a logit
    h0 = np.full(m, 0.5)
    for synth in (engine.synthesize, sampling.synthesize):
        with pytest.raises(
            CheckpointError, match="output is not finite \\(its weights overflow\\)"
        ):
            synth(params, h0, 3, 50, np.random.default_rng(0), temperature)
    for bad in (np.nan, np.inf, -np.inf):
        assert sampling.choose(np.array([0.0, bad]), 0.5) == sampling.NOT_FINITE
    assert sampling.choose(np.array([0.0, 1e308]), 0.5, 1e-300) == 1  # finite: greedy limit


def test_text_loss_matches_reference():
    K, m = 9, 7
    rng = np.random.default_rng(3)
    params = random_params(K, m, rng)
    ids = rng.integers(0, K, 500)
    h0 = np.tanh(rng.standard_normal(m))
    for h in (None, h0):
        nats, count = engine.text_loss(params, ids, h, chunk=64)
        ref_nats, ref_count = rnn.text_loss(params, ids, h, chunk=100)
        assert count == ref_count == 499
        assert abs(nats - ref_nats) <= 1e-12 * ref_nats
    assert engine.text_loss(params, ids[:1]) == (0.0, 0)


@pytest.mark.parametrize("child_ok", [True, False])
def test_prepare_compiles_in_a_child_process(monkeypatch, child_ok):
    """A training process loads the kernels from the cache, never compiles
    them itself (the object code can differ in the last bits), unless the
    child could not fill the cache."""
    w = importlib.import_module("charnn.engine.warmup")  # the package's `warmup` is the function
    ready = iter([False, child_ok])
    calls, here = [], []
    monkeypatch.setattr(w, "cache_ready", lambda dtype: next(ready))
    monkeypatch.setattr(w, "warmup", lambda dtype: here.append(dtype))

    def child(argv, **kw):
        calls.append(argv)
        return type("Done", (), {"returncode": 0})()

    monkeypatch.setattr(w.subprocess, "run", child)
    said = []
    assert w.prepare(np.float64, lambda: said.append("compiling")) == child_ok
    assert said == ["compiling"]  # announced once, before the child starts
    assert calls and calls[0][-1] == "from charnn.engine import warmup; warmup('float64')"
    assert here == ([] if child_ok else [np.float64])
    monkeypatch.setattr(w, "cache_ready", lambda dtype: True)
    assert w.prepare(np.float64, lambda: said.append("again")) and said == ["compiling"]


def test_warmup_fills_the_cache():
    engine.warmup(np.float64)
    assert engine.cache_ready(np.float64)
    with pytest.raises(ValueError):
        engine.cache_ready(np.int32) or engine.warmup(np.int32)


@pytest.mark.parametrize("gated", [False, True])
def test_preload_loads_what_the_training_thread_calls_first(gated):
    """engine.preload loads training's and sampling's kernels of the model's
    family, and no other (validation's loads on the writer's thread), in a
    process that had loaded none."""
    engine.warmup(np.float64)  # the child loads from the cache
    code = (
        "import numpy as np, charnn.engine as e\n"
        "from charnn.engine import rnn, stack_run\n"
        f"e.preload(np.float64, gated={gated})\n"
        "print([len(k.overloads) for k in (rnn.train, rnn.synthesize, rnn.text_loss,"
        " stack_run.train, stack_run.synthesize, stack_run.text_loss)])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[0] == str([0, 0, 0, 1, 1, 0] if gated else [1, 1, 0, 0, 0, 0])

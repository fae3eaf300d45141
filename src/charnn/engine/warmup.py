"""Compiling the kernels ahead of use, and asking whether numba's on-disk
cache already holds them (so a caller can announce a slow first run)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from ..nn.optim import OptimConfig, init_state
from ..nn.rnn import init_params
from ..nn.step import TrainState
from . import api, cells, stack_run
from . import rnn as kernels


def _example_calls(dtype) -> list[tuple]:
    """(dispatcher, args) pairs with the argument types real calls use."""
    dtype = np.dtype(dtype)
    if dtype not in api.DTYPES:
        raise ValueError(f"the engine runs in float32 or float64, not {dtype}")
    K, m, B, T = 3, 2, 1, 2
    rng = np.random.default_rng(0)
    params = {k: v.astype(dtype) for k, v in init_params(K, m, rng, sig=0.1).items()}
    state = TrainState.fresh(params, B)
    data = np.zeros((B, T + 1), dtype=np.int32)
    h = np.zeros((B, m), dtype=dtype)
    return [
        (kernels.train, api.train_args(state, data, 1, T, 5.0, OptimConfig())),
        (kernels.loss_and_grads, api.loss_args(params, data[:, :T], data[:, 1:], h)),
        (kernels.synthesize, api.synth_args(params, np.zeros(m), 0, rng.random(2), 1.0, 2, 0.9)),
        (kernels.text_loss, api.text_args(params, data[0], None, 4)),
        (kernels.prime, api.prime_args(params, np.zeros(m), data[0])),
        *_gated_calls(dtype, data),
    ]


def _gated_calls(dtype, data) -> list[tuple]:
    """The gated stacks' (dispatcher, args): one signature serves both
    cells, every size and depth."""
    K, m, B, T = 3, 2, 1, 2
    rng = np.random.default_rng(0)
    params = {
        "W": rng.standard_normal((4 * m, m)),
        "U": rng.standard_normal((4 * m, K)),
        "b": np.zeros(4 * m),
        "V": rng.standard_normal((K, m)),
        "c": np.zeros(K),
    }
    params = {k: v.astype(dtype) for k, v in params.items()}
    S = cells.state_size(params)
    state = TrainState(
        params=params,
        opt=init_state(params),
        h=np.zeros((B, S), dtype),
        best_params={k: v.copy() for k, v in params.items()},
        best_h=np.zeros(S, dtype),
    )
    train_args, _ = cells.train_args(state, data, 1, T, 5.0, OptimConfig())
    return [
        (stack_run.train, train_args),
        (stack_run.loss_and_grads, cells.loss_args(params, data[:, :T], data[:, 1:], None)),
        (stack_run.synthesize, cells.synth_args(params, None, 0, rng.random(2), 1.0, 2, 0.9)),
        (stack_run.text_loss, cells.text_args(params, data[0], None, 4)),
        (stack_run.text_loss, cells.text_args(params, data[0], None, 4, dtype)),
        (stack_run.prime, cells.prime_args(params, None, data[0])),
    ]


def warmup(dtype, only=None) -> None:
    """Compile (or load from numba's cache) every kernel for dtype
    (float32 or float64), or only the dispatchers in `only`, by running
    each once on tiny inputs."""
    for kernel, args in _example_calls(dtype):
        if only is None or kernel in only:
            kernel(*args)


def preload(dtype, gated: bool = False) -> None:
    """Load (or compile) the kernels a training process calls on its own
    thread first: training and sampling, of the seed's RNN or of the gated
    stacks. numba loads one kernel at a time, under one lock; loaded now,
    before the metrics writer's thread loads validation's beside the
    updates, the training thread never waits for that thread's load (a
    tenth to a quarter of a second here at update 0)."""
    family = stack_run if gated else kernels
    warmup(dtype, only=(family.train, family.synthesize))


def prepare(dtype, compiling=None) -> bool:
    """Have this process load the kernels for dtype from numba's on-disk
    cache: compiled in a child process that fills it when it lacks them.
    Code numba compiles in a process and the object code it caches can
    differ in the last bits of some results, and a run amplifies them, so
    every training process loading from the cache keeps runs (and their
    resumes, on whatever machine of one kind) bit for bit alike. Compiles
    here when the child could not fill the cache; returns False then.
    compiling: called (no arguments) before a compilation starts."""
    if cache_ready(dtype):
        return True  # each kernel loads from the cache at its first call
    if compiling is not None:
        compiling()
    name = np.dtype(dtype).name
    code = f"from charnn.engine import warmup; warmup({name!r})"
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True)
    if done.returncode == 0 and cache_ready(dtype):
        return True
    warmup(dtype)
    return False


def cache_ready(dtype) -> bool:
    """Whether every kernel for dtype is compiled in this process or held,
    up to date, in numba's on-disk cache (so warmup will be quick)."""
    try:
        for kernel, args in _example_calls(dtype):
            sig = tuple(kernel.typeof_pyval(a) for a in args)
            if sig in kernel.overloads:
                continue
            # numba has no public query for its cache; these internals are
            # what Dispatcher uses to load an overload, so a miss is exact.
            cache = kernel._cache
            key = cache._index_key(sig, kernel.targetctx.codegen())
            if key not in cache._cache_file._load_index():
                return False
        return True
    except Exception:  # numba internals changed: err on the side of "not ready"
        return False

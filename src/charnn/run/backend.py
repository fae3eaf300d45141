"""One dispatch: the fast engine or the readable reference, chosen once per run."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from ..nn import sampling, stack, step
from .blas import load_blas
from .config import TrainConfig, fast_engine_runs

LN2 = math.log(2.0)


@dataclass(frozen=True)
class Backend:
    """The three operations a run needs, from one implementation."""

    # train_chunk and text_loss take reset_id=, synthesize stop=: the
    # end-of-document id (-1 for plain text), see nn.rnn and nn.sampling
    train_chunk: Callable  # (state, data (B, L), n, T, clip, optim) -> losses (n,)
    synthesize: Callable  # (params, h (S,), x, n, rng, ...) -> ids (n,)
    text_loss: Callable  # (params, ids) -> (nats, characters)
    prime: Callable  # (params, h (S,), ids (P,)) -> (h after all but the last id, that id)


def backend(cfg: TrainConfig, rng: np.random.Generator | None = None) -> Backend:
    """The fast compiled engine, or the readable reference (engine "reference").
    rng: the run's generator, which draws the dropout masks."""
    if cfg.engine == "reference":
        chunk = step.reference_chunk
        if cfg.dropout:
            chunk = partial(step.reference_chunk, dropout=cfg.dropout, rng=rng)
        return Backend(chunk, sampling.synthesize, stack.text_loss, sampling.prime)
    load_blas()  # before the engine asks for it, without the rest of scipy.linalg
    from .. import engine as fast

    return Backend(fast.train_chunk, fast.synthesize, fast.text_loss, fast.prime)


def use_threads(engine: str, n: int, B: int) -> int:
    """Apply --threads n (0 = the engine's default for batch size B) to this
    process; returns the number of threads used. The reference engine gives
    them to NumPy's BLAS."""
    if engine == "reference":
        from threadpoolctl import threadpool_limits

        threadpool_limits(n or 1, user_api="blas")
        return n or 1
    from ..engine.threads import use_threads as engine_threads

    return engine_threads(n, B)


def for_model(cfg: TrainConfig) -> Backend:
    """Sampling and scoring for a model of cfg: the fast engine where it runs
    that model, else the reference."""
    fast = fast_engine_runs(cfg.cell, cfg.layers)
    return backend(dataclasses.replace(cfg, engine="fast" if fast else "reference", dropout=0.0))


def validate(
    impl: Backend, params: dict, val: np.ndarray, reset_id: int = -1
) -> tuple[float, float]:
    """(nats per char, bits per char) on the held-out ids from a zero state."""
    nats, count = impl.text_loss(params, val, reset_id=reset_id)
    per_char = nats / max(count, 1)
    return per_char, per_char / LN2

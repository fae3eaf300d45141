"""One dispatch: the fast engine or the readable reference, chosen once per run."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..nn import rnn, sampling, step

LN2 = math.log(2.0)


@dataclass(frozen=True)
class Backend:
    """The three operations a run needs, from one implementation."""

    train_chunk: Callable  # (state, data (B, L), n, T, clip, optim) -> losses (n,)
    synthesize: Callable  # (params, h (m,), x, n, rng, ...) -> ids (n,)
    text_loss: Callable  # (params, ids) -> (nats, characters)


def backend(engine: str) -> Backend:
    """The fast compiled engine, or the readable reference ("reference")."""
    if engine == "reference":
        return Backend(step.reference_chunk, sampling.synthesize, rnn.text_loss)
    from .. import engine as fast

    return Backend(fast.train_chunk, fast.synthesize, fast.text_loss)


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


def validate(impl: Backend, params: dict, val: np.ndarray) -> tuple[float, float]:
    """(nats per char, bits per char) on the held-out ids from a zero state."""
    nats, count = impl.text_loss(params, val)
    per_char = nats / max(count, 1)
    return per_char, per_char / LN2

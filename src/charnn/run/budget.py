"""Memory estimates, checked before anything large is allocated.

A size that cannot fit (a huge --hidden, --length or --sample-length) is
refused with one line saying how much it would need, instead of dying in the
allocator halfway through a run. The estimates count what the training and
sampling code keep at once; the limit is the machine's physical memory (or
the process's address-space limit, when lower).
"""

from __future__ import annotations

import os

from ..errors import ConfigError

GIB = 1 << 30
BYTES_PER_SAMPLED_CHAR = 24  # one uniform (8), one id (8), the text (up to 4) and its bytes


def limit() -> int | None:
    """Bytes this process may use at most, or None when unknown."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = None
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY and soft > 0:
            total = soft if total is None else min(total, soft)
    except (ImportError, ValueError, OSError):
        pass
    return total


GATES = {"rnn": 1, "gru": 3, "lstm": 4}  # weight blocks per layer, by cell


def model_bytes(
    K: int, m: int, itemsize: int = 8, copies: int = 2, layers: int = 1, cell: str = "rnn"
) -> int:
    """Parameters, times copies: per layer g blocks of W (m, m), U (m, in) and
    b (m,), with in = K for the first layer and m above; V (K, m), c (K,)."""
    g = GATES.get(cell, 4)
    per_layer = g * (m * m + m)
    inputs = g * m * (K + (layers - 1) * m)
    return (layers * per_layer + inputs + K * m + K) * itemsize * copies


def train_bytes(K: int, m: int, T: int, B: int, itemsize: int, layers=1, cell="rnn") -> int:
    """Training: parameters, two optimizer moments, the best model, gradients
    and a spare set (6), float64 copies for sampling and validation, and the
    activations of one update ((T+1) B m states per gate and layer, T B K
    probabilities)."""
    g = GATES.get(cell, 4)
    acts = (4 * g * layers * (T + 1) * B * m + 2 * T * B * K) * itemsize
    model = model_bytes(K, m, itemsize, 6, layers, cell)
    return model + model_bytes(K, m, 8, 1, layers, cell) + acts


def check(need: int, what: str, advice: str) -> None:
    """Raise ConfigError when need bytes exceed what this machine has."""
    have = limit()
    if have is not None and need > have:
        raise ConfigError(
            f"{what} would need {need / GIB:,.0f} GiB of memory, more than the "
            f"{have / GIB:,.0f} GiB this machine has; {advice}"
        )


def check_train(cfg, K: int) -> None:
    """A training configuration (run.config.TrainConfig) on a vocabulary of K."""
    itemsize = 4 if cfg.dtype == "float32" else 8
    layers, cell = getattr(cfg, "layers", 1), getattr(cfg, "cell", "rnn")
    check(
        train_bytes(K, cfg.hidden, cfg.seq_length, cfg.batch_size, itemsize, layers, cell),
        f"training with --hidden {cfg.hidden}, --batch-size {cfg.batch_size} and "
        f"--seq-length {cfg.seq_length} (K = {K})",
        "use smaller values",
    )
    check_sample(cfg.sample_length, "--sample-length")


def check_sample(n: int, flag: str = "--length") -> None:
    """Sampling n characters at once."""
    check(n * BYTES_PER_SAMPLED_CHAR, f"{flag} {n:,}", f"use a smaller {flag}")

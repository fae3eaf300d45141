"""Every numeric option of every subcommand, checked in one place before a
command runs: one line naming the option and its allowed range.

Training options are checked by run/config.py (TrainConfig.validate, from the
options table), which a resume applies too; this table holds the others.
Sizes that are in range but too large for the machine are refused later, by
run/budget.py, once the vocabulary is known.
"""

from __future__ import annotations

import math

from ..errors import ConfigError

INT_LIMIT = 2**63  # the compiled kernels take 64-bit integers


def positive_int(v) -> str | None:
    return None if 0 < v < INT_LIMIT else "must be a positive integer below 2**63"


def nonneg_int(v) -> str | None:
    return None if 0 <= v < INT_LIMIT else "must be an integer >= 0 and below 2**63"


def seed(v) -> str | None:
    """A seed goes to NumPy's SeedSequence, which takes any integer >= 0
    (as train's --seed does)."""
    return None if v >= 0 else "must be an integer >= 0"


def nonneg_finite(v) -> str | None:
    return None if math.isfinite(v) and v >= 0 else "must be a finite number >= 0"


def probability(v) -> str | None:
    return None if 0 < v <= 1 else "must be in (0, 1]"


def weight_scale(v) -> str | None:
    """A std of the initial weights: beyond 10 every tanh saturates and the
    loss is astronomical from the first update, so nothing can be learned."""
    return None if math.isfinite(v) and 0 <= v <= 10 else "must be in [0, 10]"


# subcommand -> {argument: rule}; None values (options not given) are not checked
RULES = {
    "sample": {
        "hidden": positive_int,
        "length": nonneg_int,
        "num_samples": positive_int,
        "temperature": nonneg_finite,
        "top_k": nonneg_int,
        "top_p": probability,
        "seed": seed,
        "layers": positive_int,
        "documents": positive_int,
        "max_length": positive_int,
    },
    "gradcheck": {
        "hidden": positive_int,
        "seq_length": positive_int,
        "seed": seed,
        "sig": weight_scale,
        "max_entries": positive_int,
        "layers": positive_int,
    },
    "sweep": {"workers": positive_int},
}


def check(args) -> None:
    """Raise ConfigError for the first option of args.command out of range."""
    for name, rule in RULES.get(args.command, {}).items():
        value = getattr(args, name, None)
        if value is None:
            continue
        problem = rule(value)
        if problem:
            raise ConfigError(f"--{name.replace('_', '-')} {problem}, got {value}")

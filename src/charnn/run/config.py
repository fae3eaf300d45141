"""The training configuration: one dataclass whose defaults (the seed's)
come from the options table, and the checks that keep every option in range."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass, fields

from ..data.documents import parse_mode
from ..errors import ConfigError
from .options import BY_NAME, DEFAULTS

# charnn's "no limit" of updates; limits at or above it are refused
NO_LIMIT = 2**62

# options that do not alter the results (threads: see engine/threads.py): a
# resume may change them
RESUMABLE_CHANGES = (
    "updates",
    "epochs",
    "max_time",
    "checkpoint_every",
    "log_every",
    "threads",
    "best_by",
)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run. Defaults reproduce the seed."""

    corpus: str | None = None
    cell: str = DEFAULTS["cell"]
    layers: int = DEFAULTS["layers"]
    dropout: float = DEFAULTS["dropout"]
    hidden: int = DEFAULTS["hidden"]
    seq_length: int = DEFAULTS["seq_length"]
    lr: float = DEFAULTS["lr"]
    sig: float | None = DEFAULTS["sig"]  # None: the cell's default (see resolved)
    clip: float = DEFAULTS["clip"]
    eps: float = DEFAULTS["eps"]
    optimizer: str = DEFAULTS["optimizer"]
    rho: float = DEFAULTS["rho"]
    beta1: float = DEFAULTS["beta1"]
    beta2: float = DEFAULTS["beta2"]
    batch_size: int = DEFAULTS["batch_size"]
    dtype: str = DEFAULTS["dtype"]
    engine: str = DEFAULTS["engine"]
    threads: int = DEFAULTS["threads"]
    seed: int = DEFAULTS["seed"]
    updates: int = DEFAULTS["updates"]
    epochs: float = DEFAULTS["epochs"]
    max_time: float = DEFAULTS["max_time"]
    anneal: float = DEFAULTS["anneal"]
    documents: str = DEFAULTS["documents"]
    best_by: str = DEFAULTS["best_by"]
    val_fraction: float = DEFAULTS["val_fraction"]
    eval_every: int = DEFAULTS["eval_every"]
    sample_every: int = DEFAULTS["sample_every"]
    sample_length: int = DEFAULTS["sample_length"]
    checkpoint_every: int = DEFAULTS["checkpoint_every"]
    log_every: int = DEFAULTS["log_every"]

    def optim(self, elapsed: float = 0.0):
        """The update rule's hyper-parameters (an nn.optim.OptimConfig) after
        elapsed seconds of training: with --anneal F, the learning rate is
        lr * min(1, (max_time - elapsed) / (F * max_time)), a straight fall to
        zero over the last fraction F of the budget."""
        from ..nn.optim import OptimConfig

        lr = self.lr
        if self.anneal and self.max_time:
            lr *= min(1.0, max(0.0, self.max_time - elapsed) / (self.anneal * self.max_time))
        return OptimConfig(self.optimizer, lr, self.eps, self.rho, self.beta1, self.beta2)

    def resolved(self) -> TrainConfig:
        """The same configuration with the cell's default sig filled in, as a run records it."""
        if self.sig is not None:
            return self
        from ..nn.arch import default_sig

        return dataclasses.replace(self, sig=default_sig(self.cell, self.hidden))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown configuration keys: {', '.join(unknown)}")
        return cls(**d)

    def validate(self) -> TrainConfig:
        """Raise ConfigError naming the first option out of range."""
        _positive_int(
            self,
            "layers",
            "hidden",
            "seq_length",
            "batch_size",
            "eval_every",
            "sample_every",
            "checkpoint_every",
            "log_every",
        )
        _nonneg_int(self, "updates", "sample_length", "seed", "threads")
        _finite(self, "epochs")
        if self.epochs < 0:
            raise ConfigError(f"--epochs must be >= 0 (0 = no limit), got {self.epochs}")
        _positive_float(self, "lr", "eps")
        _finite(self, "clip", "rho", "beta1", "beta2", "val_fraction", "max_time", "dropout")
        _finite(self, "anneal")
        if self.sig is not None:
            _finite(self, "sig")
        if self.max_time < 0:
            raise ConfigError(
                f"--max-time must be >= 0 seconds (0 = no limit), got {self.max_time}"
            )
        if not 0 <= self.anneal <= 1:
            raise ConfigError(f"--anneal must be a fraction in [0, 1], got {self.anneal}")
        if self.anneal and not self.max_time:
            raise ConfigError("--anneal is a fraction of the time budget; give --max-time too")
        if self.sig is not None and not 0 <= self.sig <= 10:  # beyond, every tanh saturates
            raise ConfigError(f"--sig must be in [0, 10], got {self.sig}")
        if self.clip < 0:
            raise ConfigError(f"--clip must be >= 0 (0 turns clipping off), got {self.clip}")
        for name in ("rho", "beta1", "beta2"):
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(f"--{name} must be in [0, 1), got {getattr(self, name)}")
        if not 0 <= self.val_fraction < 1:
            raise ConfigError(f"--val-fraction must be in [0, 1), got {self.val_fraction}")
        for name in ("cell", "optimizer", "dtype", "engine", "best_by"):
            _choice(self, name, BY_NAME[name].choices)
        if self.best_by == "val" and not self.val_fraction:
            raise ConfigError(
                "--best-by val chooses the model by its validation, and --val-fraction 0 "
                "holds out no text for it: give --val-fraction > 0, or --best-by smooth"
            )
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"--dropout must be in [0, 1), got {self.dropout}")
        if self.dropout and self.layers < 2:
            raise ConfigError("--dropout acts between stacked layers; give --layers 2 or more")
        if self.engine == "fast" and not fast_engine_runs(self.cell, self.layers, self.dropout):
            what = "--dropout" if self.dropout else f"--cell rnn --layers {self.layers}"
            raise ConfigError(
                f"the fast engine runs one rnn layer, or gru and lstm stacks, without dropout; "
                f"for {what} use --engine reference"
            )
        if self.engine == "reference" and self.dtype != "float64":
            raise ConfigError("the reference engine runs in float64 only; use --dtype float64")
        if self.documents:
            parse_mode(self.documents)
        for name in ("updates", "epochs", "max_time"):  # run folders record them below it
            if getattr(self, name) >= NO_LIMIT:
                v = getattr(self, name)
                shown = f"{v:,}" if isinstance(v, int) else f"{v:g}"
                raise ConfigError(f"{_flag(name)} must be below 2**62 (0 = no limit), got {shown}")
        if self.updates == 0 and self.epochs == 0 and self.max_time == 0:
            raise ConfigError(
                "nothing to do: give --updates N, --epochs E or --max-time S greater than 0"
            )
        return self


def fast_engine_runs(cell: str, layers: int, dropout: float = 0.0) -> bool:
    """Whether the compiled engine has kernels for this model."""
    return not dropout and (cell != "rnn" or layers == 1)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _positive_int(cfg, *names):
    for n in names:
        v = getattr(cfg, n)
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise ConfigError(f"{_flag(n)} must be a positive integer, got {v!r}")


def _nonneg_int(cfg, *names):
    for n in names:
        v = getattr(cfg, n)
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise ConfigError(f"{_flag(n)} must be an integer >= 0, got {v!r}")


def _finite(cfg, *names):
    for n in names:
        v = getattr(cfg, n)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
            raise ConfigError(f"{_flag(n)} must be a finite number, got {v!r}")


def _positive_float(cfg, *names):
    _finite(cfg, *names)
    for n in names:
        if getattr(cfg, n) <= 0:
            raise ConfigError(f"{_flag(n)} must be > 0, got {getattr(cfg, n)}")


def _choice(cfg, name, options):
    if getattr(cfg, name) not in options:
        raise ConfigError(
            f"{_flag(name)} must be one of {', '.join(options)}, got {getattr(cfg, name)!r}"
        )

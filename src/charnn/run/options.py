"""The one table of training options: argparse, the defaults, the checks and
the README read it. Importing it costs nothing (no NumPy), so `charnn --help`
stays instant.

Each option is (name, type, default, help, choices); the flag is
``--name`` with underscores as dashes.
"""

from __future__ import annotations

from typing import NamedTuple

CELLS = ("rnn", "gru", "lstm")  # nn.arch.CELLS; a test keeps the two equal


class Option(NamedTuple):
    name: str
    type: type
    default: object
    help: str
    choices: tuple | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


OPTIONS = (
    Option(
        "cell",
        str,
        "rnn",
        "recurrent cell: the seed's tanh rnn, gru or lstm",
        CELLS,
    ),
    Option("layers", int, 1, "stacked recurrent layers L"),
    Option("dropout", float, 0.0, "dropout between stacked layers while training (0 = none)"),
    Option("hidden", int, 100, "hidden size m"),
    Option("seq_length", int, 25, "characters per training sequence T"),
    Option("lr", float, 0.1, "learning rate eta"),
    Option(
        "sig", float, None, "std of the initial weights W, U, V (rnn: 0.01, gru/lstm: 1/sqrt(m))"
    ),
    Option("clip", float, 5.0, "clip gradients element-wise to [-clip, clip]; 0 = off"),
    Option("eps", float, 1e-8, "epsilon of the optimizer"),
    Option("optimizer", str, "adagrad", "update rule", ("adagrad", "rmsprop", "adam")),
    Option("rho", float, 0.9, "RMSProp decay"),
    Option("beta1", float, 0.9, "Adam beta1"),
    Option("beta2", float, 0.999, "Adam beta2"),
    Option("batch_size", int, 1, "parallel streams B over the text (1 = the seed's algorithm)"),
    Option("dtype", str, "float64", "float64 is exact; float32 is faster", ("float64", "float32")),
    Option(
        "engine",
        str,
        "fast",
        "fast (compiled) or reference (the readable float64 spec, slow)",
        ("fast", "reference"),
    ),
    Option(
        "threads",
        int,
        0,
        "threads of this run; 0 = 1 below --batch-size 32, else one per 16 streams up to "
        "all cores; results do not depend on it",
    ),
    Option("seed", int, 0, "random seed of every draw"),
    Option("updates", int, 100_000, "stop after this many updates (0 = no update limit)"),
    Option("epochs", float, 0.0, "stop after this many epochs, fractions allowed (0 = no limit)"),
    Option(
        "max_time",
        float,
        0.0,
        "stop cleanly once the run has trained this many seconds, wall time (0 = no limit)",
    ),
    Option(
        "anneal",
        float,
        0.0,
        "with --max-time: over this last fraction of the budget the learning rate falls "
        "linearly to zero (0 = constant)",
    ),
    Option(
        "documents",
        str,
        "",
        "read the corpus as documents, each from a fresh state: lines, paragraphs, "
        "jsonl[:FIELD] or json[:FIELD] (FIELD defaults to text); off by default",
    ),
    Option(
        "best_by",
        str,
        "smooth",
        "which model is 'the best': the lowest smoothed training loss (the seed's) "
        "or the lowest validation loss",
        ("smooth", "val"),
    ),
    Option("val_fraction", float, 0.05, "fraction of the text held out for validation, at its end"),
    Option("eval_every", int, 10_000, "validate every N updates"),
    Option("sample_every", int, 10_000, "sample text every N updates"),
    Option("sample_length", int, 200, "characters per sample"),
    Option("checkpoint_every", int, 5_000, "save a checkpoint every N updates"),
    Option("log_every", int, 1_000, "plain log line every N updates when not on a terminal"),
)

BY_NAME = {o.name: o for o in OPTIONS}
DEFAULTS = {o.name: o.default for o in OPTIONS}

# Named recipes: `--preset NAME` fills these for the options a new run does not
# give; config.json records the values used. quality-5min: the best held-out
# loss per CPU-second found on `tragedies` (bench/bench_quality.py, bench/quality.md).
PRESETS = {
    "quality-5min": {
        "cell": "gru",
        "layers": 2,
        "hidden": 128,
        "batch_size": 32,
        "seq_length": 64,
        "optimizer": "adam",
        "lr": 5e-3,
        "dtype": "float32",
        "max_time": 300.0,
        "anneal": 0.4,
        "updates": 0,
        "eval_every": 1000,
        "sample_every": 1000,
        "checkpoint_every": 1000,
    },
}

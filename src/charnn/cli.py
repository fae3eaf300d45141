"""The command line: `charnn train | sample | gradcheck | evaluate | plot | report | compare`.

The only module that prints for the user or exits. Every CharnnError
becomes one line on stderr and exit code 2; a diverged run exits 1; a run
stopped by Ctrl-C / SIGTERM saves its checkpoint and exits 130 / 143.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

import numpy as np

from . import __version__
from .config import TrainConfig
from .errors import CharnnError, DivergenceError

TRAIN_FLAGS = (  # (flag, type, help) mapped onto TrainConfig fields
    ("hidden", int, "hidden size m (default 100)"),
    ("seq-length", int, "characters per training sequence T (default 25)"),
    ("lr", float, "learning rate eta (default 0.1)"),
    ("sig", float, "std of the initial weights (default 0.01)"),
    ("clip", float, "clip gradients element-wise to [-clip, clip]; 0 = off (default 5)"),
    ("eps", float, "epsilon of the optimizer (default 1e-8)"),
    ("optimizer", str, "adagrad (default), rmsprop or adam"),
    ("rho", float, "RMSProp decay (default 0.9)"),
    ("beta1", float, "Adam beta1 (default 0.9)"),
    ("beta2", float, "Adam beta2 (default 0.999)"),
    ("batch-size", int, "parallel streams B over the text (default 1, the seed's algorithm)"),
    ("dtype", str, "float64 (default, exact) or float32"),
    ("engine", str, "fast (default) or reference (the readable float64 spec, slow)"),
    ("seed", int, "random seed (default 0)"),
    ("updates", int, "stop after this many updates (default 100000)"),
    ("epochs", int, "stop after this many epochs (default: no epoch limit)"),
    ("val-fraction", float, "fraction of the text held out for validation, at its end (0.05)"),
    ("eval-every", int, "validate every N updates (default 10000)"),
    ("sample-every", int, "sample text every N updates (default 10000)"),
    ("sample-length", int, "characters per sample (default 200)"),
    ("checkpoint-every", int, "save a checkpoint every N updates (default 5000)"),
    ("log-every", int, "plain log line every N updates when not on a terminal (default 1000)"),
)


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: 'charnn CMD: error: ...', exit code 2."""

    def error(self, message):
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def build_parser() -> Parser:
    p = Parser(prog="charnn", description="Character-level vanilla RNN language models.")
    p.add_argument("--version", action="version", version=f"charnn {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)

    t = sub.add_parser("train", help="train a model (AdaGrad by default) into a run directory")
    t.add_argument("corpus", nargs="?", help="corpus name or text file (default: tragedies)")
    t.add_argument("--out", type=Path, help="run directory to create")
    t.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue a run exactly")
    t.add_argument("--force", action="store_true", help="replace a run already in --out")
    t.add_argument("--quiet", action="store_true", help="print only the final summary")
    t.add_argument("--report", action="store_true", help="write the report when done")
    for flag, typ, help_ in TRAIN_FLAGS:
        t.add_argument(f"--{flag}", type=typ, default=None, help=help_)

    s = sub.add_parser("sample", help="synthesize text from a run, a checkpoint or an untrained model")
    s.add_argument("source", nargs="?", help="run directory or .npz checkpoint")
    s.add_argument("--checkpoint", choices=("best", "latest"), default="best",
                   help="which model of a run directory (default best)")
    s.add_argument("--untrained", metavar="CORPUS", nargs="?", const="",
                   help="sample from a randomly initialized model on CORPUS's vocabulary")
    s.add_argument("--hidden", type=int, default=100, help="hidden size for --untrained")
    s.add_argument("--length", type=int, default=200, help="characters to generate")
    s.add_argument("--temperature", type=float, default=1.0, help="0 = greedy argmax")
    s.add_argument("--top-k", type=int, default=0, help="keep the k most likely (0 = all)")
    s.add_argument("--top-p", type=float, default=1.0, help="nucleus mass in (0, 1]")
    s.add_argument("--prime", default=None, help="text run through the network first")
    s.add_argument("--seed", type=int, default=None, help="random seed (default: fresh)")

    g = sub.add_parser("gradcheck", help="analytic vs numerical gradients, every entry")
    g.add_argument("corpus", nargs="?", help="corpus name or text file (default: tragedies)")
    g.add_argument("--hidden", type=int, default=5, help="hidden size m (default 5)")
    g.add_argument("--seq-length", type=int, default=25, help="sequence length T (default 25)")
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    g.add_argument("--sig", type=float, default=0.01, help="std of the weights (default 0.01)")
    g.add_argument("--max-entries", type=int, default=2000,
                   help="check at most this many entries per parameter (default 2000)")

    e = sub.add_parser("evaluate", help="nats and bits per character of a model on a text")
    e.add_argument("run", type=Path, help="run directory or .npz checkpoint")
    e.add_argument("text", type=Path, help="UTF-8 text file")
    e.add_argument("--checkpoint", choices=("best", "latest"), default="best")
    e.add_argument("--json", action="store_true", help="print JSON")

    pl = sub.add_parser("plot", help="write RUN_DIR/loss.png")
    pl.add_argument("run", type=Path)

    r = sub.add_parser("report", help="write RUN_DIR/report.html and report.md")
    r.add_argument("run", type=Path)

    c = sub.add_parser("compare", help="compare several runs in one plot and table")
    c.add_argument("runs", type=Path, nargs="+")
    c.add_argument("--out", type=Path, default=Path("compare"), help="output folder")
    return p


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help, --version, or a one-line usage error
        return e.code
    from . import commands

    try:
        return getattr(commands, args.command)(args)
    except DivergenceError as e:
        print(f"charnn {args.command}: {e}", file=sys.stderr)
        return 1
    except CharnnError as e:
        print(f"charnn {args.command}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a failed read or write outside the checked paths: disk full, ...
        where = f" ({e.filename})" if e.filename else ""
        print(f"charnn {args.command}: error: {e.strerror or e}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"charnn {args.command}: interrupted", file=sys.stderr)
        return 130

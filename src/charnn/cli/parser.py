"""The argument parser: every subcommand and option, with its help."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import __version__
from ..data.corpora import DEFAULT as DEFAULT_CORPUS
from ..run.options import BY_NAME, OPTIONS, PRESETS

MODELS = ("best", "best-smooth", "best-val", "latest")


def path(text: str) -> Path:
    """A path argument; an empty one ('') is refused (it would mean '.')."""
    if not text:
        raise argparse.ArgumentTypeError("an empty path; name a file or folder")
    return Path(text)


def text(value: str) -> str:
    """A name or address argument; an empty one ('') is refused."""
    if not value:
        raise argparse.ArgumentTypeError("an empty value; give a name")
    return value


class DefaultsShown(argparse.ArgumentDefaultsHelpFormatter):
    """Each option's default in its help, except where there is none (None):
    "(default: None)" tells a user nothing."""

    def _get_help_string(self, action):
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: 'charnn CMD: error: ...', exit code 2."""

    def error(self, message):
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def build_parser() -> Parser:
    p = Parser(
        prog="charnn",
        description="Character-level recurrent language models: vanilla RNN, GRU and LSTM.",
    )
    p.add_argument("--version", action="version", version=f"charnn {__version__}")
    sub = p.add_subparsers(
        dest="command", required=True, parser_class=Parser, title="commands", metavar="COMMAND"
    )

    t = sub.add_parser("train", help="train a model (AdaGrad by default) into a run directory")
    t.add_argument(
        "corpus", nargs="?", type=text, help="corpus name or text file (default: tragedies)"
    )
    t.add_argument("--out", type=path, help="run directory to create")
    t.add_argument(
        "--resume",
        type=path,
        metavar="RUN_DIR",
        help="continue a run exactly (only --updates, --epochs, --max-time, --checkpoint-every, "
        "--log-every, --threads and --best-by may change)",
    )
    t.add_argument("--force", action="store_true", help="replace a run already in --out")
    t.add_argument("--quiet", action="store_true", help="print only the final summary")
    t.add_argument("--report", action="store_true", help="write the report when done")
    t.add_argument(
        "--preset",
        choices=tuple(PRESETS),
        help="a named recipe: fills the options a new run does not give "
        "(quality-5min: GRU 2x128, Adam, float32, 300 s)",
    )
    for o in OPTIONS:
        t.add_argument(
            o.flag,
            type=o.type,
            default=None,
            choices=o.choices,
            help=f"{o.help} (default {o.default})"
            if o.default not in ("", None)  # None: the help says what it means
            else o.help,
        )

    s = sub.add_parser(
        "sample",
        help="synthesize text from a run, a checkpoint or an untrained model",
        formatter_class=DefaultsShown,
    )
    s.add_argument("source", nargs="?", type=path, help="run directory or .npz checkpoint")
    s.add_argument(
        "--checkpoint",
        choices=MODELS,
        default="best",
        help="which model of a run directory: best (by the run's --best-by), best-smooth "
        "(lowest smoothed training loss), best-val (lowest validation loss), latest",
    )
    s.add_argument(
        "--untrained",
        metavar="CORPUS",
        nargs="?",
        const=DEFAULT_CORPUS,
        type=text,
        help="sample from a randomly initialized model on CORPUS's vocabulary",
    )
    s.add_argument("--hidden", type=int, default=100, help="hidden size m for --untrained")
    _arch_flags(s, "for --untrained")
    s.add_argument("--length", type=int, default=200, help="characters to generate per sample")
    s.add_argument("--num-samples", type=int, default=1, help="how many samples to print")
    s.add_argument(
        "--temperature", type=float, default=1.0, help="divide the logits by it; 0 = greedy"
    )
    s.add_argument(
        "--top-k", type=int, default=0, help="draw among the k most likely only (0 = all)"
    )
    s.add_argument(
        "--top-p", type=float, default=1.0, help="nucleus: the smallest set of this mass, (0, 1]"
    )
    s.add_argument("--prime", default=None, help="text run through the network first")
    s.add_argument("--prime-file", type=path, default=None, help="read the prime from a file")
    _start_option(s, "sampling (and the prime)")
    s.add_argument(
        "--seed",
        type=int,
        default=None,
        help="random seed (default: a fresh one, printed)%(default).0s",
    )
    s.add_argument(
        "--documents",
        type=int,
        metavar="N",
        help="N whole documents, each from a fresh state (a run trained with --documents); "
        "--prime is then each document's beginning",
    )
    s.add_argument(
        "--max-length",
        type=int,
        default=280,
        help="with --documents: characters at most per document",
    )
    s.add_argument("--json", action="store_true", help="with --documents: JSON Lines output")

    g = sub.add_parser(
        "gradcheck",
        help="analytic vs numerical gradients, every entry",
        formatter_class=DefaultsShown,
    )
    g.add_argument(
        "corpus", nargs="?", type=text, default="tragedies", help="corpus name or text file"
    )
    g.add_argument("--hidden", type=int, default=5, help="hidden size m")
    g.add_argument("--seq-length", type=int, default=25, help="sequence length T")
    g.add_argument("--seed", type=int, default=0, help="random seed")
    g.add_argument(
        "--sig",
        type=float,
        default=None,
        # "%(default).0s" shows nothing: it keeps the formatter from adding "(default: None)"
        help="std of the weights (default: rnn 0.01, gru/lstm 1/sqrt(m))%(default).0s",
    )
    _arch_flags(g, "to check")
    g.add_argument(
        "--max-entries",
        type=int,
        default=2000,
        help="check at most this many entries per parameter",
    )

    e = sub.add_parser(
        "evaluate",
        help="nats and bits per character of a model on a text",
        formatter_class=DefaultsShown,
    )
    e.add_argument("run", type=path, help="run directory or .npz checkpoint")
    e.add_argument("text", type=path, help="UTF-8 text file to score")
    e.add_argument(
        "--checkpoint", choices=MODELS, default="best", help="which model of a run directory"
    )
    _start_option(e, "scoring")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.add_argument(
        "--documents",
        metavar="MODE",
        type=text,
        help="read TEXTFILE as documents (lines, paragraphs, jsonl[:FIELD], json[:FIELD]), "
        "each from a fresh state, end symbols counted",
    )

    pl = sub.add_parser("plot", help="write RUN_DIR/loss.png")
    pl.add_argument("run", type=path, help="run directory")

    r = sub.add_parser("report", help="write RUN_DIR/report.html and report.md")
    r.add_argument("run", type=path, help="run directory")

    sw = sub.add_parser("sweep", help="many runs, a grid of options times seeds, on Dask")
    sw.add_argument("spec", type=path, help="TOML spec: seed = [...], [base], [grid], [zip]")
    sw.add_argument("--out", type=path, required=True, help="sweep folder (again: resume)")
    sw.add_argument(
        "--workers", type=int, help="local worker processes (default: one per core)%(default).0s"
    )
    sw.add_argument(
        "--scheduler", metavar="ADDRESS", type=text, help="an existing Dask cluster's scheduler"
    )
    sw.add_argument("--quiet", action="store_true", help="print only the ranking")

    c = sub.add_parser(
        "compare",
        help="compare several runs (or sweep folders) in one plot and table",
        formatter_class=DefaultsShown,
    )
    c.add_argument(
        "runs", type=path, nargs="+", help="two or more run directories or sweep folders"
    )
    c.add_argument("--out", type=path, default=Path("compare"), help="output folder")
    return p


def _arch_flags(p: argparse.ArgumentParser, what: str) -> None:
    """--cell and --layers of a model built on the spot (not read from a run)."""
    p.add_argument("--cell", choices=BY_NAME["cell"].choices, default="rnn", help=f"cell {what}")
    p.add_argument("--layers", type=int, default=1, help=f"stacked layers {what}")


def _start_option(p, what: str) -> None:
    p.add_argument(
        "--start",
        choices=("model", "zero"),
        default="model",
        help=f"the state {what} starts from: the model's carried state (the state after "
        "its last training sequence) or h = 0",
    )

"""The command line's subcommands (part of the CLI: these print, nothing else does).

Each subcommand is a function of the parsed arguments, returning the exit
code; `cli.main` calls the one named by the command. They live one group
per module: train, sample, evaluate, gradcheck, reports (plot, report,
compare) and sweep.
"""

from __future__ import annotations

from .evaluate import evaluate
from .gradcheck import gradcheck
from .reports import compare, plot, report
from .sample import sample
from .sweep import sweep
from .train import train

__all__ = ["compare", "evaluate", "gradcheck", "plot", "report", "sample", "sweep", "train"]

"""`charnn plot`, `charnn report` and `charnn compare`: the pages and plots of
finished runs (part of the CLI: these print)."""

from __future__ import annotations

from ..run import rundir
from .output import err


def plot(args) -> int:
    from ..report.plot import plot_run

    rundir.read_config(args.run)
    print(plot_run(args.run))
    return 0


def report(args) -> int:
    from ..report.single import write_report

    print(write_report(args.run))
    return 0


def compare(args) -> int:
    from ..report.compare import compare as run_compare
    from ..sweep.folder import expand_runs

    page, table, warned = run_compare(expand_runs(args.runs), args.out)
    print(table)
    for w in warned:
        err(w)
    print(f"written: {page}")
    return 0

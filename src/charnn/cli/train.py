"""`charnn train`: a new or resumed run, its signals, the engine's warm-up,
the summary line and the optional report (part of the CLI: it prints)."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from pathlib import Path

from ..data import corpus
from ..errors import ConfigError
from ..report.plot import plot_run
from ..report.summary import fmt_down
from ..run import bestval, rundir, timing
from ..run.background import Worker
from ..run.config import TrainConfig
from ..run.evaluation import per_char_bpc
from ..run.loop import Interrupted, Run
from ..run.options import OPTIONS, PRESETS
from ..words import counted
from .output import err
from .progress import Printer

SWITCH_S = 0.001  # the interpreter's switch interval while training (Python's default: 5 ms)


def _train_options(args) -> dict:
    return {o.name: getattr(args, o.name) for o in OPTIONS}


def _open_run(args) -> Run:
    opts = _train_options(args)
    if args.resume is not None:
        if args.out is not None and args.out.resolve() != args.resume.resolve():
            raise ConfigError(
                "give either --out (a new run) or --resume (an existing one), not both"
            )
        if args.force:
            raise ConfigError("--force starts over; it cannot be combined with --resume")
        if getattr(args, "preset", None):
            raise ConfigError("--preset applies to new runs; a resumed run keeps its configuration")
        moved = None if args.corpus is None else _corpus_id(args.corpus)
        return Run.resume(args.resume, opts, corpus=moved)
    if args.out is None:
        raise ConfigError("give --out RUN_DIR for a new run, or --resume RUN_DIR")
    given = {k: v for k, v in opts.items() if v is not None}
    if "epochs" in given and "updates" not in given:
        given["updates"] = 0
    given = {**PRESETS.get(getattr(args, "preset", None) or "", {}), **given}
    cfg = TrainConfig(corpus=_corpus_id(args.corpus), **given).validate()
    _refuse_sweep_runs(args.out)
    return Run.start(args.out, cfg, force=args.force)


def _refuse_sweep_runs(out: Path) -> None:
    """A sweep's runs folder, or a run in it, belongs to that sweep (charnn
    sweep starts them; --force here would replace a member of its results)."""
    from ..sweep.folder import RUNS, is_sweep

    here = out.resolve()
    for sweep in (here.parent, here.parent.parent):
        if here.is_relative_to(sweep / RUNS) and is_sweep(sweep):
            raise ConfigError(
                f"--out {out} is inside the sweep {sweep}; its runs are made by charnn sweep "
                "(--resume continues one); choose another --out"
            )


def _corpus_id(spec) -> str:
    """The corpus as a run records it: a corpus name, or the file's absolute path."""
    name, path = corpus.resolve(spec)
    return name if not Path(name).exists() else str(path.resolve())


def _warm_engine(cfg, quiet: bool) -> None:
    """Load the kernels from numba's on-disk cache (engine.prepare), announcing
    a first run's compilation."""
    if cfg.engine != "fast":
        return
    from .. import engine

    def compiling() -> None:
        err(f"compiling the fast engine for {cfg.dtype} (first run only, about a minute)...")

    if not engine.prepare(cfg.dtype, None if quiet else compiling):
        err(
            "warning: numba's cache could not be filled, so the kernels were compiled in this "
            "process; their results can differ in the last bits from cached ones, so this run "
            "may part ways with the same run started again"
        )
    engine.preload(cfg.dtype, gated=cfg.cell != "rnn")


def _preload_plotting() -> None:
    """Import matplotlib (about a second); run beside the updates, so that the
    final plot finds it loaded."""
    from ..report.plot import figure

    try:
        figure()
    except Exception:  # the plot itself will report it
        pass


def _plotting(run: Run, printer: Printer) -> tuple[Worker, Callable]:
    """A thread for the final plot, and the training's event handler, which
    starts the plot once the metrics are complete ('logged'), so that it is
    drawn while the run writes its last checkpoint and outcome."""
    plotter = Worker("plot")

    def emit(ev) -> None:
        printer(ev)
        if ev.kind == "logged":
            plotter.submit(lambda: plot_run(run.folder, columns=run.metrics.columns()))

    return plotter, emit


def train(args) -> int:
    run = _open_run(args)
    try:
        return _train(args, run)
    finally:
        run.close()


def _train(args, run: Run) -> int:
    if args.resume is not None and run.complete():
        if not (run.folder / rundir.PLOT).exists():  # stopped between its end and its plot
            plot_run(run.folder)
        print(
            f"{run.folder} is complete ({counted(run.state.update, 'update')}); nothing to do. "
            "Give a larger --updates, --epochs or --max-time to train further."
        )
        return _maybe_report(args, run)
    run.clock.start, first = timing.process_start(), run.state.update
    _warm_engine(run.cfg, args.quiet)
    run.side.add(_preload_plotting)
    caught = []

    def handler(signum, frame):
        caught.append(signum)

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    printer = Printer(run, args.quiet)
    plotter, emit = _plotting(run, printer)

    def should_stop() -> int:
        return caught[0] if caught else (signal.SIGPIPE if printer.failed else 0)

    # work runs beside the updates (run.background): the training thread gets
    # the GIL back within a millisecond of a chunk's end, not five
    switch = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_S)
    try:
        try:
            run.train(emit, should_stop)
        except Interrupted as e:
            printer.close()
            return _stopped(run, e, printer.failed if not caught else None)
        finally:
            printer.close()
            sys.setswitchinterval(switch)
        # the run is complete: a signal now is let pass while its plot and
        # timing.json (a fraction of a second) are written
        with run.clock.part("plot"):  # what is left of it once the run has finished
            plotter.close()
        split = {**run.clock.split(run.state.update - first), "threads": run.threads}
        beside = (run.side.worker, run.metrics.worker, plotter)
        split["beside_cpu_s"] = round(sum(w.cpu_s for w in beside), 4)  # CPU beside
        if run.state.update > first:  # a resume that only wrote the end keeps the trainer's
            rundir.write_json(run.folder / rundir.TIMING, split)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    print(timing.format_split(split))
    print(done_line(run))
    return _maybe_report(args, run)


def done_line(run: Run) -> str:
    """The summary train prints: update numbers count updates done."""
    st, T = run.state, run.cfg.seq_length
    out = bestval.read_outcome(run.folder)
    val = ""
    if "final_val_bpc" in out:
        val = (
            f"; validation {out['final_val_bpc']:.4f} bits/char (final model), "
            f"{out['best_smooth']['val_bpc']:.4f} (best by smoothed loss), "
            f"{out['best_val']['val_bpc']:.4f} (best by validation, after "
            f"{counted(out['best_val']['update'], 'update')})"
        )
    return (
        f"done: {counted(st.update, 'update')} ({fmt_down(st.update / run.per_epoch)} epochs); "
        "min smoothed "
        f"loss {per_char_bpc(st.best_smooth, T):.4f} bits/char ({st.best_smooth:.2f} "
        f"nats/sequence) at update {st.best_update + 1:,}{val}; run in {run.folder}"
    )


def _stopped(run: Run, e: Interrupted, output_error: OSError | None) -> int:
    """The line and exit code of a training stopped with its checkpoint saved."""
    again = f"continue with: charnn train --resume {run.folder}"
    if output_error is None:
        err(f"charnn train: {e} in {run.folder}; {again}")
        return 128 + e.signum
    saved = f"stopped at update {e.update} with a checkpoint saved in {run.folder}"
    if isinstance(output_error, BrokenPipeError):
        err(f"charnn train: standard output was closed; {saved}; {again}")
        return 128 + signal.SIGPIPE
    err(
        f"charnn train: error: cannot write to standard output "
        f"({output_error.strerror or output_error}); {saved}; {again}"
    )
    return 2


def _maybe_report(args, run: Run) -> int:
    if args.report:
        from ..report.single import write_report

        print(f"report: {write_report(run.folder)}")
    return 0

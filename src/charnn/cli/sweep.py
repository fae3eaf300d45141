"""`charnn sweep SPEC.toml --out SWEEP_DIR [--workers N] [--scheduler ADDRESS]`
and its progress display (part of the CLI: this prints)."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

EXIT_FAILED = 1


class SweepProgress:
    """One bar of finished runs with the best result so far (a terminal), or
    one line per run (a log)."""

    def __init__(self, total: int, quiet: bool, metric: str = "final_val_bpc"):
        self.total, self.quiet, self.done, self.bar = total, quiet, 0, None
        self.metric = metric  # the figure the ranking uses (summary.ranking_metric)
        self.best = None  # (value, name)

    def __call__(self, ev) -> None:
        if ev.kind == "skip":
            self.done = ev.count
            for row in ev.rows:  # the best so far counts the runs already done
                self.consider(row)
            if ev.count and not self.quiet:
                _err(f"{ev.count} of {self.total} runs already done; they are kept as they are")
        elif ev.kind == "cluster" and not self.quiet:
            where = f", dashboard at {ev.dashboard}" if ev.dashboard else ""
            _err(f"Dask cluster: {ev.workers} worker{'s' if ev.workers != 1 else ''}{where}")
            if sys.stderr.isatty():
                from tqdm import tqdm

                self.bar = tqdm(
                    total=self.total,
                    initial=self.done,
                    unit="run",
                    dynamic_ncols=True,
                    file=sys.stderr,
                )
        elif ev.kind == "run":
            self.run_done(ev.row)

    def consider(self, row: dict) -> float | None:
        """A finished run's figure (the ranking's: final validation, or the min
        smoothed loss), kept as the best so far when it is lower; returns it."""
        value = row.get(self.metric)
        if row["status"] == "finished" and value is not None:
            if self.best is None or value < self.best[0]:
                self.best = (value, row["name"])
        return value

    def run_done(self, row: dict) -> None:
        self.done += 1
        value = self.consider(row)
        if self.quiet:
            return
        best = f"best {self.best[1]} {self.best[0]:.4f}" if self.best else "best –"
        if self.bar is not None:
            self.bar.set_postfix_str(best, refresh=False)
            self.bar.update(1)
            if row["status"] != "finished":
                self.bar.write(f"{row['name']}: {row['status']}: {row.get('message', '')}")
        else:
            finished = row["status"] == "finished" and value is not None
            got = f"{value:.4f}" if finished else "–"  # a diverged run's figures are no result
            extra = f": {row.get('message', '')}" if row["status"] != "finished" else ""
            _err(
                f"run {self.done}/{self.total} {row['name']}: {row['status']} {got}{extra}; {best}"
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _err(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _warm_local(sweep, quiet: bool) -> None:
    """Compile the kernels once here, so the local workers load them from
    numba's cache instead of each compiling them."""
    from .. import engine

    for dtype in sorted({r.config.dtype for r in sweep.runs if r.config.engine == "fast"}):
        if not engine.cache_ready(dtype):
            if not quiet:
                _err(f"compiling the fast engine for {dtype} (first run only, about a minute)...")
            engine.warmup(dtype)


def sweep(args) -> int:
    caught = []

    def terminate(signum, frame):  # SIGTERM stops the sweep as Ctrl-C does
        caught.append(signum)
        raise KeyboardInterrupt

    before = signal.signal(signal.SIGTERM, terminate)
    progress = None
    try:  # from the imports to the summary, a stop says how to go on
        from ..sweep import load_spec
        from ..sweep.execute import execute, import_dask
        from ..sweep.summary import ranking_metric, write_summary

        import_dask()
        spec = load_spec(args.spec)
        progress = SweepProgress(len(spec.runs), args.quiet, ranking_metric(spec))
        if args.scheduler is None:
            _warm_local(spec, args.quiet)
        rows = execute(
            spec, args.out, Path(args.spec).read_bytes(), args.workers, args.scheduler, progress
        )
        progress.close()
        html = write_summary(spec, rows, Path(args.out).resolve())
    except KeyboardInterrupt:
        if progress is not None:
            progress.close()
        how = "terminated" if caught else "interrupted"
        _err(f"charnn sweep: {how}; run the same command again to continue the sweep in {args.out}")
        return 128 + (caught[0] if caught else signal.SIGINT)
    finally:
        signal.signal(signal.SIGTERM, before)
        if progress is not None:
            progress.close()
    print(ranking_lines(spec, rows))
    print(f"summary: {html}")
    failed = [r for r in rows if r["status"] == "failed"]
    if failed:
        _err(
            f"charnn sweep: {len(failed)} run{'s' if len(failed) != 1 else ''} failed "
            f"({failed[0]['name']}: "
            f"{failed[0]['message']}); run the same command again to retry them"
        )
        return EXIT_FAILED
    return 0


def ranking_lines(spec, rows: list[dict]) -> str:
    """The ranking as a few plain lines for the terminal."""
    from ..report.sweep import METRIC_NAMES, pm, verdict
    from ..sweep.summary import settings, text_warning

    ranked, metric = settings(spec, rows)
    width = max(len(s.label) for s in ranked)
    warning = text_warning(spec)
    lines = [warning] if warning else []
    lines.append(f"settings ranked by mean {METRIC_NAMES[metric]} (± std over seeds):")
    for s in ranked:
        lines.append(
            f"{s.rank or '–':>3}. {s.label:<{width}}  {pm(s.stats[metric]):<20} "
            f"{s.stats[metric].n} run{'s' if s.stats[metric].n != 1 else ''}  {verdict(s)}"
        )
    return "\n".join(lines)

"""Throughput of `charnn sweep` on a local Dask cluster next to a serial loop
of the same runs, side by side in one invocation.

The serial loop trains the runs one after the other in this process (engine
loaded once, one BLAS thread): the best a single core can do. The sweep is
the whole `execute` call: starting the local cluster of single-threaded
worker processes, each worker loading the engine once, the runs, and
closing the cluster. Rounds alternate serial and sweep; the table gives
each round and the median ratio, with the load average of the machine, and
the CPU seconds of one run in this process and inside a worker (equal
when a worker adds no per-run cost). It also gives the CPU seconds of the
whole serial loop and of the whole sweep (this process and its workers:
Dask, starting the workers, loading the engine in each, closing), which
hardly depend on what else the machine runs: on N idle cores the sweep
cannot take less than its CPU seconds / N, and the phases of the sweep
(start until the cluster is ready, runs, close) show where its wall time
goes.

On a machine shared with other people the ratio only means something when
the cores are otherwise idle: Linux's autogroup scheduling
(/proc/sys/kernel/sched_autogroup_enabled) shares a busy CPU equally
between sessions, so the worker processes of one sweep together get no
more CPU than a single process of the same session would.

    python bench/bench_sweep.py [--runs 16] [--updates 10000] [--workers N] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import tempfile
import time
from contextlib import contextmanager, suppress
from pathlib import Path

from threadpoolctl import threadpool_limits

from charnn import engine
from charnn.run.loop import Run
from charnn.sweep import folder as sf
from charnn.sweep.execute import execute
from charnn.sweep.spec import parse_spec


def spec(args) -> dict:
    lrs = [round(0.02 * (i + 1), 2) for i in range(args.runs // 2)]
    base = {"corpus": args.corpus, "updates": args.updates, "eval_every": args.updates}
    base |= {"sample_every": args.updates // 2, "checkpoint_every": args.updates // 2}
    return {"seed": [0, 1], "base": base, "grid": {"lr": lrs}}


def cpu_seconds(children: bool) -> float:
    """CPU seconds of this process (and of its ended child processes)."""
    who = [resource.RUSAGE_SELF] + ([resource.RUSAGE_CHILDREN] if children else [])
    return sum(u.ru_utime + u.ru_stime for u in map(resource.getrusage, who))


@contextmanager
def one_core(on: bool):
    """Every thread of this process (and those it starts) on one CPU while on."""
    if not on:
        yield
        return
    tids = [int(t) for t in os.listdir("/proc/self/task")]
    before = os.sched_getaffinity(0)
    cpu = min(before)
    for tid in tids:
        with suppress(OSError):
            os.sched_setaffinity(tid, {cpu})
    try:
        yield
    finally:
        for tid in (int(t) for t in os.listdir("/proc/self/task")):
            with suppress(OSError):
                os.sched_setaffinity(tid, before)


def serial(sweep, folder: Path, pinned: bool = True) -> dict:
    """wall: seconds; cpu: CPU seconds in all; per_run: CPU seconds per run.
    pinned: on one core. A run does part of its work on threads beside the
    updates (metrics rows, the gradient check, the plot), so an unpinned loop
    already uses more than one core."""
    with one_core(pinned):
        t0, c0 = time.perf_counter(), cpu_seconds(False)
        for r in sweep.runs:
            Run.start(folder / r.name, r.config).train(lambda e: None)
        wall, used = time.perf_counter() - t0, cpu_seconds(False) - c0
    return {"wall": wall, "cpu": used, "per_run": used / len(sweep.runs)}


def parallel(sweep, folder: Path, workers: int) -> dict:
    """As serial, cpu counting the worker processes and per_run measured
    inside them; and the phases: seconds until the cluster is ready (start),
    from then until the last run is done (runs), and from then until
    `execute` returns (close: closing the cluster, reading the rows)."""
    marks = {}

    def mark(ev):
        marks[ev.kind] = time.perf_counter()

    t0, c0 = time.perf_counter(), cpu_seconds(True)
    rows = execute(sweep, folder, b"bench", workers=workers, report=mark)
    end, used = time.perf_counter(), cpu_seconds(True) - c0
    assert all(r["status"] == "finished" for r in rows), rows
    cpu = [sf.read_status(sf.run_folder(folder, r.name))["cpu_s"] for r in sweep.runs]
    return {
        "wall": end - t0,
        "cpu": used,
        "per_run": statistics.fmean(cpu),
        "start": marks["cluster"] - t0,
        "runs": marks["run"] - marks["cluster"],
        "close": end - marks["run"],
    }


def autogroup() -> str:
    try:
        on = Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
    except OSError:
        return "unknown"
    return "on" if on else "off"


def cpu() -> str:
    name = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in open("/proc/cpuinfo")
            if ln.startswith("model name")
        ),
        platform.machine(),
    )
    flags = next((ln for ln in open("/proc/cpuinfo") if ln.startswith("flags")), "").split()
    vec = [f for f in ("avx2", "avx512f", "fma") if f in flags]
    return f"{name} ({', '.join(vec)}), {os.cpu_count()} logical CPUs"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=16, help="runs (half as many lr values x 2 seeds)")
    p.add_argument("--updates", type=int, default=10000, help="updates per run")
    p.add_argument("--workers", type=int, default=os.cpu_count(), help="local workers")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--corpus", default="tragedies")
    p.add_argument("--out", default="bench/sweep.md")
    args = p.parse_args()
    threadpool_limits(1)
    engine.warmup("float64")
    sweep = parse_spec(spec(args), Path.cwd())
    rows, loads = [], [os.getloadavg()[0]]
    for i in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            s = serial(sweep, Path(tmp) / "serial")
            shutil.rmtree(Path(tmp) / "serial")
            s["free"] = serial(sweep, Path(tmp) / "free", pinned=False)["wall"]
            shutil.rmtree(Path(tmp) / "free")
            d = parallel(sweep, Path(tmp) / "sweep", args.workers)
        loads.append(os.getloadavg()[0])
        rows.append((i + 1, s, d))
        print(
            f"round {i + 1}: serial {s['wall']:.1f} s (unpinned {s['free']:.1f} s), "
            f"sweep {d['wall']:.1f} s, "
            f"x{s['wall'] / d['wall']:.2f}; CPU s per run {s['per_run']:.2f} serial, "
            f"{d['per_run']:.2f} in a worker; CPU s in all {s['cpu']:.1f} serial, "
            f"{d['cpu']:.1f} sweep; sweep phases: start {d['start']:.2f} s, "
            f"runs {d['runs']:.2f} s, close {d['close']:.2f} s",
            flush=True,
        )
    ratio = statistics.median(s["wall"] / d["wall"] for _, s, d in rows)
    lines = [
        "# charnn sweep: throughput against a serial loop",
        "",
        f"{len(sweep.runs)} runs of {args.updates} updates (m = 100, T = 25, AdaGrad, float64, "
        f"corpus {args.corpus}), {args.workers} local workers; {cpu()}.",
        "Load average (1 min) before and after each round: "
        + ", ".join(f"{x:.1f}" for x in loads)
        + ".",
        "",
        f"Autogroup scheduling: {autogroup()}.",
        "",
        "The serial loop runs on one core (every thread of its process pinned to one CPU):",
        "the same runs one after the other on one core, against the sweep on "
        f"{args.workers}. A run does part of its work on threads beside the updates (metrics",
        "rows, the gradient check, the plot), so the same loop unpinned already spreads over",
        "the cores; its time is in the 'unpinned' column.",
        "",
        "| round | serial, one core (s) | unpinned (s) | sweep (s) | speed-up "
        "| × unpinned | CPU s/run serial | CPU s/run in a worker "
        "| CPU s serial | CPU s sweep | sweep start (s) | sweep runs (s) | sweep close (s) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {i} | {s['wall']:.1f} | {s['free']:.1f} | {d['wall']:.1f} "
            f"| {s['wall'] / d['wall']:.2f}x | {s['free'] / d['wall']:.2f}x "
            f"| {s['per_run']:.2f} | {d['per_run']:.2f} | {s['cpu']:.1f} | {d['cpu']:.1f} "
            f"| {d['start']:.2f} | {d['runs']:.2f} | {d['close']:.2f} |"
            for i, s, d in rows
        ),
        "",
        f"Median speed-up: {ratio:.2f}x.",
        "",
    ]
    Path(args.out).write_text("\n".join(lines), encoding="utf-8")
    print(f"median x{ratio:.2f}; table in {args.out}")


if __name__ == "__main__":
    main()

"""kill -9 trials: a training run is killed at random moments, resumed each
time, and must end with exactly the parameters of a run never interrupted.

The trials' kill points are random updates spread over the run, in order.
Each trial starts (or resumes) the run, waits (polling) until it has written
a checkpoint newer than the one it started from and logged its kill point,
then waits a random moment and kills it; the process must end by that kill
(exit status -9). A run that ends before its kill lands fails the trial:
a trial that kills nothing checks nothing. After every kill the checkpoint
on disk must load, and the updates lost (progress logged minus the
checkpoint's update count) must not exceed --checkpoint-every. Usage:

    python tools/kill_trials.py --trials 20

Exit code 0 when every trial holds, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from charnn.errors import CharnnError
from charnn.run import identity, rundir, snapshot

TEXT = (
    "Now is the winter of our discontent\nMade glorious summer by this sun of York;\n"
    "And all the clouds that lour'd upon our house\nIn the deep bosom of the ocean buried.\n"
)


def train_cmd(args, corpus: Path, out: Path, resume: bool) -> list[str]:
    base = [sys.executable, "-m", "charnn", "train"]
    if resume:
        return base + ["--resume", str(out), "--quiet"]
    return base + [
        str(corpus),
        "--out",
        str(out),
        "--force",
        "--quiet",
        "--hidden",
        str(args.hidden),
        "--updates",
        str(args.updates),
        "--checkpoint-every",
        str(args.checkpoint_every),
        "--sample-every",
        "500",
        "--eval-every",
        "500",
        "--engine",
        args.engine,
        "--seed",
        "7",
    ]


def logged_update(folder: Path) -> int:
    """The highest update count whose metrics row was written completely."""
    best = 0
    path = folder / rundir.METRICS
    if path.exists():
        for line in path.read_text(encoding="utf-8", errors="replace").split("\n")[1:]:
            cells = line.split(",")
            if len(cells) == len(rundir.METRIC_FIELDS) and cells[2]:
                best = max(best, int(cells[0]))
    return best


def checkpoint_update(folder: Path) -> int:
    """The update count of the checkpoint on disk (-1 without one)."""
    try:
        return identity.checkpoint_meta(folder / rundir.CHECKPOINT)["counters"]["update"]
    except CharnnError:
        return -1


def wait_until(proc, folder: Path, after: int, target: int, timeout: float) -> bool:
    """Poll until folder holds a checkpoint newer than `after` and the run has
    logged update `target`; False if the process ended first."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if checkpoint_update(folder) > after and logged_update(folder) >= target:
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.01)
    raise TimeoutError(f"update {target} not reached in {timeout:.0f} s")


def one_trial(args, corpus: Path, out: Path, target: int, rng) -> tuple[str, bool]:
    """Start or resume the run in out, kill it soon after it logs update
    `target`; (what happened, whether the trial holds)."""
    before = checkpoint_update(out)
    proc = subprocess.Popen(
        train_cmd(args, corpus, out, (out / rundir.CONFIG).exists()),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        reached = wait_until(proc, out, before, target, args.timeout)
    except TimeoutError as e:
        proc.kill()
        proc.wait()
        return f"NO PROGRESS: {e}", False
    if reached:
        try:  # the random moment, cut short by a run that ends first
            proc.wait(timeout=rng.uniform(0, args.max_wait))
        except subprocess.TimeoutExpired:
            pass
    if proc.poll() is not None:
        proc.wait()
        return f"NO KILL LANDED: the run ended before its kill (aimed after {target})", False
    os.kill(proc.pid, signal.SIGKILL)
    code = proc.wait()
    err = proc.stderr.read().decode(errors="replace").strip()
    proc.stderr.close()
    if code != -signal.SIGKILL:
        return f"EXIT STATUS {code} ({err[-300:]})", False
    try:
        state = snapshot.load_train(out / rundir.CHECKPOINT)[3]
    except Exception as e:  # the point of the trial: any failure to load is reported
        return f"CHECKPOINT DOES NOT LOAD: {e}", False
    logged = logged_update(out)
    lost = logged - state.update
    ok = lost <= args.checkpoint_every and state.update > before and logged < args.updates
    return (
        f"killed after update {logged} (aimed after {target}): checkpoint at update "
        f"{state.update}, {lost} updates lost",
        ok,
    )


def params_of(folder: Path) -> dict:
    return snapshot.load_train(folder / rundir.CHECKPOINT)[3].params


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--updates", type=int, default=30000)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--checkpoint-every", type=int, default=100)
    p.add_argument("--engine", default="fast")
    p.add_argument(
        "--max-wait", type=float, default=0.05, help="most seconds from the kill point to the kill"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=300, help="seconds to wait for a checkpoint")
    args = p.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    work = Path(tempfile.mkdtemp(prefix="charnn-kill-"))
    try:
        corpus = work / "corpus.txt"
        corpus.write_text(TEXT * 40, encoding="utf-8")
        whole, cut = work / "whole", work / "cut"
        subprocess.run(train_cmd(args, corpus, whole, False), check=True, stdout=subprocess.DEVNULL)
        failures = 0
        # kill points spread over the run, away from its end, where a kill could miss
        targets = np.sort(rng.integers(args.updates // 50, args.updates * 9 // 10, args.trials))
        for i, target in enumerate(targets):
            text, ok = one_trial(args, corpus, cut, int(target), rng)
            failures += not ok
            print(f"trial {i + 1:2d}: {text}{'' if ok else '  <-- FAIL'}", flush=True)
        resume = (cut / rundir.CONFIG).exists()
        subprocess.run(train_cmd(args, corpus, cut, resume), check=True, stdout=subprocess.DEVNULL)
        a, b = params_of(whole), params_of(cut)
        same = all(np.array_equal(a[k], b[k]) for k in a)
        print(
            "final parameters "
            + ("are identical, bit for bit, to" if same else "DIFFER from")
            + " those of the uninterrupted run"
        )
        print(f"{args.trials - failures} passed, {failures + (not same)} failed")
        return 0 if failures == 0 and same else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())

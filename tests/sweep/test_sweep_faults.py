"""A sweep survives the loss of a worker: the run it held resumes from its
last checkpoint on a fresh worker and ends as if never interrupted."""

import os
import signal
import threading
import time

import pytest

from charnn.run import loop as train
from charnn.run import rundir, snapshot
from charnn.sweep import folder as sf
from charnn.sweep import load_spec

distributed = pytest.importorskip("distributed")
from charnn.sweep.execute import execute  # noqa: E402

SPEC = """seed = [0, 1]
[base]
corpus = "text.txt"
hidden = 32
seq_length = 10
updates = 20000
eval_every = 5000
sample_every = 5000
sample_length = 20
checkpoint_every = 1000
"""


def wait_for(predicate, seconds, what):
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def kill_worker_running(address: str, name: str) -> int:
    """SIGKILL the worker process that is running run `name`; its pid."""
    with distributed.Client(address) as client:

        def holder():
            return next(
                (
                    w
                    for w, keys in client.processing().items()
                    if any(str(k).endswith(f"-{name}") for k in keys)
                ),
                None,
            )

        wait_for(lambda: holder() is not None, 30, f"{name} to be running")
        worker = holder()
        pid = client.run(os.getpid, workers=[worker])[worker]
    os.kill(pid, signal.SIGKILL)
    return pid


@pytest.mark.slow
def test_killed_worker_loses_at_most_one_checkpoint_interval(
    write_spec, tmp_path, same_run, warm_engine
):
    spec = write_spec(SPEC)
    sweep, out = load_spec(spec), tmp_path / "out"
    run = out / "runs" / "seed-0"
    results = []
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=50,
    ) as cluster:
        thread = threading.Thread(
            target=lambda: results.append(
                execute(sweep, out, spec.read_bytes(), scheduler=cluster.scheduler_address)
            )
        )
        thread.start()
        try:
            wait_for(lambda: (run / rundir.CHECKPOINT).exists(), 120, "a first checkpoint")
            pid = kill_worker_running(cluster.scheduler_address, "seed-0")
            wait_for(lambda: not _alive(pid), 10, "the worker to die")
            saved = snapshot.load_train(run / rundir.CHECKPOINT)[3].update
            created = rundir.read_config(run)["created"]
            assert sf.read_status(run)["status"] == "partial"  # killed in the middle
            assert 1000 <= saved < 20000
        finally:
            thread.join(timeout=180)
    assert not thread.is_alive()
    assert [r["status"] for r in results[0]] == ["finished", "finished"]
    # resumed from the checkpoint: config.json keeps its start and notes the resume
    # (a restart would have written a new one, with no resume in it)
    info = rundir.read_config(run)
    assert info["created"] == created and info["resumed"][-1]["update"] == saved
    whole = train.Run.start(tmp_path / "whole", sweep.runs[0].config)
    whole.train(lambda e: None)
    same_run(run, tmp_path / "whole")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.parametrize(
    "sig, code, how", [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")]
)
def test_a_stopped_sweep_says_how_to_continue(write_spec, tmp_path, warm_engine, sig, code, how):
    """SIGTERM stops a sweep as Ctrl-C does: one line, the signal's exit code,
    every worker gone (it used to end in silence with 143)."""
    import subprocess
    import sys

    spec = write_spec(SPEC.replace("updates = 20000", "updates = 5000000"))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "charnn", "sweep", str(spec), "--out", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        runs = out / "runs"
        wait_for(lambda: any(runs.glob(f"*/{rundir.CHECKPOINT}")), 120, "a first checkpoint")
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == code
    assert err.strip() == (
        f"charnn sweep: {how}; run the same command again to continue the sweep in {out}"
    )


# -- Ctrl-C in a terminal: the signal reaches every process of the group ------

SIGINT_BIT = 1 << (signal.SIGINT - 1)


def _proc(pid: int, name: str) -> str | None:
    """/proc/PID/NAME, or None once the process is gone."""
    try:
        with open(f"/proc/{pid}/{name}", "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return None


def _stat(pid: int) -> tuple[int, int, str] | None:
    """(parent pid, process group, state) of a process, or None."""
    text = _proc(pid, "stat")
    if text is None:
        return None
    state, ppid, pgrp = text[text.rindex(")") + 2 :].split()[:3]
    return int(ppid), int(pgrp), state


def _live_group(pgid: int) -> list[int]:
    """The processes of a group that still run (zombies left aside: a
    container's init may not reap the orphans)."""
    pids = (int(p) for p in os.listdir("/proc") if p.isdigit())
    return [p for p in pids if (s := _stat(p)) and s[1] == pgid and s[2] != "Z"]


def _starting_worker(driver: int) -> bool:
    """Whether a worker process of the driver runs Python but has not yet
    run its preload: it catches SIGINT (the interpreter's KeyboardInterrupt,
    or asyncio's handler), and does not ignore it yet."""
    for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
        stat, cmdline = _stat(pid), _proc(pid, "cmdline") or ""
        if stat is None or stat[0] != driver or "spawn_main" not in cmdline:
            continue
        masks = dict(line.split(":\t") for line in (_proc(pid, "status") or "").splitlines())
        if "SigCgt" in masks and "SigIgn" in masks:
            caught, ignored = (int(masks[k], 16) & SIGINT_BIT for k in ("SigCgt", "SigIgn"))
            if caught and not ignored:
                return True
    return False


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="reads /proc (Linux)")
@pytest.mark.parametrize("moment", ["workers starting", "runs training"])
def test_ctrl_c_in_a_terminal_stops_a_local_sweep_in_one_line(
    write_spec, tmp_path, warm_engine, same_run, moment
):
    """A terminal's Ctrl-C goes to the whole foreground process group: the
    sweep and its workers. The workers leave it to the sweep, even while
    they start (before, one that was still importing Dask printed a
    KeyboardInterrupt traceback, or asyncio's CancelledError): one line,
    exit 130, every process gone, and the same command then completes the
    sweep, the runs stopped in the middle resumed exactly."""
    import subprocess
    import sys

    # long runs when they are to be stopped in the middle: the workers go on
    # training until the cluster is closed, seconds on a busy machine
    spec = SPEC
    if moment == "runs training":
        spec = spec.replace("updates = 20000", "updates = 200000").replace("= 32", "= 96")
    spec = write_spec(spec)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "charnn", "sweep", str(spec), "--out", str(out), "--quiet"]
    # Ctrl-C as in an interactive shell, even where this runs with it ignored
    # (a background job inherits SIGINT ignored, and so would the sweep)
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
    finally:
        signal.signal(signal.SIGINT, before)
    runs = out / "runs"
    try:
        if moment == "workers starting":
            wait_for(lambda: _starting_worker(proc.pid), 120, "a worker process to start")
        else:
            wait_for(lambda: any(runs.glob(f"*/{rundir.CHECKPOINT}")), 120, "a first checkpoint")
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert "Traceback" not in err, err
    assert err == (
        f"charnn sweep: interrupted; run the same command again to continue the sweep in {out}\n"
    )
    assert proc.returncode == 130
    wait_for(lambda: not _live_group(proc.pid), 30, "every process of the sweep to end")
    stopped = [
        r
        for r in sorted(runs.glob("*"))
        if (r / rundir.CHECKPOINT).exists() and sf.read_status(r)["status"] == "partial"
    ]
    if moment == "runs training":
        assert stopped  # the runs were stopped in the middle, not finished
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "Traceback" not in again.stderr
    sweep = load_spec(spec)
    assert [sf.read_status(runs / r.name)["status"] for r in sweep.runs] == ["finished"] * 2
    for run in stopped:  # resumed from its checkpoint, not started again
        assert rundir.read_config(run).get("resumed"), run.name
    if stopped:
        config = next(r.config for r in sweep.runs if r.name == stopped[0].name)
        whole = train.Run.start(tmp_path / "whole", config)
        whole.train(lambda e: None)
        same_run(stopped[0], tmp_path / "whole")

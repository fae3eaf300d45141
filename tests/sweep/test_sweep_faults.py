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

"""Faults in real processes: Ctrl-C and SIGTERM save and exit 130 / 143 and
resume exactly; kill -9 at random moments loses at most one checkpoint interval."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from charnn.run import rundir, snapshot

ROOT = Path(__file__).resolve().parents[2]
ARGS = [
    "--hidden",
    "48",
    "--seq-length",
    "10",
    "--sample-every",
    "40",
    "--eval-every",
    "40",
    "--checkpoint-every",
    "1000",
    "--engine",
    "reference",
    "--quiet",
    "--seed",
    "5",
]


def charnn(*args, **kw):
    return subprocess.Popen(
        [sys.executable, "-m", "charnn", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def wait_for_progress(folder: Path, proc, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        path = folder / rundir.METRICS
        if path.exists() and path.read_text().count("\n") > 30:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("training made no progress")


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_saves_and_resume_is_exact(tmp_path, text_file, sig, code):
    cut = tmp_path / "cut"
    proc = charnn("train", text_file, "--out", cut, "--updates", 100_000, *ARGS)
    wait_for_progress(cut, proc)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert f"stopped by signal {int(sig)}" in err and "--resume" in err
    assert len(err.strip().splitlines()) == 1
    stopped = snapshot.load_train(cut / rundir.CHECKPOINT)[3].update
    assert stopped > 0
    target = stopped + 37
    whole = tmp_path / "whole"
    assert charnn("train", text_file, "--out", whole, "--updates", target, *ARGS).wait() == 0
    assert charnn("train", "--resume", cut, "--updates", target, "--quiet").wait() == 0
    a = snapshot.load_train(whole / rundir.CHECKPOINT)[3]
    b = snapshot.load_train(cut / rundir.CHECKPOINT)[3]
    assert a.update == b.update == target
    for k in a.params:
        assert np.array_equal(a.params[k], b.params[k])
    assert rundir.read_samples(whole) == rundir.read_samples(cut)


@pytest.mark.slow
@pytest.mark.parametrize(
    "engine, updates, every, wait",
    [("reference", "8000", "100", "0.3"), ("fast", "20000", "1000", "0.05")],
)
def test_kill_9_trials(capsys, engine, updates, every, wait):
    sys.path.insert(0, str(ROOT / "tools"))
    import kill_trials

    argv = ["--trials", "4", "--engine", engine, "--updates", updates, "--hidden", "48"]
    argv += ["--checkpoint-every", every, "--max-wait", wait]
    rc = kill_trials.main(argv)
    out = capsys.readouterr().out
    assert rc == 0, out
    assert out.count("killed after update") == 4, out  # every trial's kill landed mid-run
    assert "identical, bit for bit" in out and "4 passed, 0 failed" in out


def test_a_kill_trial_that_kills_nothing_fails(capsys):
    """A run that ends before the trial's kill checks nothing: it fails."""
    sys.path.insert(0, str(ROOT / "tools"))
    import kill_trials

    argv = ["--trials", "2", "--updates", "2000", "--hidden", "16", "--max-wait", "600"]
    assert kill_trials.main(argv) == 1
    out = capsys.readouterr().out
    assert out.count("NO KILL LANDED") == 2 and "0 passed, 2 failed" in out


def test_kill_9_before_the_first_checkpoint(tmp_path, text_file):
    args = ["--updates", "400", *ARGS, "--checkpoint-every", "100000"]  # the last one counts
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert charnn("train", text_file, "--out", whole, *args).wait() == 0
    proc = charnn("train", text_file, "--out", cut, *args)
    end = time.time() + 60
    while not (cut / rundir.CONFIG).exists():
        assert time.time() < end and proc.poll() is None
        time.sleep(0.01)
    proc.kill()
    assert proc.wait() == -signal.SIGKILL
    assert not (cut / rundir.CHECKPOINT).exists()  # the kill came before any checkpoint
    resumed = charnn("train", "--resume", cut, "--quiet")
    assert resumed.wait() == 0, resumed.communicate()
    a = snapshot.load_train(whole / rundir.CHECKPOINT)[3]
    b = snapshot.load_train(cut / rundir.CHECKPOINT)[3]
    assert a.update == b.update == 400
    for k in a.params:
        assert np.array_equal(a.params[k], b.params[k])
    assert rundir.read_samples(whole) == rundir.read_samples(cut)


def test_two_writers_never_share_a_run(tmp_path, text_file):
    run = tmp_path / "run"
    first = charnn("train", text_file, "--out", run, "--updates", 10**6, *ARGS)
    wait_for_progress(run, first)
    config_before = (run / rundir.CONFIG).read_bytes()
    for argv in (
        ["train", "--resume", run, "--updates", 10**6 + 5],
        ["train", text_file, "--out", run, "--force", *ARGS],
        ["train", text_file, "--out", run, *ARGS],
    ):
        second = charnn(*argv)
        out, err = second.communicate(timeout=60)
        assert second.returncode == 2, err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
        assert f"in use by another charnn process (pid {first.pid})" in err
    assert (run / rundir.CONFIG).read_bytes() == config_before
    first.kill()  # the lock of a killed process is taken over
    assert first.wait() == -signal.SIGKILL
    done = charnn("train", "--resume", run, "--updates", 300, "--quiet")
    out, err = done.communicate(timeout=120)
    assert done.returncode == 0, err
    assert snapshot.load_train(run / rundir.CHECKPOINT)[3].update >= 300

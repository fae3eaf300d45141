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
def test_kill_9_trials():
    sys.path.insert(0, str(ROOT / "tools"))
    import kill_trials

    assert (
        kill_trials.main(
            [
                "--trials",
                "4",
                "--engine",
                "reference",
                "--updates",
                "8000",
                "--hidden",
                "48",
                "--checkpoint-every",
                "100",
                "--min-wait",
                "0.8",
                "--max-wait",
                "1.6",
            ]
        )
        == 0
    )

"""The same spec against a Dask cluster started apart from charnn: a
`dask scheduler` and a `dask worker` as separate processes on 127.0.0.1,
always torn down, with `charnn sweep --scheduler` as a separate process."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from charnn.run import loop as train
from charnn.sweep import folder as sf
from charnn.sweep import load_spec

pytest.importorskip("distributed")
DASK = Path(sys.executable).parent / "dask"


def stop(procs):
    """Workers first, then the scheduler; SIGKILL whatever outlives 15 s."""
    for p in reversed(procs):
        p.terminate()
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


@pytest.fixture
def scheduler(tmp_path, warm_engine):
    """A scheduler and one single-threaded worker; yields the scheduler's address."""
    info, procs = tmp_path / "scheduler.json", []
    log = open(tmp_path / "dask.log", "wb")
    try:
        procs.append(
            subprocess.Popen(
                [
                    DASK,
                    "scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "0",
                    "--no-dashboard",
                    "--scheduler-file",
                    info,
                ],
                stdout=log,
                stderr=log,
            )
        )
        deadline = time.monotonic() + 60
        while not info.exists() and time.monotonic() < deadline:
            assert procs[0].poll() is None, (tmp_path / "dask.log").read_text()
            time.sleep(0.05)
        address = json.loads(info.read_text())["address"]
        procs.append(
            subprocess.Popen(
                [
                    DASK,
                    "worker",
                    address,
                    "--nthreads",
                    "1",
                    "--nworkers",
                    "1",
                    "--host",
                    "127.0.0.1",
                    "--no-dashboard",
                    "--death-timeout",
                    "60",
                ],
                stdout=log,
                stderr=log,
            )
        )
        yield address
    finally:
        stop(procs)
        log.close()


@pytest.mark.slow
def test_sweep_against_a_scheduler_address(write_spec, base, tmp_path, scheduler, same_run):
    spec = write_spec("seed = [0, 1]\n" + base + "[grid]\nlr = [0.05, 0.1]\n")
    out = tmp_path / "out"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "charnn",
            "sweep",
            str(spec),
            "--out",
            str(out),
            "--scheduler",
            scheduler,
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    assert "Dask cluster: 1 worker" in done.stderr and "run 4/4" in done.stderr
    assert "summary:" in done.stdout
    sweep = load_spec(spec)
    assert [sf.read_status(out / "runs" / r.name)["status"] for r in sweep.runs] == ["finished"] * 4
    whole = train.Run.start(tmp_path / "whole", sweep.runs[3].config)
    whole.train(lambda e: None)
    same_run(out / "runs" / sweep.runs[3].name, tmp_path / "whole")


class _Gone:
    """A client whose scheduler has gone, and the future it cannot finish."""

    status = "closed"

    def result(self):
        raise RuntimeError("Future cancelled: scheduler-connection-lost")

    def run(self, *args):
        raise ModuleNotFoundError("No module named 'charnn'")

    def wait_for_workers(self, n, timeout):
        pass


def test_a_lost_scheduler_stops_the_sweep_and_fails_no_run():
    """Every unfinished run used to be recorded as failed, although the
    workers went on and finished some."""
    import distributed

    from charnn.errors import SweepError
    from charnn.sweep.execute import _result

    with pytest.raises(SweepError, match="connection to the Dask scheduler at tcp://h:1 was lost"):
        _result(distributed, _Gone(), "lr-0.1_seed-0", _Gone(), "tcp://h:1")


def test_a_worker_without_charnn_is_one_line(tmp_path):
    from charnn.errors import SweepError
    from charnn.sweep.execute import check_workers

    with pytest.raises(SweepError, match="a Dask worker cannot run charnn .*ModuleNotFound"):
        check_workers(_Gone(), tmp_path, "token")


def test_an_address_that_is_no_dask_scheduler_is_one_line(monkeypatch):
    import distributed

    from charnn.errors import SweepError
    from charnn.sweep.execute import connect

    def refuse(address, timeout):
        raise TypeError("Can't instantiate abstract class UCXConnector")

    monkeypatch.setattr(distributed, "Client", refuse)
    with pytest.raises(SweepError, match="cannot connect to a Dask scheduler at ucx://h:1"):
        with connect(distributed, None, "ucx://h:1"):
            pass


def test_an_address_that_never_answers_is_one_line(monkeypatch):
    """A web server accepts the connection and never answers as Dask does:
    Dask's handshake waited past its own timeout, for ever."""
    import threading

    import distributed

    import charnn.sweep.execute as ex
    from charnn.errors import SweepError

    never = threading.Event()
    monkeypatch.setattr(distributed, "Client", lambda address, timeout: never.wait())
    monkeypatch.setattr(ex, "ANSWER_WAIT_S", 0.2)
    with pytest.raises(SweepError, match="no answer as a Dask scheduler within 0.2 s"):
        with ex.connect(distributed, None, "tcp://h:80"):
            pass
    never.set()

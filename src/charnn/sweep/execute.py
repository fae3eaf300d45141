"""Running a sweep on Dask distributed: a local cluster of single-threaded
worker processes (one per core by default), or any existing cluster given
by its scheduler's address.

The workers write the run folders themselves, so the sweep folder must be
visible to every worker at the same path (on one machine it is; on a
cluster, a shared filesystem). Before any run is submitted, each worker
checks that it sees this sweep's token; a run task checks again, for
workers that join later. Finished and diverged runs are not submitted
again; a task that loses its worker is resumed from its last checkpoint
on another one, up to Dask's allowed-failures limit.

`execute` reports through a callback (the CLI draws the progress bar);
it never prints.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CharnnError, CheckpointError, ConfigError, SweepError
from ..run.loop import cores
from . import folder as sf
from .spec import Sweep
from .summary import collect, run_row
from .worker import check_visible, run_one

CONNECT_TIMEOUT = "10s"
ANSWER_WAIT_S = 30  # past Dask's connect timeout, for what connects but never answers
WORKER_WAIT_S = 60


@dataclass
class Event:
    """What `execute` reports: kind 'cluster' (workers, dashboard), 'run' (one
    run done: row) or 'skip' (runs already done: count, and their rows)."""

    kind: str
    workers: int = 0
    dashboard: str = ""
    row: dict = field(default_factory=dict)
    count: int = 0
    rows: list = field(default_factory=list)


def import_dask():
    """The distributed module, or a ConfigError saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise ConfigError(
            "sweeps run on Dask, which is not installed; install it with "
            "pip install 'charnn[sweep]'"
        ) from None
    return distributed


@contextmanager
def connect(distributed, workers: int | None, scheduler: str | None):
    """A Client on a new local cluster, or on the cluster at scheduler."""
    if scheduler:
        try:
            client = _client(distributed, scheduler)
        except (OSError, TimeoutError, ValueError) as e:
            raise SweepError(
                f"cannot reach the Dask scheduler at {scheduler} ({e}); "
                "start one with 'dask scheduler'"
            ) from None
        except Exception as e:  # noqa: BLE001 - what answered is not a Dask scheduler
            raise SweepError(
                f"cannot connect to a Dask scheduler at {scheduler} ({type(e).__name__}: "
                f"{str(e)[:200]}); give the address 'dask scheduler' prints, tcp://HOST:PORT"
            ) from None
        with _dask_logs_silenced():  # what goes wrong is said in one line
            try:
                yield client
            finally:
                client.close()
        return
    from .local import local_cluster

    # silenced until the cluster's event loop has stopped: its logs while it
    # closes (workers ended by a SIGTERM sent to the group: 'Batched Comm
    # Closed' and a CommClosedError traceback) come after the cluster's own
    # silence_logs is lifted
    with _dask_logs_silenced(), local_cluster(workers or cores()) as client:
        yield client


def _client(distributed, scheduler: str):
    """A Client on the scheduler at its address, made on a thread of its own:
    a server that accepts the connection but never answers as Dask does (a
    web server) holds Dask's handshake past its own timeout."""
    made: dict = {}

    def make() -> None:
        try:
            made["client"] = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT)
        except Exception as e:  # noqa: BLE001 - raised again below, in this thread
            made["error"] = e

    thread = threading.Thread(target=make, name="dask-connect", daemon=True)
    thread.start()
    thread.join(ANSWER_WAIT_S)
    if thread.is_alive():
        raise TimeoutError(f"no answer as a Dask scheduler within {ANSWER_WAIT_S} s")
    if "error" in made:
        raise made["error"]
    return made["client"]


@contextmanager
def _dask_logs_silenced():
    """Dask's own loggers (each has its level) below CRITICAL for the block."""
    names = [n for n in logging.root.manager.loggerDict if n.split(".")[0] == "distributed"]
    loggers = [logging.getLogger(n) for n in ["distributed", *names]]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def dashboard(client, local: bool) -> str:
    """The dashboard's address, or '' when it is not running. Without bokeh a
    scheduler serves only a page asking for it, so that counts as none (a
    local one serves none at all)."""
    from .local import has_dashboard

    if local and not has_dashboard():
        return ""
    try:
        if "dashboard" in client.scheduler_info().get("services", {}):
            return client.dashboard_link
    except (OSError, KeyError, TypeError):
        pass
    return ""


def check_workers(client, sweep_dir: Path, token: str) -> int:
    """Wait for a worker, check that every worker sees the sweep folder;
    returns the number of workers."""
    try:
        client.wait_for_workers(1, timeout=WORKER_WAIT_S)
    except TimeoutError:
        raise SweepError(
            f"no Dask worker joined the scheduler within {WORKER_WAIT_S} s; start "
            f"one with 'dask worker {client.scheduler.address} --nthreads 1'"
        ) from None
    try:
        seen = client.run(check_visible, str(sweep_dir), token)
    except Exception as e:  # noqa: BLE001 - raised on a worker, of any kind
        raise SweepError(
            f"a Dask worker cannot run charnn ({type(e).__name__}: {str(e)[:200]}); every "
            "worker needs charnn installed, the same version as this machine's"
        ) from None
    problems = [p for p in seen.values() if p]
    if problems:
        raise SweepError(
            f"{problems[0]} ({len(problems)} of {len(seen)} workers): the workers "
            "write the run folders, so the sweep folder must be on a filesystem "
            "they share with this machine, at the same path"
        )
    return len(seen)


def execute(
    sweep: Sweep,
    sweep_dir: Path,
    spec_text: bytes,
    workers: int | None = None,
    scheduler: str | None = None,
    report: Callable[[Event], None] = lambda e: None,
) -> list[dict]:
    """Run every run of sweep not yet finished or diverged; returns the rows
    of all runs (see summary.collect), in spec order."""
    distributed = import_dask()
    if workers is not None and scheduler:
        raise ConfigError(
            "--workers sizes the local cluster; with --scheduler the cluster's "
            "own workers run the sweep"
        )
    if workers is not None and workers <= 0:
        raise ConfigError(f"--workers must be a positive integer, got {workers}")
    if workers is not None and workers > cores():
        raise ConfigError(
            f"--workers {workers} is more than the {cores()} cores this process may run on; "
            f"each worker trains on one core: give --workers {cores()} or fewer"
        )
    sweep_dir = Path(sweep_dir).resolve()
    with sf.lock(sweep_dir):  # one driver per sweep folder
        token = sf.prepare(sweep_dir, sweep, spec_text)
        return _execute(sweep, sweep_dir, token, workers, scheduler, report, distributed)


def _execute(sweep, sweep_dir, token, workers, scheduler, report, distributed) -> list[dict]:
    todo = [
        r
        for r in sweep.runs
        if sf.read_status(sf.run_folder(sweep_dir, r.name))["status"] not in sf.DONE
    ]
    waiting = {r.name for r in todo}
    known = {
        r.name: run_row(sf.run_folder(sweep_dir, r.name), r.name, r.config.seq_length)
        for r in sweep.runs
        if r.name not in waiting
    }
    report(Event("skip", count=len(known), rows=list(known.values())))
    failed = {}
    if todo:
        with connect(distributed, workers, scheduler) as client:
            n = check_workers(client, sweep_dir, token)
            report(Event("cluster", workers=n, dashboard=dashboard(client, not scheduler)))
            futures = [
                client.submit(
                    run_one,
                    str(sweep_dir),
                    token,
                    r.name,
                    r.config.to_dict(),
                    key=f"charnn-{token}-{r.name}",
                    pure=False,
                )
                for r in todo
            ]
            names = {f.key: r.name for f, r in zip(futures, todo)}
            for fut in distributed.as_completed(futures):
                row = _result(distributed, fut, names[fut.key], client, scheduler)
                if row["status"] == "failed":
                    failed[row["name"]] = row["message"]
                else:
                    known[row["name"]] = row
                report(Event("run", row=row))
    return collect(sweep, sweep_dir, failed, known)


def _result(distributed, fut, name: str, client, scheduler: str | None) -> dict:
    """The row a task returned, or a 'failed' row saying why it has none.
    A lost scheduler fails no run: the sweep stops (SweepError)."""
    try:
        return fut.result()
    except Exception as e:
        if client.status != "running" or "connection-lost" in str(e):
            where = f" at {scheduler}" if scheduler else ""
            raise SweepError(
                f"the connection to the Dask scheduler{where} was lost; no run is counted as "
                "failed: run the same command again (with the scheduler up) to continue"
            ) from None
        return _failed(distributed, e, name)


def _failed(distributed, error: Exception, name: str) -> dict:
    """The 'failed' row of a task that raised error."""
    if isinstance(error, distributed.KilledWorker):
        why = (
            "its worker died each time it ran it; run the command again to resume "
            "from its last checkpoint"
        )
    elif isinstance(error, CheckpointError) and "filesystem they share" in str(error):
        raise SweepError(str(error)) from None
    elif isinstance(error, CharnnError):
        why = str(error)
    else:  # any failure of one run is that run's row
        why = f"{type(error).__name__}: {error}"
    return {"name": name, "status": "failed", "message": why}

"""What runs inside a Dask worker: one training run, in the worker's own
process, so that importing charnn, loading the compiled kernels and
limiting BLAS to one thread are paid once per worker, not once per run.

A run picks up where its folder stands: a run folder is resumed exactly
(Run.resume: from its checkpoint, or from its start when it was stopped
before the first one), an empty one starts fresh. The run folder's lock
keeps a second writer out (a worker the scheduler gave up on but that still
runs): that task fails, naming the holder. A diverged run is recorded in
status.json and returned as such; it is never retried.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

from ..errors import CheckpointError, DivergenceError
from ..run import rundir
from ..run.config import TrainConfig
from . import folder as sf

_READY: set = set()  # (what, detail) already done in this worker process


def check_visible(sweep_dir: str, token: str) -> str | None:
    """None if this process sees the sweep folder (same token), else why not."""
    where = f"worker on {socket.gethostname()}"
    try:
        info = json.loads((Path(sweep_dir) / sf.SWEEP_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return f"{where} cannot read {sweep_dir}/{sf.SWEEP_JSON}"
    if info.get("token") != token:
        return f"{where} sees a different folder at {sweep_dir}"
    return None


def _prepare_process(cfg: TrainConfig) -> None:
    """One BLAS thread, a run's side work inline (one core per
    worker: see run.background.INLINE), and the kernels for cfg's dtype
    loaded, once per process."""
    if "threads" not in _READY:
        from ..run import background

        background.INLINE = True
        try:
            from threadpoolctl import threadpool_limits

            threadpool_limits(1)
        except ImportError:  # the nanny's OMP/OPENBLAS/MKL_NUM_THREADS=1 still apply
            pass
        _READY.add("threads")
    if cfg.engine == "fast" and ("engine", cfg.dtype) not in _READY:
        from .. import engine

        engine.prepare(cfg.dtype)  # from the cache, as a `charnn train` loads them
        _READY.add(("engine", cfg.dtype))


def run_one(sweep_dir: str, token: str, name: str, config: dict) -> dict:
    """Train run `name` of the sweep to its end; returns its row of the summary."""
    from ..run.loop import Run
    from .summary import run_row

    problem = check_visible(sweep_dir, token)
    if problem:
        raise CheckpointError(
            f"{problem}: the workers write the run folders, so the sweep "
            "folder must be on a filesystem they share, at the same path"
        )
    cfg = TrainConfig.from_dict(config)
    _prepare_process(cfg)
    folder = sf.run_folder(Path(sweep_dir), name)
    if sf.read_status(folder)["status"] not in sf.DONE:
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            if rundir.has_run(folder):
                run = Run.resume(folder)
            else:
                run = Run.start(folder, cfg)
            run.train(lambda event: None)
            status, message = "finished", ""
        except DivergenceError as e:
            status, message = "diverged", str(e)
        # this task's share: a resumed run's earlier tasks are not counted
        times = {"task_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0}
        sf.write_status(folder, status, message=message, **times)
    return run_row(folder, name, cfg.seq_length)

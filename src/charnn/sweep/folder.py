"""The sweep folder: what a sweep writes and how a second start finds where
the first one stopped.

    SWEEP_DIR/sweep.json     the expanded spec (every run's configuration) and a token
    SWEEP_DIR/spec.toml      the spec as given, for people
    SWEEP_DIR/runs/NAME/     ordinary run folders (charnn report, sample, compare work on them)
    SWEEP_DIR/runs/NAME/status.json   {"status": "finished" | "diverged", "message", ...}
    SWEEP_DIR/summary.csv, summary.html, summary.md, summary.png
    SWEEP_DIR/.lock          held by the process driving the sweep (one at a time)

A run is finished or diverged once its status.json says so, partial when
it has a checkpoint, and new otherwise. The token (random, written once)
lets a worker check that it sees this very folder, not another one at the
same path on its own machine.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from ..errors import CheckpointError
from ..run import rundir
from ..run.lock import LOCK, RunLock
from .spec import Sweep

SWEEP_JSON = rundir.SWEEP_JSON
SPEC_COPY = "spec.toml"
RUNS = "runs"
STATUS = "status.json"
DONE = ("finished", "diverged")
FORMAT = 1


def run_folder(sweep_dir: Path, name: str) -> Path:
    return Path(sweep_dir) / RUNS / name


def read_sweep(sweep_dir: Path) -> dict:
    """sweep.json of a sweep folder; CheckpointError if there is none."""
    path = Path(sweep_dir) / SWEEP_JSON
    if not path.is_file():
        raise CheckpointError(f"{sweep_dir} holds no sweep (no {SWEEP_JSON})")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path} is unreadable or not JSON ({e})") from None
    if (
        not isinstance(info, dict)
        or not isinstance(info.get("sweep"), dict)
        or not isinstance(info.get("token"), str)
    ):
        raise CheckpointError(f"{path} is not a charnn sweep description")
    return info


def is_sweep(folder: Path) -> bool:
    return (Path(folder) / SWEEP_JSON).is_file()


def _without_labels(sweep: dict) -> dict:
    """An expanded spec less its runs' setting labels, which only name what
    the runs are (and were once the same for corpus files of one name)."""
    runs = sweep.get("runs")
    if not isinstance(runs, list):
        return sweep
    bare = [{k: v for k, v in r.items() if k != "setting"} for r in runs if isinstance(r, dict)]
    return {**sweep, "runs": bare + [r for r in runs if not isinstance(r, dict)]}


def first_difference(old: dict, new: dict) -> str:
    """A short phrase naming what differs between two expanded specs."""
    for key in ("base", "grid", "zip", "seed"):
        if old.get(key) != new.get(key):
            return f"its {key} differs ({old.get(key)} then, {new.get(key)} now)"
    return "its runs differ"


def lock(sweep_dir: Path) -> RunLock:
    """Create the sweep folder if need be; returns its lock (the run folders'
    kind, on SWEEP_DIR/.lock), to take with `with`: a second sweep on the
    folder is refused, naming the process that holds it."""
    sweep_dir = Path(sweep_dir)
    rundir.make_folder(sweep_dir)
    return RunLock(sweep_dir)


def prepare(sweep_dir: Path, sweep: Sweep, spec_text: bytes) -> str:
    """Create the sweep folder, or check that it holds this very sweep;
    returns the folder's token. Called with the folder's `lock` held."""
    sweep_dir = Path(sweep_dir)
    rundir.make_folder(sweep_dir)
    new = json.loads(json.dumps(sweep.to_json()))  # tuples become lists, as read back
    if is_sweep(sweep_dir):
        info = read_sweep(sweep_dir)
        if _without_labels(info["sweep"]) != _without_labels(new):
            raise CheckpointError(
                f"{sweep_dir} holds a sweep made from another spec: "
                f"{first_difference(info['sweep'], new)}; use the original "
                "spec to continue it, or another --out"
            )
        return info["token"]
    if any(p.name != LOCK for p in sweep_dir.iterdir()):
        raise CheckpointError(f"{sweep_dir} is not empty and holds no sweep; choose another --out")
    rundir.make_folder(sweep_dir / RUNS)
    token = secrets.token_hex(8)
    rundir.write_text(sweep_dir / SPEC_COPY, spec_text.decode("utf-8"))
    rundir.write_json(sweep_dir / SWEEP_JSON, {"format": FORMAT, "token": token, "sweep": new})
    return token


def read_status(folder: Path) -> dict:
    """A run folder's status.json, or {"status": "partial" | "new"}."""
    try:
        info = json.loads((folder / STATUS).read_text(encoding="utf-8"))
        if isinstance(info, dict) and info.get("status") in DONE:
            return info
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        pass
    return {"status": "partial" if (folder / rundir.CHECKPOINT).exists() else "new"}


def write_status(folder: Path, status: str, **extra) -> None:
    rundir.write_json(folder / STATUS, {"status": status, **extra})


def expand_runs(paths: list[Path]) -> list[Path]:
    """paths with each sweep folder replaced by its run folders that hold a run."""
    out = []
    for p in map(Path, paths):
        if not is_sweep(p):
            out.append(p)
            continue
        names = [r["name"] for r in read_sweep(p)["sweep"].get("runs", [])]
        found = [run_folder(p, n) for n in names if rundir.has_run(run_folder(p, n))]
        if not found:
            raise CheckpointError(f"sweep {p} holds no run yet; run 'charnn sweep' first")
        out += found
    return out

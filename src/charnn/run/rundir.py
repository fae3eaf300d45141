"""The run directory: which files a run writes, and how they are kept consistent.

config.json      the resolved configuration, vocabulary, corpus, versions
checkpoint.npz   the latest full training state (resume from it)
best.npz         the model at the minimum smoothed loss
metrics.csv      one row per update, plus validation rows
samples.jsonl    the text evolution: {"update", "smooth_loss", "text"} per line
best_200.txt, best_1000.txt   text from the best model at the end
loss.png         the smoothed-loss plot
"""

from __future__ import annotations

import csv
import json
import math
import os
import platform
from pathlib import Path

from ..errors import CheckpointError
from ..fsio import atomic_write

CONFIG = "config.json"
CHECKPOINT = "checkpoint.npz"
BEST = "best.npz"
METRICS = "metrics.csv"
SAMPLES = "samples.jsonl"
PLOT = "loss.png"
METRIC_FIELDS = (
    "update",
    "epoch",
    "loss",
    "smooth_loss",
    "val_nats",
    "val_bpc",
    "elapsed_s",
    "updates_per_s",
)


def has_run(folder: Path) -> bool:
    return (folder / CONFIG).exists() or (folder / CHECKPOINT).exists()


def prepare_new(folder: Path, force: bool) -> None:
    """Create folder for a new run, refusing to replace a run unless force."""
    if folder.exists() and not folder.is_dir():
        raise CheckpointError(f"--out {folder} is a file, not a directory; choose another path")
    if has_run(folder) and not force:
        raise CheckpointError(
            f"{folder} already holds a run; use --resume to continue it "
            "or --force to start over (its files will be replaced)"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise CheckpointError(f"cannot write to {folder}: {e.strerror or e}") from None
    if force:
        for name in (
            CHECKPOINT,
            BEST,
            METRICS,
            SAMPLES,
            PLOT,
            "best_200.txt",
            "best_1000.txt",
            "report.html",
            "report.md",
        ):
            (folder / name).unlink(missing_ok=True)


def versions() -> dict:
    """Versions of the software a run was made with."""
    import numpy

    from .. import __version__

    out = {"charnn": __version__, "python": platform.python_version(), "numpy": numpy.__version__}
    try:
        import numba

        out["numba"] = numba.__version__
    except ImportError:
        pass
    return out


def write_json(path: Path, obj) -> None:
    data = json.dumps(obj, indent=2, ensure_ascii=False).encode("utf-8")
    atomic_write(path, lambda f: f.write(data))


def read_config(folder: Path) -> dict:
    path = folder / CONFIG
    if not path.is_file():
        raise CheckpointError(
            f"{folder} holds no run (no {CONFIG}); train one with 'charnn train --out {folder}'"
        )
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path} is unreadable or not JSON ({e})") from None
    if (
        not isinstance(info, dict)
        or not isinstance(info.get("config"), dict)
        or not isinstance(info.get("vocab"), list)
    ):
        raise CheckpointError(f"{path} is not a charnn run configuration")
    return info


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return repr(float(v)) if isinstance(v, float) else str(v)


def append_metrics(folder: Path, rows) -> None:
    """Append rows (dicts keyed by METRIC_FIELDS) to metrics.csv, header first."""
    path = folder / METRICS
    new = not path.exists()
    with open(path, "a", encoding="utf-8", newline="") as f:
        if new:
            f.write(",".join(METRIC_FIELDS) + "\n")
        f.writelines(",".join(_fmt(r.get(k)) for k in METRIC_FIELDS) + "\n" for r in rows)


def read_metrics(folder: Path) -> list[dict]:
    """metrics.csv as a list of dicts of floats (None where empty)."""
    path = folder / METRICS
    if not path.exists():
        return []
    with open(path, encoding="utf-8", newline="") as f:
        return [
            {k: (float(v) if v not in ("", None) else None) for k, v in row.items()}
            for row in csv.DictReader(f)
        ]


def append_sample(folder: Path, update: int, smooth: float, text: str, **documents) -> None:
    """One line of samples.jsonl; documents: "documents" and "ended" lists in
    document mode (text is then the documents joined)."""
    with open(folder / SAMPLES, "a", encoding="utf-8") as f:
        f.write(
            json.dumps(
                {
                    "update": update,
                    "smooth_loss": None if math.isnan(smooth) else smooth,
                    "text": text,
                    **documents,
                },
                ensure_ascii=False,
            )
            + "\n"
        )


def read_samples(folder: Path) -> list[dict]:
    path = folder / SAMPLES
    if not path.exists():
        return []
    # split on "\n" only: JSON keeps U+2028 and friends unescaped inside texts
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line]


def truncate_logs(folder: Path, update: int, events_done: bool, eval_every: int) -> None:
    """Drop log lines written after a checkpoint at `update`, and the final
    validation of a finished run (off the eval_every grid), so a resumed run
    writes exactly what an uninterrupted one would."""

    def keep_event(u):
        return u < update or (u == update and events_done)

    def keep_row(line):
        cells = line.rstrip("\n").split(",")
        if not line.endswith("\n") or len(cells) != len(METRIC_FIELDS):
            return False  # cut short by a crash
        u = int(cells[0])
        if cells[2]:  # the row of an update: kept if that update is in the checkpoint
            return u <= update
        return keep_event(u) and u % eval_every == 0

    def keep_sample(line):
        try:
            return keep_event(json.loads(line)["update"])
        except (ValueError, KeyError, TypeError):
            return False

    path = folder / METRICS
    if path.exists():
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
        data = "".join(lines[:1] + [ln for ln in lines[1:] if ln.strip() and keep_row(ln)])
        atomic_write(path, lambda f: f.write(data.encode("utf-8")))
    path = folder / SAMPLES
    if path.exists():
        lines = path.read_text(encoding="utf-8", errors="replace").split("\n")
        data = "".join(ln + "\n" for ln in lines if ln and keep_sample(ln))
        atomic_write(path, lambda f: f.write(data.encode("utf-8")))


def write_text(path: Path, text: str) -> None:
    data = text.encode("utf-8")
    atomic_write(path, lambda f: f.write(data))

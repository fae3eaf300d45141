"""The run directory: which files a run writes, and how they are kept consistent.

config.json      the resolved configuration, vocabulary, corpus, versions
checkpoint.npz   the latest full training state (resume from it)
best.npz         the model at the minimum smoothed loss
best_val.npz     the model at the minimum validation loss
outcome.json     validation of the best models and the final one
record.json      what the report shows of the run's start (run/record.py)
metrics.csv      one row per update, plus validation rows
samples.jsonl    the text evolution: {"update", "smooth_loss", "text"} per line
best_200.txt, best_1000.txt   text from the best model at the end
loss.png         the smoothed-loss plot
timing.json      where the wall time of the last training process went
.lock            the lock of the process writing the run (see lock.py)
"""

from __future__ import annotations

import io
import json
import math
import platform
import time
from pathlib import Path

import numpy as np

from ..errors import CheckpointError
from ..fsio import atomic_write
from .lock import RunLock

CONFIG = "config.json"
CHECKPOINT = "checkpoint.npz"
BEST = "best.npz"
BEST_VAL = "best_val.npz"
METRICS = "metrics.csv"
SAMPLES = "samples.jsonl"
PLOT = "loss.png"
TIMING = "timing.json"
METRIC_FIELDS = (
    "update",
    "epoch",
    "loss",
    "smooth_loss",
    "val_nats",
    "val_bpc",
    "elapsed_s",
    "updates_per_s",
    "train_bpc",
    "smooth_bpc",
)


def has_run(folder: Path) -> bool:
    return (folder / CONFIG).exists() or (folder / CHECKPOINT).exists()


RUN_FILES = (
    CONFIG,
    CHECKPOINT,
    BEST,
    BEST_VAL,
    "outcome.json",
    "record.json",
    "sampling.json",
    METRICS,
    SAMPLES,
    PLOT,
    TIMING,
    "best_200.txt",
    "best_1000.txt",
    "report.html",
    "report.md",
)


def check_links(folder: Path) -> None:
    """Refuse a run file that is a symbolic link: writing through it would
    write outside the run folder (or create the file a dangling link names)."""
    for name in RUN_FILES:
        path = folder / name
        if path.is_symlink():
            dangling = "" if path.exists() else " to a missing file"
            raise CheckpointError(
                f"{path} is a symbolic link{dangling}; a run folder keeps its own files: "
                "replace the link by the file or remove it"
            )


def lock_folder(folder: Path) -> RunLock:
    """The run folder's lock, taken (the folder must exist), with its files checked."""
    lock = RunLock(folder).acquire()
    try:
        check_links(folder)
    except BaseException:
        lock.release()
        raise
    return lock


def prepare_new(folder: Path, force: bool) -> RunLock:
    """Create and lock folder for a new run, refusing to replace a run unless
    force. Returns the lock, held from before anything is checked or removed."""
    if folder.exists() and not folder.is_dir():
        raise CheckpointError(f"--out {folder} is a file, not a directory; choose another path")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CheckpointError(f"cannot write to {folder}: {e.strerror or e}") from None
    lock = lock_folder(folder)
    try:
        if has_run(folder) and not force:
            raise CheckpointError(
                f"{folder} already holds a run; use --resume to continue it "
                "or --force to start over (its files will be replaced)"
            )
        if force:  # config.json last: until it is replaced, the folder is the old run
            for name in RUN_FILES[1:] + RUN_FILES[:1]:
                (folder / name).unlink(missing_ok=True)
    except BaseException:
        lock.release()
        raise
    return lock


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
    """Readable UTF-8 JSON; escaped ASCII when a text (a file name with a byte
    that is not UTF-8) cannot be written as UTF-8, so it round-trips."""
    try:
        data = json.dumps(obj, indent=2, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        data = json.dumps(obj, indent=2).encode("ascii")
    atomic_write(path, lambda f: f.write(data))


def write_config(folder: Path, info: dict, corpus: dict, run_id, created=None) -> None:
    """config.json: info (configuration and vocabulary), the corpus (with its
    fingerprint), the run id, software versions and the time the run began."""
    created = created or time.strftime("%Y-%m-%dT%H:%M:%S%z")
    info = {**info, "corpus": corpus, "run": {"id": run_id}, "versions": versions()}
    write_json(folder / CONFIG, {**info, "created": created})


def read_config(folder: Path) -> dict:
    path = folder / CONFIG
    if not path.is_file():
        raise CheckpointError(
            f"{folder} holds no run (no {CONFIG}); train one with 'charnn train --out {folder}'"
        )
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(
            f"{path} is unreadable or not JSON ({e}); restore it, or remove it and "
            f"'charnn train --resume {folder}' writes it again from {CHECKPOINT}"
        ) from None
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


def metric_fields(folder: Path) -> tuple[str, ...]:
    """The columns of the run's metrics.csv: its header (a run made before
    columns were added keeps its own), or METRIC_FIELDS for a new file."""
    try:
        with open(folder / METRICS, encoding="utf-8") as f:
            header = f.readline().strip()
    except FileNotFoundError:
        return METRIC_FIELDS
    return tuple(header.split(",")) if header else METRIC_FIELDS


def append_metrics(folder: Path, rows) -> None:
    """Append rows (dicts keyed by METRIC_FIELDS) to metrics.csv, header first."""
    path = folder / METRICS
    new = not path.exists() or path.stat().st_size == 0
    fields = METRIC_FIELDS if new else metric_fields(folder)
    with open(path, "a", encoding="utf-8", newline="") as f:
        if new:
            f.write(",".join(fields) + "\n")
        f.writelines(",".join(_fmt(r.get(k)) for k in fields) + "\n" for r in rows)


def append_metric_columns(folder: Path, columns: dict, n: int) -> None:
    """Append n rows given column-wise: each METRIC_FIELDS key maps to a
    sequence of n values or to one value for every row (absent: empty).
    The same text as append_metrics, formatted a column at a time."""
    path = folder / METRICS
    new = not path.exists() or path.stat().st_size == 0
    fields = METRIC_FIELDS if new else metric_fields(folder)  # an older run keeps its header
    cells = []
    for k in fields:
        v = columns.get(k)
        if isinstance(v, (list, tuple, np.ndarray)):
            cells.append(list(map(_fmt, np.asarray(v).tolist())))
        else:
            cells.append([_fmt(v)] * n)
    with open(path, "a", encoding="utf-8", newline="") as f:
        if new:
            f.write(",".join(fields) + "\n")
        f.write("".join(",".join(row) + "\n" for row in zip(*cells)))


def read_metric_columns(folder: Path) -> dict[str, np.ndarray]:
    """metrics.csv as float64 columns keyed by METRIC_FIELDS (NaN where
    empty), parsed by NumPy: fast on the million rows of a long run. A file
    NumPy cannot take whole goes through read_metrics, which names the
    damaged line."""
    path = folder / METRICS
    if not path.exists():
        return {k: np.empty(0) for k in METRIC_FIELDS}
    header, _, body = path.read_text(encoding="utf-8", errors="replace").partition("\n")
    lines = [ln for ln in body.split("\n") if ln]
    n = len(METRIC_FIELDS)
    table = None
    if header.rstrip("\r").split(",") == list(METRIC_FIELDS) and all(
        ln.count(",") == n - 1 for ln in lines
    ):
        # empty cells become "nan" so that loadtxt's C parser takes every line
        text = "\n".join("," + ln.rstrip("\r") + "," for ln in lines)
        text = text.replace(",,", ",nan,").replace(",,", ",nan,")
        try:
            table = np.loadtxt(io.StringIO(text), delimiter=",", ndmin=2, usecols=range(1, n + 1))
        except ValueError:
            table = None
    if table is None or (lines and not _integral(table[:, :2])):
        rows = read_metrics(folder)  # raises, naming the line
        return {
            k: np.array([np.nan if r[k] is None else r[k] for r in rows]) for k in METRIC_FIELDS
        }
    table = table.reshape(len(lines), n)
    return {k: table[:, i] for i, k in enumerate(METRIC_FIELDS)}


def _integral(a: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(a)) and np.all(a == np.round(a)))


def _damaged(path: Path, line: int, what: str) -> CheckpointError:
    return CheckpointError(
        f"{path} line {line} is damaged ({what}); "
        "'charnn train --resume' repairs the logs of a run, or delete the line"
    )


def read_metrics(folder: Path) -> list[dict]:
    """metrics.csv as a list of dicts of floats (None where empty); a
    malformed line is an error naming the file and the line."""
    path = folder / METRICS
    if not path.exists():
        return []
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        lines = f.read().split("\n")
    fields = _header_fields(lines[0])
    if fields is None:
        raise _damaged(path, 1, f"the header is not {','.join(METRIC_FIELDS)}")
    rows = []
    for i, line in enumerate(lines[1:], start=2):
        if not line:
            continue
        row = _metrics_row(line, fields)
        if row is None:
            raise _damaged(path, i, f"expected {len(fields)} numbers, got {line[:40]!r}")
        rows.append(row)
    return rows


OLD_FIELDS = 8  # runs made before the bits-per-character columns have the first 8


def _header_fields(line: str) -> tuple[str, ...] | None:
    """The columns a metrics.csv header names: METRIC_FIELDS, or the shorter
    list of an older run; None for anything else."""
    fields = tuple(line.rstrip("\r\n").split(","))
    ok = len(fields) >= OLD_FIELDS and fields == METRIC_FIELDS[: len(fields)]
    return fields if ok else None


def _metrics_row(line: str, fields: tuple[str, ...] = METRIC_FIELDS) -> dict | None:
    """One metrics line as a dict, or None when it is not one."""
    cells = line.rstrip("\r").split(",")
    if len(cells) != len(fields):
        return None
    row = dict.fromkeys(METRIC_FIELDS)
    for k, v in zip(fields, cells):
        try:
            row[k] = float(v) if v else None
        except ValueError:
            return None
    if row["update"] is None or row["epoch"] is None or row["update"] != int(row["update"]):
        return None
    return row


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
    """samples.jsonl as a list of dicts; a malformed line is an error naming
    the file and the line."""
    path = folder / SAMPLES
    if not path.exists():
        return []
    out = []
    # split on "\n" only: JSON keeps U+2028 and friends unescaped inside texts
    for i, line in enumerate(path.read_text(encoding="utf-8", errors="replace").split("\n"), 1):
        if line:
            sample = _sample(line)
            if sample is None:
                raise _damaged(path, i, "not a JSON object with update, smooth_loss and text")
            out.append(sample)
    return out


def _sample(line: str) -> dict | None:
    try:
        d = json.loads(line)
    except ValueError:
        return None
    ok = (
        isinstance(d, dict)
        and isinstance(d.get("update"), int)
        and isinstance(d.get("text"), str)
        and (d.get("smooth_loss") is None or isinstance(d.get("smooth_loss"), (int, float)))
    )
    return d if ok else None


def truncate_logs(folder: Path, update: int, events_done: bool, eval_every: int) -> None:
    """Drop log lines written after a checkpoint at `update`, and the final
    validation of a finished run (off the eval_every grid), so a resumed run
    writes exactly what an uninterrupted one would."""

    def keep_event(u):
        return u < update or (u == update and events_done)

    fields = _header_fields(",".join(metric_fields(folder))) or METRIC_FIELDS

    def keep_row(line):
        row = _metrics_row(line.rstrip("\n"), fields)
        if not line.endswith("\n") or row is None:
            return False  # cut short by a crash, or damaged
        u = int(row["update"])
        if row["loss"] is not None:  # the row of an update: kept if it is in the checkpoint
            return u <= update
        return keep_event(u) and u % eval_every == 0

    def keep_sample(line):
        sample = _sample(line)
        return sample is not None and keep_event(sample["update"])

    path = folder / METRICS
    if path.exists():
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
        header = ",".join(fields) + "\n"
        data = "".join([header] + [ln for ln in lines[1:] if ln.strip() and keep_row(ln)])
        atomic_write(path, lambda f: f.write(data.encode("utf-8")))
    path = folder / SAMPLES
    if path.exists():
        lines = path.read_text(encoding="utf-8", errors="replace").split("\n")
        data = "".join(ln + "\n" for ln in lines if ln and keep_sample(ln))
        atomic_write(path, lambda f: f.write(data.encode("utf-8")))


def write_text(path: Path, text: str) -> None:
    data = text.encode("utf-8")
    atomic_write(path, lambda f: f.write(data))

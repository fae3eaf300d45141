"""metrics.csv, the log of a run: one row per update (loss, smoothed loss,
bits per character, rate) plus validation rows; appending rows (row- or
column-wise), reading them back (fast with NumPy, or line by line naming a
damaged line) and the header of a run made before columns were added.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from ..errors import CheckpointError

METRICS = "metrics.csv"
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
    The same text as append_metrics, formatted a chunk at a time."""
    path = folder / METRICS
    new = not path.exists() or path.stat().st_size == 0
    fields = METRIC_FIELDS if new else metric_fields(folder)  # an older run keeps its header
    text = format_columns(fields, columns, n)
    with open(path, "a", encoding="utf-8", newline="") as f:
        if new:
            f.write(",".join(fields) + "\n")
        f.write(text)


def format_columns(fields: tuple[str, ...], columns: dict, n: int) -> str:
    """The lines of up to n rows given column-wise (see append_metric_columns),
    each value as _fmt writes it, by one %-format of the whole chunk: a column
    of floats none of which is NaN goes in as %r (repr, as _fmt writes a
    float), integers as %s, anything else cell by cell through _fmt; a single
    value is written once into the line's template."""
    template, cols = [], []
    for k in fields:
        v = columns.get(k)
        if not isinstance(v, (list, tuple, np.ndarray)):
            template.append(_fmt(v).replace("%", "%%"))
            continue
        a = np.asarray(v)
        if a.dtype.kind == "f" and not np.isnan(a).any():
            template.append("%r")
            cols.append(a.tolist())
        elif a.dtype.kind in "iub":
            template.append("%s")
            cols.append(a.tolist())
        else:
            template.append("%s")
            cols.append(list(map(_fmt, a.tolist())))
    rows = min([n, *map(len, cols)])  # like zip: the shortest column ends the rows
    flat = [None] * (rows * len(cols))
    for i, c in enumerate(cols):
        flat[i :: len(cols)] = c[:rows]
    return (",".join(template) + "\n") * rows % tuple(flat)


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
    if not lines and header_fields(header) is not None:
        return {k: np.empty(0) for k in METRIC_FIELDS}
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


def damaged(path: Path, line: int, what: str) -> CheckpointError:
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
    fields = header_fields(lines[0])
    if fields is None:
        raise damaged(path, 1, f"the header is not {','.join(METRIC_FIELDS)}")
    rows = []
    for i, line in enumerate(lines[1:], start=2):
        if not line:
            continue
        row = metrics_row(line, fields)
        if row is None:
            raise damaged(path, i, f"expected {len(fields)} numbers, got {line[:40]!r}")
        rows.append(row)
    return rows


OLD_FIELDS = 8  # runs made before the bits-per-character columns have the first 8


def header_fields(line: str) -> tuple[str, ...] | None:
    """The columns a metrics.csv header names: METRIC_FIELDS, or the shorter
    list of an older run; None for anything else."""
    fields = tuple(line.rstrip("\r\n").split(","))
    ok = len(fields) >= OLD_FIELDS and fields == METRIC_FIELDS[: len(fields)]
    return fields if ok else None


def metrics_row(line: str, fields: tuple[str, ...] = METRIC_FIELDS) -> dict | None:
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
    u, e = row["update"], row["epoch"]
    if u is None or e is None or not (math.isfinite(u) and math.isfinite(e)) or u != int(u):
        return None
    return row

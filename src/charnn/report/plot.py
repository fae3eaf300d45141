"""Loss plots from metrics.csv (matplotlib, non-interactive backend).

Training and validation share one axis in bits per character: the smoothed
training loss (the seed's 0.999 moving average of the per-sequence loss,
divided by T ln 2) as a line, validation as markers, epoch starts dashed
and numbered.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from ..fsio import atomic_write
from ..run import rundir
from ..run.evaluation import per_char_bpc
from .render import shown


def series(rows: list[dict], T: int) -> dict:
    """Columns of a run's metrics: training (update, smoothed bits/char),
    epoch starts (update counts), validation (update, bits per char). T is the
    run's seq_length (metrics.csv of older runs has no bits/char columns)."""
    train = [r for r in rows if r["loss"] is not None]
    val = [r for r in rows if r["val_bpc"] is not None]
    epochs = [b["update"] - 1 for a, b in zip(train, train[1:]) if b["epoch"] != a["epoch"]]
    return {
        "update": [r["update"] for r in train],
        "smooth": [r["smooth_loss"] for r in train],
        "smooth_bpc": [r.get("smooth_bpc") or per_char_bpc(r["smooth_loss"], T) for r in train],
        "elapsed": [r["elapsed_s"] for r in train],
        "epochs": epochs,
        "val_update": [r["update"] for r in val],
        "val_bpc": [r["val_bpc"] for r in val],
        "val_elapsed": [r["elapsed_s"] for r in val],
    }


def column_series(cols: dict, T: int) -> dict:
    """series() from the NumPy columns of rundir.read_metric_columns."""
    train, val = ~np.isnan(cols["loss"]), ~np.isnan(cols["val_bpc"])
    upd, ep = cols["update"][train], cols["epoch"][train]
    smooth = cols["smooth_loss"][train]
    return {
        "update": upd,
        "smooth": smooth,
        "smooth_bpc": (smooth / (T * math.log(2))).tolist(),
        "elapsed": cols["elapsed_s"][train],
        "epochs": (upd[1:][ep[1:] != ep[:-1]] - 1).tolist(),
        "val_update": cols["update"][val],
        "val_bpc": cols["val_bpc"][val],
        "val_elapsed": cols["elapsed_s"][val],
    }


def figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def y_range(values, uniform: float | None = None, keep=()) -> tuple[float, float] | None:
    """A y-range that shows the learning: from the lowest value to the highest
    after update 0 (whose untrained figure would flatten the curve), capped at
    uniform guessing plus a margin when given and when anything is below it
    (a diverged run, all above, is shown whole). keep: values shown whatever
    the cap (validation points: one worse than uniform is news, not noise).
    values, keep: numbers, None for none."""
    vals = np.array(values, dtype=np.float64)  # None becomes NaN
    vals = vals[np.isfinite(vals)]
    kept = np.array(keep, dtype=np.float64)
    kept = kept[np.isfinite(kept)]
    if not vals.size and not kept.size:
        return None
    both = np.concatenate([vals, kept])
    lo, hi = float(both.min()), float(vals.max() if vals.size else both.max())
    if uniform is not None and lo < uniform * 1.05:
        hi = min(hi, uniform * 1.05)
    if kept.size:
        hi = max(hi, float(kept.max()))
    pad = 0.05 * (hi - lo) or 0.1
    return lo - pad, hi + pad


def plot_run(
    folder: Path, out: Path | None = None, title: str | None = None, columns: dict | None = None
) -> Path:
    """Smoothed training and validation bits/char against updates, epoch
    starts dashed and numbered. Returns the PNG (RUN_DIR/loss.png by default).
    columns: the run's metrics as rundir.read_metric_columns reads them, when
    the caller holds them (a training process); else metrics.csv is read."""
    plt = figure()
    info = rundir.read_config(folder)
    T, K = info["config"]["seq_length"], len(info["vocab"])
    s = column_series(columns if columns is not None else rundir.read_metric_columns(folder), T)
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    ax.plot(s["update"], s["smooth_bpc"], color="tab:blue", lw=1.4, label="training (smoothed)")
    if len(s["val_update"]):
        ax.plot(s["val_update"], s["val_bpc"], "o", color="tab:orange", ms=6, label="validation")
    later = [float(v) for u, v in zip(s["val_update"], s["val_bpc"]) if u > 0]
    rng = y_range(s["smooth_bpc"][len(s["smooth_bpc"]) // 50 :], math.log2(K), keep=later)
    if rng:
        ax.set_ylim(*rng)
    marks, step = epoch_marks(s["epochs"])
    what = "epoch start" if step == 1 else f"epoch start (one in {step:,})"
    for n, (i, u) in enumerate(marks):
        ax.axvline(u, color="gray", ls="--", lw=0.8, label=what if n == 0 else None)
        ax.annotate(
            f"epoch {i + 2:,}",
            (u, 1),
            xycoords=("data", "axes fraction"),
            xytext=(3, -12),
            textcoords="offset points",
            fontsize=8,
            color="gray",
        )
    ax.set_xlabel("updates done")
    ax.set_ylabel("bits per character")
    ax.legend(loc="upper right", fontsize=9)
    ax.set_title(shown(title or f"Training run {folder.resolve().name}"))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out = out or folder / rundir.PLOT
    save_png(fig, out)
    plt.close(fig)
    return out


MAX_EPOCH_MARKS = 12  # more lines and labels would not be read, and take long to draw


def epoch_marks(epochs: list[int]) -> tuple[list[tuple[int, int]], int]:
    """The epoch starts to draw, (index, update) of every step-th one, and
    step: all of them up to MAX_EPOCH_MARKS (a tiny corpus makes thousands)."""
    step = max(1, math.ceil(len(epochs) / MAX_EPOCH_MARKS))
    return [(i, epochs[i]) for i in range(0, len(epochs), step)], step


def save_png(fig, path: Path) -> None:
    """Render fig to PNG bytes, then write them atomically."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    data = buf.getvalue()
    atomic_write(path, lambda f: f.write(data))

"""Loss plots from metrics.csv (matplotlib, non-interactive backend)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ..fsio import atomic_write
from ..run import rundir


def series(rows: list[dict]) -> dict:
    """Columns of a run's metrics: training (update, smooth loss), epoch
    starts, and validation (update, bits per char)."""
    train = [r for r in rows if r["loss"] is not None]
    val = [r for r in rows if r["val_bpc"] is not None]
    epochs = [b["update"] - 1 for a, b in zip(train, train[1:]) if b["epoch"] != a["epoch"]]
    return {
        "update": [r["update"] for r in train],
        "smooth": [r["smooth_loss"] for r in train],
        "elapsed": [r["elapsed_s"] for r in train],
        "epochs": epochs,
        "val_update": [r["update"] for r in val],
        "val_bpc": [r["val_bpc"] for r in val],
        "val_elapsed": [r["elapsed_s"] for r in val],
    }


def column_series(cols: dict) -> dict:
    """series() from the NumPy columns of rundir.read_metric_columns."""
    train, val = ~np.isnan(cols["loss"]), ~np.isnan(cols["val_bpc"])
    upd, ep = cols["update"][train], cols["epoch"][train]
    return {
        "update": upd,
        "smooth": cols["smooth_loss"][train],
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


def plot_run(folder: Path, out: Path | None = None, title: str | None = None) -> Path:
    """Smoothed loss against updates, epoch starts dashed, validation bits/char
    on a second axis. Returns the PNG written (RUN_DIR/loss.png by default)."""
    plt = figure()
    s = column_series(rundir.read_metric_columns(folder))
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    ax.plot(s["update"], s["smooth"], color="tab:blue", lw=1.2, label="smoothed training loss")
    for i, u in enumerate(s["epochs"]):
        ax.axvline(u, color="gray", ls="--", lw=0.8, label="epoch start" if i == 0 else None)
    ax.set_xlabel("update")
    ax.set_ylabel("smoothed loss (nats per sequence)")
    handles, labels = ax.get_legend_handles_labels()
    if len(s["val_update"]):
        ax2 = ax.twinx()
        ax2.plot(
            s["val_update"],
            s["val_bpc"],
            "o-",
            color="tab:orange",
            ms=3,
            lw=1,
            label="validation bits/char",
        )
        ax2.set_ylabel("validation bits per character")
        h2, l2 = ax2.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    if handles:
        ax.legend(handles, labels, loc="upper right", fontsize=8)
    ax.set_title(title or f"Training run {folder.name}")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out = out or folder / rundir.PLOT
    save_png(fig, out)
    plt.close(fig)
    return out


def save_png(fig, path: Path) -> None:
    """Render fig to PNG bytes, then write them atomically."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    data = buf.getvalue()
    atomic_write(path, lambda f: f.write(data))

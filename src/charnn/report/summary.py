"""The numbers of a run, read back from its folder: formatting and summaries
shared by the single-run report and the comparison."""

from __future__ import annotations

import math
import statistics
import zipfile
from pathlib import Path

from ..errors import CharnnError
from ..run import bestval, rundir
from ..run.checkpoint import read_meta
from ..run.evaluation import per_char_bpc

# Options that apply only to some optimizers.
OPTIMIZER_ONLY = {"rho": ("rmsprop",), "beta1": ("adam",), "beta2": ("adam",)}
NO_LIMIT = {"updates", "epochs", "max_time"}


def fmt(v, digits: int = 4) -> str:
    """A number as the report shows it: integers with thousands separators,
    floats to digits decimals; '' for a missing one."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    return f"{v:,.{digits}f}"


def option_value(key: str, value) -> str:
    """An option as the report shows it: 'no limit' for a zero limit, numbers
    with separators, a corpus file by its name alone (no paths of the machine)."""
    if key in NO_LIMIT and not value:
        return "no limit"
    if key == "corpus" and isinstance(value, str):
        return Path(value).name
    if isinstance(value, float) and value == int(value) and abs(value) >= 1000:
        return fmt(int(value))
    return fmt(value) if isinstance(value, int) else str(value)


def applicable(cfg: dict) -> list[tuple[str, str]]:
    """(option, shown value) for the options that apply to this run."""
    out = []
    for k, v in cfg.items():
        if k in OPTIMIZER_ONLY and cfg.get("optimizer") not in OPTIMIZER_ONLY[k]:
            continue
        out.append((k, option_value(k, v)))
    return out


def summarize(rows: list[dict], T: int | None = None) -> dict:
    """The numbers of a run from its metrics.csv rows.

    min_smooth/min_update: the lowest smoothed loss (nats per sequence) and
    the update (counted as updates done) whose row logged it; *_bpc: the same
    in bits per character when T is given; val_*: last and lowest validation
    bits per char; rate: updates per second over the whole run, median_rate:
    the median of the per-chunk rates; elapsed: wall seconds of training.
    """
    train = [r for r in rows if r["loss"] is not None]
    val = [r for r in rows if r["val_bpc"] is not None]
    out = {
        "updates": int(train[-1]["update"]) if train else 0,
        "epoch": int(rows[-1]["epoch"]) if rows else 0,
        "elapsed": max((r["elapsed_s"] or 0.0 for r in rows), default=0.0),
    }
    if train:
        best = min(train, key=lambda r: r["smooth_loss"])
        out["min_smooth"], out["min_update"] = best["smooth_loss"], int(best["update"])
        out["final_smooth"] = train[-1]["smooth_loss"]
        if T:
            out["min_smooth_bpc"] = per_char_bpc(out["min_smooth"], T)
            out["final_smooth_bpc"] = per_char_bpc(out["final_smooth"], T)
        t = train[-1]["elapsed_s"] or 0.0
        out["rate"] = out["updates"] / t if t > 0 else None
        rates = [r["updates_per_s"] for r in train if r["updates_per_s"]]
        out["median_rate"] = statistics.median(rates) if rates else None
    if val:
        best = min(val, key=lambda r: r["val_bpc"])
        out["val_final"], out["val_final_update"] = val[-1]["val_bpc"], int(val[-1]["update"])
        out["val_best"], out["val_best_update"] = best["val_bpc"], int(best["update"])
    return out


def best_counters(folder: Path) -> dict:
    """best.npz's counters (best_update, best_smooth), or {} when absent."""
    try:
        with zipfile.ZipFile(folder / rundir.BEST) as zf:
            return read_meta(zf, str(folder / rundir.BEST)).get("counters") or {}
    except (OSError, zipfile.BadZipFile, CharnnError, ValueError):
        return {}


def updates_per_epoch(info: dict) -> int:
    """Updates in one pass over the training text, from config.json's corpus
    sizes (as the run counts them: each of the B streams reads its share)."""
    cfg, c = info["config"], info.get("corpus", {})
    return max(c.get("train_chars", 0) // max(cfg["batch_size"], 1) - 1, 1) // cfg["seq_length"]


def unfinished(folder: Path, info: dict, s: dict) -> str | None:
    """None for a run that has written its end (outcome.json, written last,
    at the update its metrics reach); otherwise how far it got, in words
    ("25,000 of 100,000 updates"), so that no figure of a run cut short
    passes for a finished run's."""
    if bestval.read_outcome(folder).get("updates") == s["updates"] and s["updates"] > 0:
        return None
    cfg = info["config"]
    epochs = math.ceil((cfg.get("epochs") or 0) * updates_per_epoch(info))
    limits = [u for u in (cfg.get("updates") or 0, epochs) if u > 0]
    if limits and s["updates"] >= min(limits):
        return f"trained to its end, {fmt(s['updates'])} updates, but that end is not written"
    if limits:
        return f"{fmt(s['updates'])} of {fmt(min(limits))} updates"
    budget = cfg.get("max_time") or 0
    if budget:
        return (
            f"{fmt(s['updates'])} updates in {fmt(float(s['elapsed']), 1)} s "
            f"of its {fmt(float(budget), 1)} s"
        )
    return f"{fmt(s['updates'])} updates"


def status(cut: str | None) -> str:
    """The status cell of a run, from `unfinished`'s answer."""
    return f"unfinished ({cut})" if cut else "complete"

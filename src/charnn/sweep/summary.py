"""The numbers of a sweep: one row per run (summary.csv), and per setting
the mean and standard deviation over seeds, the settings ranked, and which
differences stand out from the seed-to-seed spread.

A setting is ranked by the mean over its finished runs of the final
validation bits per character (the minimum smoothed loss, in bits per
character too, when the runs hold out no validation text). Its difference
to the best setting is called clear when it is larger than twice its
standard error,
SE = sqrt(s_a^2 / n_a + s_b^2 / n_b), where s are the standard deviations
over seeds (n - 1 in the denominator) and n the numbers of finished runs.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

from ..errors import CheckpointError
from ..fsio import atomic_write
from ..report.sweep import METRIC_NAMES, SweepPage, write_page
from ..run import bestval, rundir
from ..run.evaluation import per_char_bpc
from . import folder as sf
from .spec import Sweep

METRICS = tuple(METRIC_NAMES)  # final_val_bpc, best_val_bpc, min_smooth_bpc
CSV_TAIL = ("seed", "status", "updates", *METRICS, "wall_time_s", "name")


def run_row(folder: Path, name: str, T: int) -> dict:
    """The outcome of one run folder of seq_length T: status and the numbers
    of its metrics, all in bits per character (settings may differ in T)."""
    status = sf.read_status(folder)
    try:
        metrics = rundir.read_metrics(folder)
        train = [r["smooth_loss"] for r in metrics if r["loss"] is not None]
        val = [r["val_bpc"] for r in metrics if r["val_bpc"] is not None]
        if status["status"] == "diverged":  # no final model, no result on validation
            val = []
        updates = max((int(r["update"]) for r in metrics if r["loss"] is not None), default=0)
        wall = max((r["elapsed_s"] or 0.0 for r in metrics), default=0.0)
    except (ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{folder / rundir.METRICS} is malformed ({e})") from None
    return {
        "name": name,
        "status": status["status"],
        "message": status.get("message", ""),
        "updates": updates,
        "final_val_bpc": val[-1] if val else None,
        "best_val_bpc": _best_val(folder, status["status"], val),
        "min_smooth_bpc": per_char_bpc(min(train), T) if train else None,
        "wall_time_s": round(wall, 3),  # metrics.csv logs milliseconds, its end more
        "uniform_bpc": _uniform_bpc(folder),
    }


def _uniform_bpc(folder: Path) -> float | None:
    """log2 K, the bits/char of uniform guessing over the run's vocabulary."""
    try:
        return math.log2(len(rundir.read_config(folder)["vocab"]))
    except (CheckpointError, KeyError, TypeError, ValueError):
        return None


def _best_val(folder: Path, status: str, val: list[float]) -> float | None:
    """The best by validation of a finished run, as its end scored it
    (outcome.json: the best model by smoothed loss is a candidate too);
    else the lowest validation row."""
    best = bestval.read_outcome(folder).get("best_val") if status == "finished" else None
    return best["val_bpc"] if best else (min(val) if val else None)


def collect(
    sweep: Sweep, sweep_dir: Path, failed: dict | None = None, known: dict | None = None
) -> list[dict]:
    """Rows of every run in spec order, with the run's varied options and seed;
    failed maps the names of runs that failed in this session to why, known
    the names of runs done in this session to the run_row their task
    returned (the others are read from their folders)."""
    rows, failed, known = [], failed or {}, known or {}
    for r in sweep.runs:
        folder, T = sf.run_folder(sweep_dir, r.name), r.config.seq_length
        row = dict(known.get(r.name) or run_row(folder, r.name, T))
        if r.name in failed:
            row.update(status="failed", message=failed[r.name])
        rows.append({**r.varied, "seed": r.config.seed, "setting": r.setting, **row})
    return rows


def _cell(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return repr(v) if isinstance(v, float) else str(v)


def write_csv(sweep: Sweep, rows: list[dict], path: Path) -> Path:
    """summary.csv: the varied options, then CSV_TAIL, one line per run."""
    columns = [*sweep.varied_keys, *CSV_TAIL]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    w.writerows([_cell(row.get(c)) for c in columns] for row in rows)
    data = buf.getvalue().encode("utf-8")
    atomic_write(path, lambda f: f.write(data))
    return path


@dataclass
class Stat:
    """Mean and standard deviation over the finished runs of a setting."""

    n: int
    mean: float
    std: float  # nan with fewer than two runs

    @classmethod
    def of(cls, values: list) -> Stat:
        vals = [v for v in values if v is not None and math.isfinite(v)]
        if not vals:
            return cls(0, math.nan, math.nan)
        std = statistics.stdev(vals) if len(vals) > 1 else math.nan
        return cls(len(vals), statistics.fmean(vals), std)


@dataclass
class Setting:
    """One setting's results; delta/se/clear compare it with the best setting."""

    label: str
    varied: dict
    runs: int
    counts: dict
    stats: dict
    rank: int = 0
    delta: float = math.nan
    se: float = math.nan
    clear: bool | None = None
    # the text its figures are on differs from the best setting's (corpus,
    # val_fraction or documents): its delta does not compare like for like
    other_text: bool = False


# the options that decide the text a run is trained and validated on
TEXT_KEYS = ("corpus", "val_fraction", "documents")


def text_warning(sweep: Sweep) -> str | None:
    """A warning when the settings differ in the text their figures are on."""
    varied = [k for k in TEXT_KEYS if k in sweep.varied_keys]
    if not varied:
        return None
    return (
        f"WARNING: the settings differ in {', '.join(varied)}: their figures are on "
        "different texts (training and held-out), so the ranking does not compare them "
        "like for like, and no setting is called worse than the best on another text."
    )


def ranking_metric(sweep: Sweep) -> str:
    """final_val_bpc when every run holds out text, else min_smooth_bpc,
    which every run has: the spec decides, not which runs happen to have
    finished."""
    if all(r.config.val_fraction > 0 for r in sweep.runs):
        return "final_val_bpc"
    return "min_smooth_bpc"


def settings(sweep: Sweep, rows: list[dict]) -> tuple[list[Setting], str]:
    """Settings ranked by the mean of the ranking metric (best first; settings
    with no finished run last), compared with the best; and the metric's name."""
    metric = ranking_metric(sweep)
    out = []
    for label in sweep.settings:
        mine = [r for r in rows if r["setting"] == label]
        done = [r for r in mine if r["status"] == "finished"]
        counts = {
            s: sum(r["status"] == s for r in mine) for s in dict.fromkeys(r["status"] for r in mine)
        }
        stats = {m: Stat.of([r.get(m) for r in done]) for m in METRICS}
        varied = {k: mine[0][k] for k in sweep.varied_keys}
        out.append(Setting(label, varied, len(mine), counts, stats))
    out.sort(key=lambda s: (s.stats[metric].n == 0, s.stats[metric].mean))
    for i, s in enumerate(out):
        s.rank = i + 1 if s.stats[metric].n else 0  # 0: no finished run to rank
    compare_with_best(out, metric)
    return out, metric


def compare_with_best(ranked: list[Setting], metric: str) -> None:
    """Fill delta, se and clear of every setting against the first one."""
    if not ranked or ranked[0].stats[metric].n == 0:
        return
    best = ranked[0].stats[metric]

    def text(s: Setting) -> dict:  # the options that decide its text
        return {k: v for k, v in s.varied.items() if k in TEXT_KEYS}

    for s in ranked[1:]:
        a = s.stats[metric]
        if a.n == 0:
            continue
        s.delta = a.mean - best.mean
        s.other_text = text(s) != text(ranked[0])
        if a.n > 1 and best.n > 1 and not s.other_text:
            s.se = math.sqrt(a.std**2 / a.n + best.std**2 / best.n)
            s.clear = s.delta > 2 * s.se


def curves(sweep: Sweep, sweep_dir: Path, rows: list[dict]) -> dict:
    """Per setting, over its finished runs: {"val" | "smooth": (updates, mean,
    lowest, highest)} in bits per character, at the updates every run logged
    (at most ~400 points)."""
    out, T = {}, {r.name: r.config.seq_length for r in sweep.runs}
    for label in sweep.settings:
        names = [r["name"] for r in rows if r["setting"] == label and r["status"] == "finished"]
        if not names:
            continue
        series = [_series(rundir.read_metrics(sf.run_folder(sweep_dir, n)), T[n]) for n in names]
        out[label] = {k: _band([s[k] for s in series]) for k in ("val", "smooth")}
    return out


def _series(metrics: list[dict], T: int) -> dict:
    val = {int(r["update"]): r["val_bpc"] for r in metrics if r["val_bpc"] is not None}
    train = [r for r in metrics if r["loss"] is not None]
    smooth = {int(r["update"]): per_char_bpc(r["smooth_loss"], T) for r in train}
    return {"val": val, "smooth": smooth}


def _band(runs: list[dict], points: int = 400) -> tuple[list, list, list, list]:
    common = sorted(set.intersection(*(set(r) for r in runs))) if runs else []
    step = max(1, len(common) // points)
    xs = common[::step] + ([common[-1]] if common and (len(common) - 1) % step else [])
    mean = [statistics.fmean(r[x] for r in runs) for x in xs]
    lo = [min(r[x] for r in runs) for x in xs]
    hi = [max(r[x] for r in runs) for x in xs]
    return xs, mean, lo, hi


def write_summary(sweep: Sweep, rows: list[dict], sweep_dir: Path) -> Path:
    """Write summary.csv, summary.png, summary.html and summary.md into
    sweep_dir; returns the HTML path."""
    sweep_dir = Path(sweep_dir)
    write_csv(sweep, rows, sweep_dir / "summary.csv")
    ranked, metric = settings(sweep, rows)
    page = SweepPage(
        sweep_dir,
        list(sweep.seeds),
        sweep.grid,
        sweep.zipped,
        sweep.base,
        metric,
        ranked,
        curves(sweep, sweep_dir, rows),
        rows,
        text_warning(sweep),
    )
    return write_page(page)

"""The summary of a sweep: SWEEP_DIR/summary.html (one self-contained page)
and summary.md, with summary.png beside them: the settings ranked by mean
over seeds (± standard deviation), which differences to the best setting
are larger than the seed-to-seed spread, the validation and smoothed-loss
curves of each setting with a band of ± one standard deviation, and every
run's numbers.
"""

from __future__ import annotations

import math
from pathlib import Path

from .report import fmt, write_doc
from .report_render import Document, Image, Para, Section, Table
from .sweep import summary as sm
from .sweep.spec import Sweep

METRIC_NAMES = {"final_val_bpc": "final validation bits/char",
                "best_val_bpc": "best validation bits/char",
                "min_smooth_loss": "min smoothed loss"}


def pm(stat: sm.Stat, digits: int = 4) -> str:
    """mean ± std, the mean alone for one run, '–' for none."""
    if stat.n == 0:
        return "–"
    if math.isnan(stat.std):
        return f"{stat.mean:.{digits}f}"
    return f"{stat.mean:.{digits}f} ± {stat.std:.{digits}f}"


def verdict(s: sm.Setting) -> str:
    if s.rank == 1:
        return "best"
    if s.clear is None:
        return "–" if math.isnan(s.delta) else "too few seeds to tell"
    return "clearly worse" if s.clear else "within the seed spread"


def ranking_table(ranked: list[sm.Setting], metric: str) -> Table:
    rows = []
    for s in ranked:
        runs = ", ".join(f"{n} {k}" for k, n in s.counts.items())
        rows.append([str(s.rank), s.label, runs,
                     *(pm(s.stats[m], 2 if m == "min_smooth_loss" else 4) for m in sm.METRICS),
                     "" if math.isnan(s.delta) else f"{s.delta:+.4f}",
                     "" if math.isnan(s.se) else f"{s.se:.4f}", verdict(s)])
    header = ["rank", "setting", "runs", *(METRIC_NAMES[m] + " (mean ± std)" for m in sm.METRICS),
              f"Δ {METRIC_NAMES[metric]} to best", "SE of Δ", "difference"]
    return Table(header, rows, key="ranking", marked={0} if ranked else set())


def runs_table(sweep: Sweep, rows: list[dict]) -> Table:
    header = [*sweep.varied_keys, "seed", "status", "updates", *(METRIC_NAMES[m] for m in sm.METRICS),
              "wall time (s)", "run folder"]
    body, marked = [], set()
    for i, r in enumerate(rows):
        if r["status"] != "finished":
            marked.add(i)
        body.append([*(str(r.get(k)) for k in sweep.varied_keys), str(r["seed"]), r["status"],
                     fmt(r.get("updates")), fmt(r.get("final_val_bpc")), fmt(r.get("best_val_bpc")),
                     fmt(r.get("min_smooth_loss"), 2), fmt(r.get("wall_time_s"), 1),
                     f"runs/{r['name']}"])
    if not sweep.varied_keys:  # the first column is a row heading: keep one
        header, body = header[1:], [b[1:] for b in body]
        header[0] = "seed"
    return Table(header, body, key="runs", marked=marked)


def figure(curves: dict, path: Path) -> Path:
    """Validation bits/char and smoothed loss against updates, one line and
    a ± std band per setting."""
    from .plot import figure as pyplot, save_png

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), dpi=100)
    panels = [("val", "validation bits per character"), ("smooth", "smoothed loss (nats per sequence)")]
    for ax, (key, ylabel) in zip(axes, panels):
        for label, c in curves.items():
            xs, mean, std = c[key]
            if not xs:
                continue
            line, = ax.plot(xs, mean, "o-" if key == "val" else "-", ms=3, lw=1.2, label=label)
            lo = [m - s for m, s in zip(mean, std)]
            hi = [m + s for m, s in zip(mean, std)]
            ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.2, lw=0)
        ax.set_xlabel("updates")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        axes[0].legend(handles, labels, fontsize=8)
    fig.suptitle("charnn sweep: mean over seeds, band ± one standard deviation")
    fig.tight_layout()
    save_png(fig, path)
    plt.close(fig)
    return path


def overview(sweep: Sweep, rows: list[dict], sweep_dir: Path) -> Section:
    counts = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    varied = "; ".join(f"{k} in {v}" for k, v in (sweep.grid | sweep.zipped).items())
    how = ("every combination of the grid" if sweep.grid else "") + \
          (" with the zipped lists taken together" if sweep.zipped else "")
    lines = [f"{len(sweep.runs)} runs: {len(sweep.settings)} settings × {len(sweep.seeds)} seeds "
             f"({', '.join(map(str, sweep.seeds))}); " +
             ", ".join(f"{n} {s}" for s, n in counts.items()) + ".",
             f"Varied: {varied} ({how.strip()})." if varied else "Nothing is varied but the seed."]
    failed = [r for r in rows if r["status"] in ("diverged", "failed")]
    blocks = [Para(x) for x in lines]
    blocks += [Para(f"{r['name']}: {r['status']}: {r.get('message', '')}") for r in failed]
    base = [[k, str(v)] for k, v in sweep.base.items()]
    blocks += [Para("Options shared by every run (all others at their defaults):"),
               Table(["option", "value"], base, key="base")]
    return Section("sweep", "The sweep", blocks)


def build(sweep: Sweep, rows: list[dict], sweep_dir: Path) -> Document:
    ranked, metric = sm.settings(sweep, rows)
    png = figure(sm.curves(sweep, sweep_dir, rows), sweep_dir / "summary.png")
    explain = (f"Settings are ranked by the mean {METRIC_NAMES[metric]} over their finished runs. "
               "Δ is a setting's mean minus the best one's; SE = sqrt(s_a²/n_a + s_b²/n_b) from "
               "the standard deviations s over seeds. A difference larger than 2 SE is marked "
               "clearly worse: larger than the seed-to-seed spread explains.")
    sections = [overview(sweep, rows, sweep_dir),
                Section("ranking", "Settings ranked", [Para(explain),
                                                      ranking_table(ranked, metric)]),
                Section("curves", "Curves", [Image(png.name, png.read_bytes(),
                                                   "validation bits per character and smoothed "
                                                   "loss against updates, per setting",
                                                   "Mean over the finished runs of each setting; "
                                                   "the band is ± one standard deviation.")]),
                Section("runs", "Every run", [runs_table(sweep, rows)])]
    return Document(f"charnn sweep: {sweep_dir.name}",
                    f"{len(sweep.runs)} runs in {sweep_dir}", sections)


def write_summary(sweep: Sweep, rows: list[dict], sweep_dir: Path) -> Path:
    """Write summary.csv, summary.png, summary.html and summary.md into
    sweep_dir; returns the HTML path."""
    sweep_dir = Path(sweep_dir)
    sm.write_csv(sweep, rows, sweep_dir / "summary.csv")
    doc = build(sweep, rows, sweep_dir)
    return write_doc(doc, sweep_dir / "summary.html", sweep_dir / "summary.md")

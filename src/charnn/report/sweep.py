"""The summary page of a sweep: SWEEP_DIR/summary.html (one self-contained
page) and summary.md, with summary.png beside them: the settings ranked by
their mean over seeds (± standard deviation), which differences to the best
setting are larger than the seed-to-seed spread, the validation and
smoothed-loss curves of each setting with a band from its lowest to its
highest seed, and every run's numbers.

The numbers come computed (charnn.sweep.summary); this module only lays
them out. A ranked setting is any object with `rank`, `label`, `counts`
({status: runs}), `stats` ({metric: object with n, mean, std}), `delta`,
`se`, `clear` (True, False, or None when it cannot be told) and, optionally,
`other_text` (its figures are on another text than the best setting's).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from .render import Document, Image, Para, Section, Table, write_doc
from .summary import fmt

METRIC_NAMES = {
    "final_val_bpc": "final validation bits/char",
    "best_val_bpc": "best validation bits/char",
    "min_smooth_bpc": "min smoothed training bits/char",
}


@dataclass
class SweepPage:
    """What the page shows. seeds: the seeds of every setting; grid, zipped:
    the varied options and their values; base: the options shared by all
    runs; rows: one dict per run (varied options, seed, status, message,
    updates, the METRIC_NAMES keys, wall_time_s, name, and uniform_bpc, the
    bits/char of uniform guessing, where known); curves: per setting
    label, {"val" | "smooth": (updates, mean, lowest, highest)}."""

    folder: Path
    seeds: list
    grid: dict
    zipped: dict
    base: dict
    metric: str
    ranked: list
    curves: dict
    rows: list
    warning: str | None = None  # settings on different texts (sweep.summary.text_warning)

    @property
    def varied_keys(self) -> list[str]:
        return [*self.grid, *self.zipped]


def pm(stat, digits: int = 4) -> str:
    """mean ± std; the mean alone for one run; '–' for none."""
    if stat.n == 0:
        return "–"
    if math.isnan(stat.std):
        return f"{stat.mean:.{digits}f}"
    return f"{stat.mean:.{digits}f} ± {stat.std:.{digits}f}"


def verdict(s) -> str:
    if s.rank == 0:
        return "no finished run"
    if s.rank == 1:
        return "best"
    if getattr(s, "other_text", False):
        return "on another text: not comparable"
    if s.clear is None:
        return "–" if math.isnan(s.delta) else "too few seeds to tell"
    return "clearly worse" if s.clear else "within the seed spread"


def ranking_table(page: SweepPage) -> Table:
    rows = []
    for s in page.ranked:
        runs = ", ".join(f"{n} {k}" for k, n in s.counts.items())
        means = [pm(s.stats[m], 4) for m in METRIC_NAMES]
        delta = "" if math.isnan(s.delta) else f"{s.delta:+.4f}"
        se = "" if math.isnan(s.se) else f"{s.se:.4f}"
        rows.append([str(s.rank or "–"), s.label, runs, *means, delta, se, verdict(s)])
    header = [
        "rank",
        "setting",
        "runs",
        *(f"{name} (mean ± std)" for name in METRIC_NAMES.values()),
        f"Δ {METRIC_NAMES[page.metric]} to best",
        "SE of Δ",
        "difference",
    ]
    return Table(header, rows, key="ranking", marked={0} if rows else set())


def runs_table(page: SweepPage) -> Table:
    keys = page.varied_keys
    header = [*keys, "seed", "status", "updates", *METRIC_NAMES.values(), "wall time (s)", "run"]
    body, marked = [], set()
    for i, r in enumerate(page.rows):
        if r["status"] != "finished":
            marked.add(i)
        metrics = [fmt(r.get(m), 4) for m in METRIC_NAMES]
        body.append(
            [*(str(r.get(k)) for k in keys), str(r["seed"]), r["status"], fmt(r.get("updates"))]
            + [*metrics, fmt(r.get("wall_time_s"), 1), f"runs/{r['name']}"]
        )
    return Table(header, body, key="runs", marked=marked)


def figure(curves: dict, path: Path) -> Path:
    """Validation bits/char and smoothed loss against updates: per setting,
    the mean over seeds and a band from the lowest to the highest seed (on a
    log scale where one seed strays far from the others)."""
    from .plot import figure as pyplot
    from .plot import save_png

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), dpi=100)
    panels = [
        ("val", "validation bits per character"),
        ("smooth", "smoothed training bits per character"),
    ]
    for ax, (key, ylabel) in zip(axes, panels):
        lows, highs = [], []
        for label, c in curves.items():
            xs, mean, lo, hi = c[key]
            if not xs:
                continue
            (line,) = ax.plot(xs, mean, "o-" if key == "val" else "-", ms=3, lw=1.2, label=label)
            ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.2, lw=0)
            lows.append(min(lo))
            highs.append(max(hi))
        if lows and min(lows) > 0 and max(highs) > 4 * min(lows):
            from matplotlib.ticker import FormatStrFormatter

            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
            ax.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
        ax.set_xlabel("updates")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    if axes[0].get_legend_handles_labels()[0]:
        axes[0].legend(fontsize=8)
    fig.suptitle("charnn sweep: mean over seeds, band from the lowest to the highest seed")
    fig.tight_layout()
    save_png(fig, path)
    plt.close(fig)
    return path


def overview(page: SweepPage) -> Section:
    counts = {}
    for r in page.rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    settings = len(page.rows) // max(len(page.seeds), 1)
    done = ", ".join(f"{n} {s}" for s, n in counts.items())
    blocks = [
        Para(
            f"{len(page.rows)} runs: {settings} settings × {len(page.seeds)} seeds "
            f"({', '.join(map(str, page.seeds))}); {done}."
        )
    ]
    if page.grid:
        grid = "; ".join(f"{k} in {v}" for k, v in page.grid.items())
        blocks.append(Para(f"Every combination of: {grid}."))
    if page.zipped:
        zipped = "; ".join(f"{k} = {v}" for k, v in page.zipped.items())
        blocks.append(Para(f"Taken together, position by position: {zipped}."))
    for r in page.rows:
        if r["status"] in ("diverged", "failed"):
            blocks.append(Para(f"{r['name']}: {r['status']}: {r.get('message', '')}"))
        final, uniform = r.get("final_val_bpc"), r.get("uniform_bpc")
        if r["status"] == "finished" and final and uniform and final > uniform:
            blocks.append(
                Para(
                    f"{r['name']}: finished, but its final validation ({final:.4f} bits/char) "
                    f"is worse than uniform guessing ({uniform:.4f}): it learned nothing usable."
                )
            )
    base = [[k, str(v)] for k, v in page.base.items()]
    blocks += [
        Para("Options shared by every run (all others at their defaults):"),
        Table(["option", "value"], base, key="base"),
    ]
    return Section("sweep", "The sweep", blocks)


def build(page: SweepPage) -> Document:
    png = figure(page.curves, page.folder / "summary.png")
    explain = (
        f"Settings are ranked by the mean {METRIC_NAMES[page.metric]} over their finished runs. "
        "Δ is a setting's mean minus the best one's, SE = sqrt(s_a²/n_a + s_b²/n_b) its standard "
        "error from the standard deviations s over seeds. A Δ larger than 2 SE is marked clearly "
        "worse: larger than the seed-to-seed spread explains."
    )
    caption = (
        "Mean over the finished runs of each setting; the band spans the lowest to the highest "
        "seed."
    )
    alt = "validation bits per character and smoothed loss against updates, per setting"
    ranking = [Para(explain), *([Para(page.warning)] if page.warning else []), ranking_table(page)]
    sections = [
        overview(page),
        Section("ranking", "Settings ranked", ranking),
        Section("curves", "Curves", [Image(png.name, png.read_bytes(), alt, caption)]),
        Section("runs", "Every run", [runs_table(page)]),
    ]
    title = f"charnn sweep: {page.folder.name}"
    return Document(title, f"{len(page.rows)} runs in {page.folder}", sections)


def write_page(page: SweepPage) -> Path:
    """Write summary.png, summary.html and summary.md; returns the HTML path."""
    doc = build(page)
    return write_doc(doc, page.folder / "summary.html", page.folder / "summary.md")

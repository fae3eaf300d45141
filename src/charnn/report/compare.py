"""Several runs side by side: one figure (smoothed training and validation
bits per character, each against updates and against wall time of training)
and one table of configurations (differing options first and highlighted) and
outcomes, written to OUT_DIR/compare.html, compare.md and compare.png; the
outcome table also as plain text for the terminal.

Runs on different corpora or sequence lengths are compared with a warning:
bits per character are comparable, the per-sequence smoothed loss is not, and
validation on another corpus is another held-out text.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

from ..errors import CheckpointError
from ..run import bestval, identity, rundir
from .render import Document, Image, Para, Section, Table, shown, write_doc
from .summary import fmt, option_value, run_state, summarize

# Bookkeeping options that never change what a run learns.
IGNORED = ("log_every", "checkpoint_every")
# Options that change only what is logged: highlighted in the table, kept out
# of the legend so labels stay short.
UNLABELLED = ("eval_every", "sample_every", "sample_length")


def run_names(folders: list[Path]) -> list[str]:
    """Folder names, or the paths as given where two names collide."""
    names = [f.resolve().name or str(f) for f in folders]
    return [shown(str(f) if names.count(n) > 1 else n) for f, n in zip(folders, names)]


def differing(configs: list[dict]) -> list[str]:
    """Configuration keys whose values are not the same in every run."""
    keys = list(dict.fromkeys(k for c in configs for k in c))
    return [k for k in keys if k not in IGNORED and len({repr(c.get(k)) for c in configs}) > 1]


def load_runs(folders: list[Path]) -> list[dict]:
    runs = []
    for folder, name in zip(folders, run_names(folders)):
        info = rundir.read_config(folder)
        rundir.check_links(folder)  # a linked file is not this run's (and train refuses it)
        identity.check_folder(folder)  # config.json describes the run its checkpoints hold
        try:
            rows = rundir.read_metrics(folder)
            s = summarize(rows, info["config"]["seq_length"])
        except (ValueError, KeyError, TypeError, OverflowError) as e:
            raise CheckpointError(f"{folder / rundir.METRICS} is malformed ({e})") from None
        out = bestval.read_outcome(folder)
        state, best = run_state(folder, info, s, out), out.get("best_val")
        if state.kind == "complete" and best:  # its best by validation, as its end scored it
            s["val_best"], s["val_best_update"] = best["val_bpc"], best["update"]
        runs.append(
            {
                "name": name,
                "folder": folder,
                "info": info,
                "rows": rows,
                "summary": s,
                "state": state,
            }
        )
    return runs


def labels(runs: list[dict], keys: list[str]) -> list[str]:
    out = []
    for r in runs:
        cfg = r["info"]["config"]
        extra = ", ".join(f"{k}={cfg.get(k)}" for k in keys)
        out.append(f"{r['name']} ({extra})" if extra else r["name"])
    return out


def spread_time(elapsed: list[float]) -> list[float]:
    """Per-update times: the rows of one chunk share the chunk's end time, so
    spread its duration evenly over its updates (no steps in the plot)."""
    out, start, i = [], 0.0, 0
    while i < len(elapsed):
        j = i
        while j < len(elapsed) and elapsed[j] == elapsed[i]:
            j += 1
        end, n = elapsed[i] or 0.0, j - i
        out += [start + (end - start) * (k + 1) / n for k in range(n)]
        start, i = end, j
    return out


def figure(runs: list[dict], names: list[str], path: Path) -> Path:
    """2x2 panels: smoothed training and validation bits/char against updates and
    time; the y-ranges leave out the untrained start (update 0)."""
    from .plot import figure as pyplot
    from .plot import save_png, series, y_range

    plt = pyplot()
    names = [textwrap.fill(n, 120, subsequent_indent="    ") for n in names]
    legend_h = 0.2 * sum(n.count("\n") + 1 for n in names) + 0.3  # inches, one line each
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5 + legend_h), dpi=100)
    panels = [
        ("update", "smooth_bpc", "training bits/char (smoothed)", "updates done"),
        ("elapsed", "smooth_bpc", "training bits/char (smoothed)", "wall time of training (s)"),
        ("val_update", "val_bpc", "validation bits/char", "updates done"),
        ("val_elapsed", "val_bpc", "validation bits/char", "wall time of training (s)"),
    ]
    all_s = [series(r["rows"], r["info"]["config"]["seq_length"]) for r in runs]
    for s in all_s:
        s["elapsed"] = spread_time(s["elapsed"])
    for ax, (x, y, ylabel, xlabel) in zip(axes.flat, panels):
        shown = []
        for s, name in zip(all_s, names):
            style = "o-" if x.startswith("val") else "-"
            ax.plot(s[x], s[y], style, ms=3, lw=1.2, label=name)
            skip = len(s[y]) // 50 if y == "smooth_bpc" else 1  # the untrained start
            shown += s[y][skip:]
        uniform = max(math.log2(len(r["info"]["vocab"])) for r in runs)
        # capped at uniform: the training curve; every validation point after update 0 shown
        rng = y_range(shown, uniform if y == "smooth_bpc" else None)
        if rng:
            ax.set_ylim(*rng)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    handles, texts = axes.flat[0].get_legend_handles_labels()
    fig.legend(
        handles, texts, loc="lower left", bbox_to_anchor=(0.02, 0.005), fontsize=9, frameon=False
    )
    fig.suptitle("charnn runs compared")
    fig.tight_layout(rect=(0, legend_h / (7.5 + legend_h), 1, 1))
    save_png(fig, path)
    plt.close(fig)
    return path


def tables(runs: list[dict], diff: list[str]) -> list:
    names = [r["name"] for r in runs]
    keys = list(dict.fromkeys(k for r in runs for k in r["info"]["config"]))
    keys = [k for k in keys if k in diff] + [k for k in keys if k not in diff]
    cfg_rows = [[k] + [option_value(k, r["info"]["config"].get(k, "")) for r in runs] for k in keys]
    marked = {i for i, k in enumerate(keys) if k in diff}
    corpus_rows = [
        ["corpus characters"] + [fmt(r["info"].get("corpus", {}).get("chars")) for r in runs],
        ["vocabulary size K"] + [str(len(r["info"]["vocab"])) for r in runs],
    ]

    def outcome(label, key, digits=4, scale=None):
        vals = []
        for r in runs:
            v = r["summary"].get(key)
            if v is not None and scale:
                v = v * scale(r["info"]["config"])
            vals.append(fmt(v, digits) if v is not None else "–")
        return [label] + vals

    def per(c):
        return c["seq_length"] * c["batch_size"]

    results = [
        ["status"] + [r["state"].status() for r in runs],
        outcome("updates", "updates"),
        outcome("min smoothed training bits/char", "min_smooth_bpc"),
        outcome("min smoothed loss (nats/sequence)", "min_smooth", 2),
        outcome("min smoothed loss: update", "min_update"),
        outcome("last validation bits/char", "val_final"),
        outcome("last validation: update", "val_final_update"),
        outcome("best validation bits/char", "val_best"),
        outcome("best validation: parameters after (updates)", "val_best_update"),
        outcome("updates per second", "rate", 1),
        outcome("characters per second", "rate", 0, per),
        outcome("wall time of training (s)", "elapsed", 2),
    ]
    return [
        Table(["option", *names], cfg_rows + corpus_rows, key="config-compare", marked=marked),
        Table(["outcome", *names], results, key="outcome-compare"),
    ]


def check_runs(folders: list[Path]) -> None:
    """Refuse what cannot be compared: fewer than two runs, or one run twice."""
    if len(folders) < 2:
        raise CheckpointError(
            "compare needs two or more run directories; for a single run use "
            f"'charnn report {folders[0] if folders else 'RUN_DIR'}'"
        )
    seen = {}
    for f in folders:
        key = f.resolve()
        if key in seen:
            raise CheckpointError(
                f"{f} and {seen[key]} are the same run ({key}); give distinct runs"
            )
        seen[key] = f


HELD_OUT = ("val_fraction", "documents")  # what, with the corpus, makes the held-out text


def corpus_identity(info: dict) -> str:
    """The corpus's content hash, as the run recorded it; its name or path
    for a run that recorded none. Two paths to the same bytes are one corpus,
    and a file changed between runs is two."""
    digest = info.get("corpus", {}).get("sha256")
    return digest if isinstance(digest, str) else repr(info["config"].get("corpus"))


def warnings(runs: list[dict]) -> list[str]:
    """Warnings for runs whose figures do not compare one to one."""
    out = []
    if len({corpus_identity(r["info"]) for r in runs}) > 1:
        out.append(
            "WARNING: the runs were trained on different corpora: their validation figures "
            "are on different held-out texts and do not compare directly."
        )
    else:
        held = {repr([r["info"]["config"].get(k) for k in HELD_OUT]) for r in runs}
        if len(held) > 1:
            out.append(
                "WARNING: the runs hold out different parts of their corpus (val_fraction or "
                "documents differ): their validation figures do not compare directly."
            )
    out += [w for r in runs if (w := r["state"].warning(r["name"], r["folder"]))]
    lengths = {r["info"]["config"]["seq_length"] for r in runs}
    if len(lengths) > 1:
        out.append(
            "WARNING: the runs differ in sequence length ("
            + ", ".join(map(str, sorted(lengths)))
            + "): compare bits per character; the smoothed loss in nats per sequence "
            "does not compare across lengths."
        )
    return out


def plain_table(table: Table) -> str:
    """A Table as aligned plain text for the terminal."""
    rows = [table.header, *table.rows]
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(table.header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def compare(run_dirs: list[Path], out_dir: Path) -> tuple[Path, str, list[str]]:
    """Write out_dir/compare.{png,html,md} for run_dirs. Returns (the HTML
    path, the outcome table as plain text, warnings). Raises CheckpointError
    for fewer than two runs, a run given twice, or a folder with no run."""
    folders = [Path(f) for f in run_dirs]
    check_runs(folders)
    runs = load_runs(folders)
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CheckpointError(f"cannot create {out_dir}: {e.strerror or e}") from None
    diff = differing([r["info"]["config"] for r in runs])
    names = labels(runs, [k for k in diff if k not in UNLABELLED])
    png = figure(runs, names, out_dir / "compare.png")
    what = (
        f"They differ in {', '.join(diff)} (first in the table, highlighted)."
        if diff
        else "Their configurations are the same."
    )
    warned = warnings(runs)
    config_table, outcome_table = tables(runs, diff)
    sections = [
        Section(
            "curves",
            "Training curves",
            [
                Image(
                    png.name,
                    png.read_bytes(),
                    "training and validation bits per character",
                    "Top: smoothed training bits per character; bottom: validation bits per "
                    "character; left against updates done, right against wall time of training "
                    "(spread evenly over the updates of each logged chunk). The y-ranges leave "
                    "out the untrained start.",
                )
            ],
        ),
        Section(
            "table",
            "Configurations and outcomes",
            [*map(Para, warned), Para(what), config_table, outcome_table],
        ),
    ]
    doc = Document(
        "charnn: runs compared",
        f"{len(runs)} runs: " + "; ".join(r["name"] for r in runs),
        sections,
    )
    page = write_doc(doc, out_dir / "compare.html", out_dir / "compare.md")
    return page, plain_table(outcome_table), warned


def write_compare(run_dirs: list[Path], out_dir: Path) -> Path:
    """compare(), returning the HTML path alone."""
    return compare(run_dirs, out_dir)[0]

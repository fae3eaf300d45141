"""The report of one run: RUN_DIR/report.html (one self-contained page) and
RUN_DIR/report.md (images as files next to it), in the order of the seed's
report: the data, configuration, samples from the untrained network, the
gradient check, the smoothed-loss plot, the text evolution, text from the
best model, and the outcome (validation bits per character, throughput).

Everything is recomputed from the run directory alone; the untrained samples
and the gradient check are re-created from the run's seed, so the same run
always gives the same report. `write_compare` lives in report_compare.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import CharnnError, CheckpointError
from ..run import identity, rundir
from .documents import data_blocks, sample_note
from .render import Chars, Document, Image, Para, Section, Table, Text, char_label, write_doc
from .summary import best_counters, fmt, summarize

UNTRAINED_SAMPLES = 3
EXCERPT = 300


def load_corpus_text(info: dict) -> tuple[str | None, str]:
    """(text, note): the run's corpus, or None and why it could not be read."""
    from ..data.corpus import load

    try:
        return load(info["config"].get("corpus")).text, ""
    except (CharnnError, OSError) as e:
        return None, str(e)


# -- the sections ------------------------------------------------------------
def data_section(info: dict, text: str | None, note: str) -> Section:
    c, vocab = info.get("corpus", {}), info["vocab"]
    rows = [
        ["corpus", str(c.get("name", info["config"].get("corpus")))],
        ["file", str(c.get("path", ""))],
        ["characters", fmt(c.get("chars"))],
        ["training characters", fmt(c.get("train_chars"))],
        ["validation characters (held out at the end)", fmt(c.get("val_chars"))],
        ["vocabulary size K", fmt(len(vocab))],
    ]
    blocks = [
        Table(["quantity", "value"], rows, key="data-table"),
        *data_blocks(info),
        Para(
            f"The vocabulary: the K = {len(vocab)} distinct characters in code-point order "
            "(whitespace, control and non-ASCII characters are named)."
        ),
        Chars(vocab),
    ]
    if text is not None:
        blocks.append(
            Text(text[:EXCERPT], f"The first {min(EXCERPT, len(text))} characters of the corpus:")
        )
    else:
        blocks.append(
            Para(
                f"The corpus could not be read now ({note}); the numbers above are "
                "those recorded when the run started."
            )
        )
    return Section("data", "1. The data", blocks)


def config_section(info: dict) -> Section:
    cfg = info["config"]
    rows = [[k, str(v)] for k, v in cfg.items()]
    vers = [[k, str(v)] for k, v in (info.get("versions") or {}).items()]
    blocks = [
        Table(["option", "value"], rows, key="config-table"),
        Para(
            "Software versions the run was made with"
            + (f" (started {info['created']}):" if info.get("created") else ":")
        ),
        Table(["package", "version"], vers, key="versions-table"),
    ]
    return Section("config", "2. Configuration", blocks)


def initial_params(info: dict) -> dict:
    """The parameters the run started from, drawn exactly as training drew them."""
    from ..run.config import TrainConfig
    from ..run.loop import new_state

    cfg = TrainConfig.from_dict(info["config"])
    state = new_state(cfg, len(info["vocab"]), np.random.default_rng(cfg.seed))
    return {k: v.astype(np.float64) for k, v in state.params.items()}


def untrained_section(info: dict, text: str | None) -> Section:
    from ..data.vocab import Vocab
    from ..nn.sampling import synthesize
    from ..nn.stack import describe

    cfg = info["config"]
    vocab = Vocab.from_chars(info["vocab"])
    params = initial_params(info)
    n = cfg["sample_length"] or 200
    # a document-mode run starts every text at the end symbol, id 0
    x0 = vocab.index.get(text[0], 0) if text and not info.get("documents") else 0
    # A generator of its own, so these draws never depend on training's.
    rng = np.random.default_rng([cfg["seed"], 1])
    first = " ".join(filter(None, char_label(vocab.chars[x0])))
    blocks = [
        Para(
            f"{UNTRAINED_SAMPLES} samples of {n} characters from the network as "
            f"initialized (seed {cfg['seed']}, before any update), from h = 0 and the "
            f"input {first}, reference float64 sampling."
        )
    ]
    for i in range(UNTRAINED_SAMPLES):
        ids = synthesize(params, np.zeros(describe(params).state_size), x0, n, rng)
        blocks.append(Text(vocab.decode(ids), f"Untrained sample {i + 1}:"))
    return Section("untrained", "3. Text from the randomly initialized network", blocks)


def gradcheck_text(folder: Path, info: dict, text: str | None, T: int) -> tuple[str, str]:
    """(text, where it came from) for the gradient check: T+1 vocabulary characters."""
    known = set(info["vocab"])
    if text is not None:
        head = "".join(ch for ch in text[: 50 * (T + 1)] if ch in known)[: T + 1]
        if len(head) >= 2:
            return head, "the first characters of the corpus"
    pooled = "".join(ch for s in rundir.read_samples(folder) for ch in s["text"] if ch in known)[
        : T + 1
    ]
    return pooled, "the run's samples (the corpus could not be read)"


def gradcheck_section(folder: Path, info: dict, text: str | None) -> Section:
    from ..data.vocab import Vocab
    from ..nn.gradcheck import STEP, check_on_text

    cfg = info["config"]
    vocab = Vocab.from_chars(info["vocab"])
    source, where = gradcheck_text(folder, info, text, cfg["seq_length"])
    if len(source) < 2:
        return Section(
            "gradcheck",
            "4. Gradient check",
            [
                Para(
                    "No text is available to check the gradients on (the corpus is unreadable "
                    "and the run has no samples)."
                )
            ],
        )
    m, cell, layers = 5, cfg.get("cell", "rnn"), cfg.get("layers", 1)
    rows, T = check_on_text(
        vocab, source, m=m, T=cfg["seq_length"], seed=cfg["seed"], cell=cell, layers=layers
    )
    table = [
        [
            r.name,
            "×".join(map(str, r.shape)),
            str(r.checked),
            f"{r.max_abs:.2e}",
            f"{r.max_rel:.2e}",
            "pass" if r.passed else "FAIL",
        ]
        for r in rows
    ]
    ok = all(r.passed for r in rows)
    return Section(
        "gradcheck",
        "4. Gradient check",
        [
            Para(
                f"Analytic gradients of the sequence loss against fourth-order centred "
                f"differences (step {STEP:g}) for a fresh {cell} network of {layers} layer(s) "
                f"with m = {m}, K = {vocab.size}, T = {T}, on {where}, from a random non-zero "
                "initial state, float64. Relative error "
                "|a − n| / max(|a| + |n|, 1e-30); an entry passes below 1e-6."
            ),
            Table(
                [
                    "parameter",
                    "shape",
                    "entries checked",
                    "max abs error",
                    "max rel error",
                    "result",
                ],
                table,
                key="gradcheck-table",
            ),
            Para("All gradients pass." if ok else "Some gradients FAIL the check."),
        ],
    )


def loss_section(folder: Path, s: dict, best: dict) -> Section:
    from . import plot

    png_path = plot.plot_run(folder)
    blocks = [
        Image(
            png_path.name,
            png_path.read_bytes(),
            "smoothed loss against updates",
            "Smoothed training loss (0.999 moving average, nats per sequence) over the "
            "whole run; dashed lines are epoch starts, orange is validation bits/char.",
        )
    ]
    if "min_smooth" in s:
        rows = [
            ["minimum smoothed loss", fmt(s["min_smooth"])],
            ["reached at update", str(s["min_update"])],
            ["final smoothed loss", fmt(s["final_smooth"])],
            ["updates", str(s["updates"])],
            ["final epoch index", str(s["epoch"])],
        ]
        if "best_update" in best:
            rows.append(
                [
                    "best model saved",
                    f"parameters after {best['best_update']} updates "
                    "(those the minimum loss was computed with)",
                ]
            )
        blocks.append(Table(["quantity", "value"], rows, key="loss-table"))
    else:
        blocks.append(Para("No training update has been logged yet."))
    return Section("loss", "5. Smoothed loss", blocks)


def evolution_section(samples: list[dict]) -> Section:
    blocks = [
        Para(
            "Text synthesized during training from the current hidden state, "
            f"{len(samples)} samples; each is labelled with the number of updates done "
            "before it and the smoothed loss at that moment."
        )
    ]
    for smp in samples:
        loss = smp.get("smooth_loss")
        loss = "n/a, before the first update" if loss is None else fmt(float(loss))
        caption = f"After {smp['update']} updates (smoothed loss {loss}{sample_note(smp)}):"
        blocks.append(Text(smp["text"], caption))
    if not samples:
        blocks.append(Para("The run has no samples (samples.jsonl is empty or missing)."))
    return Section("evolution", "6. Text evolution", blocks)


def best_section(folder: Path, best: dict) -> Section:
    who = (
        f"the best model (parameters after update {best['best_update']}, smoothed loss "
        f"{fmt(float(best['best_smooth']))})"
        if "best_update" in best
        else "the best model"
    )
    blocks = []
    for n in (200, 1000):
        path = folder / f"best_{n}.txt"
        if path.exists():
            blocks.append(Text(path.read_text(encoding="utf-8"), f"{n:,} characters from {who}:"))
        else:
            blocks.append(Para(f"{path.name} is missing: the run has not finished."))
    return Section("best", "7. Text from the best model", blocks)


def outcome_section(info: dict, s: dict) -> Section:
    cfg = info["config"]
    per = cfg["seq_length"] * cfg["batch_size"]
    rows = []
    if "val_final" in s:
        rows += [
            ["final validation bits/char", fmt(s["val_final"])],
            ["final validation: update", str(s["val_final_update"])],
            ["best validation bits/char", fmt(s["val_best"])],
            ["best validation: update", str(s["val_best_update"])],
        ]
    if s.get("rate"):
        rows += [
            ["updates per second (whole run)", fmt(s["rate"], 1)],
            ["characters per second (whole run)", fmt(s["rate"] * per, 0)],
        ]
    if s.get("median_rate"):
        rows += [["updates per second (median chunk)", fmt(s["median_rate"], 1)]]
    rows.append(["wall time of training (s)", fmt(float(s["elapsed"]), 2)])
    notes = [
        Para(
            f"Characters per second = updates per second × seq_length × batch_size "
            f"= × {per}. The wall time includes sampling, validation and checkpoints; "
            "the median chunk rate counts the updates alone."
        )
    ]
    if "val_final" not in s:
        notes.insert(0, Para("No validation was run (val_fraction is 0)."))
    return Section(
        "outcome",
        "8. Validation and throughput",
        [Table(["quantity", "value"], rows, key="outcome-table"), *notes],
    )


def build(folder: Path) -> Document:
    """The report of the run in folder as a Document."""
    info = rundir.read_config(folder)
    identity.check_folder(folder)
    text, note = load_corpus_text(info)
    try:
        s, samples = summarize(rundir.read_metrics(folder)), rundir.read_samples(folder)
    except (ValueError, KeyError, TypeError) as e:
        raise CheckpointError(
            f"{folder}: metrics.csv or samples.jsonl is malformed ({e})"
        ) from None
    best = best_counters(folder)
    sections = [
        data_section(info, text, note),
        config_section(info),
        untrained_section(info, text),
        gradcheck_section(folder, info, text),
        loss_section(folder, s, best),
        evolution_section(samples),
        best_section(folder, best),
        outcome_section(info, s),
    ]
    sub = (
        f"Character-level vanilla RNN (m = {info['config']['hidden']}, K = "
        f"{len(info['vocab'])}) trained for {s['updates']} updates; run directory {folder}."
    )
    return Document(f"charnn report: {folder.resolve().name}", sub, sections)


def write_report(run_dir: Path) -> Path:
    """Write RUN_DIR/report.html and RUN_DIR/report.md (plus loss.png);
    returns the HTML path. Raises CheckpointError if run_dir holds no run."""
    run_dir = Path(run_dir)
    doc = build(run_dir)
    return write_doc(doc, run_dir / "report.html", run_dir / "report.md")

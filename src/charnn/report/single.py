"""The report of one run: RUN_DIR/report.html (one self-contained page) and
RUN_DIR/report.md (images as files next to it): a summary, then the seed's
report in its order: the data, configuration, samples from the untrained
network, the gradient check, the loss plot, the text evolution, text from the
best model, sampling settings, and validation and throughput.

The report is a record: it is rendered from the run folder alone (what the
run computed when it started is in record.json, at its end in outcome.json
and sampling.json), so the same run always gives the same report, with or
without its corpus at hand.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import CheckpointError
from ..run import bestval, identity, record, rundir
from ..run.evaluation import per_char_bpc, uniform_bpc, uniform_warning, validation_cause
from .documents import data_blocks, sample_note
from .recorded import gradcheck_section, sampling_section, untrained_section
from .render import (
    Chars,
    Document,
    Image,
    Para,
    Section,
    Table,
    Text,
    char_label,
    shown,
    write_doc,
)
from .summary import (
    applicable,
    file_counters,
    fmt,
    fmt_count,
    fmt_down,
    run_state,
    summarize,
    updates_per_epoch,
)


def val_rows(info: dict, out: dict, s: dict) -> list[list[str]]:
    """Validation bits/char of the final model and of both best models."""
    rows = []
    if "final_val_bpc" in out:
        b, v = out["best_smooth"], out["best_val"]
        rows += [
            ["validation, final model", f"{fmt(out['final_val_bpc'])} bits/char"],
            [
                "validation, best by smoothed loss",
                f"{fmt(b['val_bpc'])} bits/char "
                f"(parameters after {fmt_count(b['update'], 'update')})",
            ],
            [
                "validation, best by validation",
                f"{fmt(v['val_bpc'])} bits/char "
                f"(parameters after {fmt_count(v['update'], 'update')})",
            ],
        ]
    elif "val_final" in s:
        rows.append(
            [
                "validation, last",
                f"{fmt(s['val_final'])} bits/char "
                f"(after {fmt_count(s['val_final_update'], 'update')})",
            ]
        )
    if rows:
        rows.append(["uniform guessing", f"{fmt(uniform_bpc(len(info['vocab'])))} bits/char"])
    return rows


def warnings(info: dict, out: dict, s: dict) -> list[str]:
    K = len(info["vocab"])
    # the untrained model (update 0) guesses about uniformly: no warning for it
    trained = s.get("val_final_update", 0) > 0
    figures = [out.get("final_val_bpc"), s.get("val_final") if trained else None]
    best = [out.get(k, {}) for k in ("best_smooth", "best_val")]
    figures += [b.get("val_bpc") for b in best if b.get("update", 1) > 0]
    cause = validation_cause(info["config"])
    said = [uniform_warning(f, K, cause) for f in figures if f is not None]
    if out.get("best_val", {}).get("update", 1) == 0:  # no state to blame: it never learned
        said.append(
            "WARNING: the best model by validation is the untrained one (update 0): "
            "training never improved on it on the held-out text"
        )
    return list(dict.fromkeys(w for w in said if w))


def summary_section(folder: Path, info: dict, s: dict, out: dict) -> Section:
    cfg = info["config"]
    state = run_state(folder, info, s, out)
    rows = [
        ["corpus", option_name(info)],
        ["vocabulary size K", fmt(len(info["vocab"]))],
        ["hidden size m", fmt(cfg["hidden"])],
        ["sequence length T", fmt(cfg["seq_length"])],
        ["status", state.status()],
        ["updates", fmt(s["updates"])],
        ["epochs", fmt_down(s["updates"] / updates_per_epoch(info))],
        ["wall time of training", f"{fmt(float(s['elapsed']), 1)} s"],
    ]
    if "min_smooth" in s:
        rows.append(
            [
                "min smoothed training loss",
                f"{fmt(s['min_smooth_bpc'])} bits/char ({fmt(s['min_smooth'], 2)} nats per "
                f"sequence) at update {fmt(s['min_update'])}",
            ]
        )
    rows += val_rows(info, out, s)
    blocks = [Table(["quantity", "value"], rows, key="summary-table")]
    warned = state.warning("this run", folder)
    if warned:
        blocks.append(Para(warned))
    blocks += [Para(w) for w in warnings(info, out, s)]
    best = "lowest validation loss" if cfg.get("best_by") == "val" else "lowest smoothed loss"
    start = (
        "validation reads each held-out document from h = 0, as training reads its documents"
        if cfg.get("documents")
        else "validation starts from the model's carried state"
    )
    blocks.append(
        Para(
            f"Update numbers count updates done. The best model is the one with the {best} "
            f"(--best-by); {start}."
        )
    )
    return Section("summary", "Summary", blocks)


def option_name(info: dict) -> str:
    c = info.get("corpus", {})
    return Path(str(c.get("name") or info["config"].get("corpus"))).name


def data_section(info: dict, rec: dict) -> Section:
    c, vocab = info.get("corpus", {}), info["vocab"]
    if info["config"].get("documents"):  # streams: each part begins and ends with ⟨end⟩
        what = ("symbols (characters and one ⟨end⟩ before and after each document)", "symbols")
        note = ", its ⟨end⟩s included; the two parts each repeat the ⟨end⟩ at their border"
    else:
        what, note = ("characters", "characters"), ""
    rows = [
        ["corpus", option_name(info)],
        [what[0], fmt(c.get("chars"))],
        [f"training {what[1]}", fmt(c.get("train_chars"))],
        [f"validation {what[1]} (held out at the end{note})", fmt(c.get("val_chars"))],
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
    corpus = rec.get("corpus")
    if corpus:
        n = corpus["counted_chars"]
        top = [
            [" ".join(filter(None, char_label(ch))), fmt(k), f"{100 * k / n:.1f} %"]
            for ch, k in corpus["top_chars"]
        ]
        blocks.append(Table(["most frequent", "count", "share"], top, key="top-chars"))
        blocks.append(
            Text(corpus["excerpt"], f"The first {len(corpus['excerpt'])} characters of the corpus:")
        )
    else:
        blocks.append(Para("This run was made before charnn recorded a corpus excerpt."))
    return Section("data", "1. The data", blocks)


def config_section(info: dict) -> Section:
    rows = [[k, v] for k, v in applicable(info["config"])]
    vers = [[k, str(v)] for k, v in (info.get("versions") or {}).items()]
    blocks = [
        Table(["option", "value"], rows, key="config-table"),
        Para(
            "Software versions the run was made with"
            + (f" (started {info['created']}):" if info.get("created") else ":")
        ),
        Table(["package", "version"], vers, key="versions-table"),
    ]
    for r in info.get("resumed", []):
        blocks.append(Para(f"Resumed after {fmt_count(r['update'], 'update')} on {r['at']}."))
    return Section("config", "2. Configuration", blocks)


def loss_section(folder: Path, s: dict, T: int) -> Section:
    from . import plot

    png_path = plot.plot_run(folder)
    blocks = [
        Image(
            png_path.name,
            png_path.read_bytes(),
            "training and validation bits per character against updates",
            "Bits per character against updates done: the smoothed training loss (the seed's "
            "0.999 moving average of the per-sequence loss, divided by T ln 2) as a line, "
            "validation as dots; dashed lines are epoch starts.",
        )
    ]
    if "min_smooth" in s:
        rows = [
            [
                "minimum smoothed loss",
                f"{fmt(s['min_smooth_bpc'])} bits/char ({fmt(s['min_smooth'], 2)} nats/seq)",
            ],
            ["reached at update", fmt(s["min_update"])],
            [
                "final smoothed loss",
                f"{fmt(s['final_smooth_bpc'])} bits/char ({fmt(s['final_smooth'], 2)} nats/seq)",
            ],
            ["updates", fmt(s["updates"])],
            ["best model (by smoothed loss)", saved_best(folder, s)],
        ]
        blocks.append(Table(["quantity", "value"], rows, key="loss-table"))
    else:
        blocks.append(Para("No training update has been logged yet."))
    return Section("loss", "5. Training and validation loss", blocks)


def saved_best(folder: Path, s: dict) -> str:
    """Which parameters best.npz holds: the log's minimum, or (in a run
    killed after its last checkpoint) an earlier one, said so."""
    n = file_counters(folder / rundir.BEST).get("best_update")
    if not isinstance(n, int) or isinstance(n, bool):
        return "not saved yet (best.npz is missing or unreadable)"
    said = (
        f"the parameters after {fmt_count(n, 'update')} "
        f"(those update {fmt(n + 1)} computed its loss with)"
    )
    if n != s["min_update"] - 1:
        said += (
            f", as saved in best.npz at the run's last checkpoint; the lowest smoothed loss in "
            f"the log, at update {fmt(s['min_update'])}, came after it and was not saved"
        )
    return said


def evolution_section(samples: list[dict], T: int, documents: bool) -> Section:
    what = (
        "Documents generated during training, each from h = 0"
        if documents
        else "Text synthesized during training from the carried state"
    )
    blocks = [
        Para(
            f"{what}, {len(samples)} sample{'' if len(samples) == 1 else 's'}; each is "
            "labelled with the number of updates done before it and the smoothed loss at "
            "that moment."
        )
    ]
    for smp in samples:
        loss = smp.get("smooth_loss")
        loss = (
            "before the first update"
            if loss is None
            else f"smoothed loss {fmt(per_char_bpc(float(loss), T), 3)} bits/char"
        )
        caption = f"After {fmt_count(smp['update'], 'update')} ({loss}{sample_note(smp)}):"
        blocks.append(Text(smp["text"], caption))
    if not samples:
        blocks.append(Para("The run has no samples (samples.jsonl is empty or missing)."))
    return Section("evolution", "6. Text evolution", blocks)


def best_section(folder: Path, info: dict, out: dict) -> Section:
    by_val = info["config"].get("best_by") == "val"
    model = out.get("best_val" if by_val else "best_smooth", {})
    who = "the best model" + (
        f" (parameters after {fmt_count(model['update'], 'update')}, lowest "
        f"{'validation' if by_val else 'smoothed'} loss)"
        if "update" in model
        else ""
    )
    documents = info["config"].get("documents")
    start = "in documents each from h = 0" if documents else "from its carried state"
    blocks = []
    for n in (200, 1000):
        path = folder / f"best_{n}.txt"
        if path.exists():
            text = path.read_text(encoding="utf-8")
            blocks.append(Text(text, f"{n:,} characters from {who}, {start}:"))
        else:
            blocks.append(Para(f"{path.name} is missing: the run has not finished."))
    return Section("best", "7. Text from the best model", blocks)


def outcome_section(info: dict, s: dict, out: dict) -> Section:
    cfg = info["config"]
    per = cfg["seq_length"] * cfg["batch_size"]
    rows = val_rows(info, out, s)
    if "val_best" in s:
        rows.append(
            [
                "lowest validation during training",
                f"{fmt(s['val_best'])} bits/char at update {fmt(s['val_best_update'])}",
            ]
        )
    if s.get("rate"):
        rows += [
            ["updates per second (whole run)", fmt(s["rate"], 1)],
            ["characters per second (whole run)", fmt(s["rate"] * per, 0)],
        ]
    if s.get("median_rate"):
        rows += [["updates per second (updates alone, median)", fmt(s["median_rate"], 1)]]
    rows.append(["wall time of training", f"{fmt(float(s['elapsed']), 2)} s"])
    notes = [
        Para(
            f"Characters per second = updates per second × seq_length × batch_size, "
            f"here updates per second × {per}. The wall time includes sampling, validation "
            "and checkpoints. The median counts the updates alone: each update is counted at the "
            "rate of the stretch of updates it was timed in, and the median taken over updates."
        )
    ]
    if "val_final" not in s:
        notes.insert(0, Para("No validation was run (val_fraction is 0)."))
    notes += [Para(w) for w in warnings(info, out, s)]
    return Section(
        "outcome",
        "9. Validation and throughput",
        [Table(["quantity", "value"], rows, key="outcome-table"), *notes],
    )


def build(folder: Path) -> Document:
    """The report of the run in folder as a Document."""
    info = rundir.read_config(folder)
    identity.check_folder(folder)
    rundir.check_links(folder)  # a linked file is not this run's (and train refuses it)
    T, K = info["config"]["seq_length"], len(info["vocab"])
    documents = bool(info["config"].get("documents"))
    try:
        s, samples = summarize(rundir.read_metrics(folder), T), rundir.read_samples(folder)
    except (ValueError, KeyError, TypeError) as e:
        raise CheckpointError(
            f"{folder}: metrics.csv or samples.jsonl is malformed ({e})"
        ) from None
    rec, out = record.read_record(folder), bestval.read_outcome(folder)
    config, records = "config.json", "record.json"
    parts = [
        (config, summary_section, folder, info, s, out),
        (f"{config} or {records}", data_section, info, rec),
        (config, config_section, info),
        (records, untrained_section, rec, 3),
        (records, gradcheck_section, rec, K, 4, documents),
        (rundir.METRICS, loss_section, folder, s, T),
        (rundir.SAMPLES, evolution_section, samples, T, documents),
        ("best_200.txt or best_1000.txt", best_section, folder, info, out),
        ("sampling.json", sampling_section, record.read_sampling(folder), 8, documents, bool(rec)),
        (config, outcome_section, info, s, out),
    ]
    sections = [_section(folder, source, make, *args) for source, make, *args in parts]
    name = shown(folder.resolve().name)
    sub = (
        f"Character-level {network(info['config'])} (m = {info['config']['hidden']}, K = {K}) "
        f"trained for {fmt_count(s['updates'], 'update')} on {option_name(info)}; "
        f"run folder {name}."
    )
    return Document(f"charnn report: {name}", sub, sections)


CELLS = {"rnn": "vanilla RNN", "gru": "GRU", "lstm": "LSTM"}


def network(cfg: dict) -> str:
    """The network a config describes, e.g. 'vanilla RNN' or '2-layer LSTM'."""
    cell = CELLS.get(cfg.get("cell", "rnn"), str(cfg.get("cell")))
    layers = cfg.get("layers", 1)
    return cell if layers == 1 else f"{layers}-layer {cell}"


def _section(folder: Path, source: str, make, *args) -> Section:
    """make(*args), with a file the run wrote but that no longer holds what
    it wrote (edited, or damaged on disk) named in one clear error."""
    try:
        return make(*args)
    except (KeyError, TypeError, AttributeError, ValueError, IndexError) as e:
        what = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        raise CheckpointError(
            f"{folder}: {source} does not hold what the run wrote there ({what}); "
            "restore it from a copy of the run"
        ) from None


def write_report(run_dir: Path) -> Path:
    """Write RUN_DIR/report.html and RUN_DIR/report.md (plus loss.png);
    returns the HTML path. Raises CheckpointError if run_dir holds no run."""
    run_dir = Path(run_dir)
    html, md = (run_dir / name for name in rundir.REPORTS)
    for _ in range(2):  # once more if the run wrote its end meanwhile (it removes reports)
        before = (bestval.read_outcome(run_dir), _run_id(run_dir))
        page = write_doc(build(run_dir), html, md)
        after = (bestval.read_outcome(run_dir), _run_id(run_dir))
        if after[1] != before[1]:  # train --force replaced the run meanwhile: not its report
            for name in (*rundir.REPORTS, rundir.PLOT):
                (run_dir / name).unlink(missing_ok=True)
            raise CheckpointError(
                f"{run_dir} was replaced by another run while its report was written; "
                f"run 'charnn report {run_dir}' again"
            )
        if after == before:
            break
    return page


def _run_id(run_dir: Path) -> str | None:
    """The run id config.json names, or None when it names none or is gone."""
    try:
        return identity.config_id(rundir.read_config(run_dir))
    except CheckpointError:
        return None

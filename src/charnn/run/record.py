"""What the report shows of a run's start, computed once when the run starts
and kept in RUN_DIR/record.json, so the report is a record of the run and
never a re-run: the corpus excerpt and character counts, samples from the
network as initialized, and the gradient check on the run's vocabulary.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..nn import gradcheck, sampling, stack
from . import docgen, rundir
from .config import TrainConfig
from .split import Data

RECORD = "record.json"
EXCERPT = 300
UNTRAINED_SAMPLES = 3
GRADCHECK_HIDDEN = 5
# Entries per array and steps of the recorded check: each entry costs four
# forward passes of the float64 reference (1-2 ms each for a 2-layer gated
# stack over 64 steps); 500 entries at T = 64 or 100 took 20-30 s.
GRADCHECK_ENTRIES = 100
GRADCHECK_STEPS = 25
TOP_CHARS = 10


def corpus_part(data: Data) -> dict:
    """The corpus's first characters and its most frequent ones (char, count),
    counted over the whole corpus as its "characters" count it (in document
    mode, the stream of all documents, each with its end symbol)."""
    ids = data.corpus.ids
    counts = np.bincount(np.asarray(ids[: 1 << 26]), minlength=data.vocab.size)
    top = np.argsort(-counts, kind="stable")[:TOP_CHARS]
    return {
        "excerpt": data.vocab.decode(np.asarray(ids[:EXCERPT])),
        "top_chars": [[data.vocab.chars[i], int(counts[i])] for i in top],
        "counted_chars": int(counts.sum()),
    }


def untrained_part(cfg: TrainConfig, data: Data, params: dict) -> dict:
    """Samples from the initial parameters, from h = 0 and the corpus's first
    character, with a generator of their own (training's draws are untouched)."""
    n = cfg.sample_length or 200
    # a document-mode run starts every text at the end symbol, id 0
    x0 = 0 if data.documents else int(data.corpus.ids[0])
    rng = np.random.default_rng([cfg.seed, 1])
    p64 = {k: v.astype(np.float64) for k, v in params.items()}
    S = stack.describe(p64).state_size
    texts = [
        data.vocab.decode(sampling.synthesize(p64, np.zeros(S), x0, n, rng))
        for _ in range(UNTRAINED_SAMPLES)
    ]
    return {"first": data.vocab.chars[x0], "length": n, "texts": texts}


def gradcheck_part(cfg: TrainConfig, data: Data, stop=None) -> dict:
    """The gradient check of a fresh small network (m = 5) with the run's K,
    cell and layers, on the first T + 1 characters of the corpus, T the run's
    seq_length up to GRADCHECK_STEPS; at most GRADCHECK_ENTRIES entries of
    each array, drawn at random."""
    steps = min(cfg.seq_length, GRADCHECK_STEPS)
    head = data.vocab.decode(np.asarray(data.train[0, : steps + 1]))
    rows, noise, T = gradcheck.check_on_text(
        data.vocab,
        head,
        GRADCHECK_HIDDEN,
        steps,
        cfg.seed,
        cfg.sig,
        GRADCHECK_ENTRIES,
        cfg.cell,
        cfg.layers,
        stop,
    )
    return {
        "m": GRADCHECK_HIDDEN,
        "T": T,
        "step": gradcheck.STEP,
        "scale_floor": gradcheck.SCALE_FLOOR,
        "noise": noise,
        "cell": cfg.cell,
        "layers": cfg.layers,
        "rows": [
            {
                "name": r.name,
                "shape": list(r.shape),
                "checked": r.checked,
                "max_abs": r.max_abs,
                "max_rel": r.max_rel,
                "passed": bool(r.passed),
                "result": r.result,
            }
            for r in rows
        ],
    }


def write_record(
    folder: Path, cfg: TrainConfig, data: Data, params: dict, defer=None, stop=None
) -> None:
    """Compute and write RUN_DIR/record.json (params: the initial parameters).
    defer: a function taking a job to run later; given, the record is written
    now without the gradient check, which defer's job adds to it unless
    stop() turns True first (a stopped run: its resume adds it)."""
    rec = {"corpus": corpus_part(data), "untrained": untrained_part(cfg, data, params)}
    if defer is None:
        _with_gradcheck(folder, rec, cfg, data, stop)
        return
    rundir.write_json(folder / RECORD, rec)
    defer(lambda: _with_gradcheck(folder, rec, cfg, data, stop))


def _with_gradcheck(folder: Path, rec: dict, cfg: TrainConfig, data: Data, stop=None) -> None:
    """record.json: rec and the gradient check; left as it is when stop()
    cuts the check short."""
    try:
        part = gradcheck_part(cfg, data, stop)
    except gradcheck.Cancelled:
        return
    rundir.write_json(folder / RECORD, {**rec, "gradcheck": part})


def complete_record(folder: Path, cfg: TrainConfig, data: Data, params, defer, stop=None) -> None:
    """On resume: what a process killed early left out of record.json, the
    gradient check (added by defer's job), or the whole record when the run
    resumes from its start (params: the initial parameters; None when it
    resumes from a checkpoint, which no longer has them)."""
    rec = read_record(folder)
    if not rec:
        if params is not None:
            write_record(folder, cfg, data, params, defer, stop)
        return
    if "gradcheck" not in rec:
        defer(lambda: _with_gradcheck(folder, rec, cfg, data, stop))


def read_record(folder: Path) -> dict:
    """record.json, or {} for a run made before runs kept one."""
    try:
        out = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return out if isinstance(out, dict) else {}


SAMPLING = "sampling.json"
# (label, temperature, top_k, top_p): the settings the report shows samples at
SETTINGS = (
    ("temperature 1 (the model's distribution)", 1.0, 0, 1.0),
    ("temperature 0.5", 0.5, 0, 1.0),
    ("temperature 1.5", 1.5, 0, 1.0),
    ("greedy (temperature 0)", 0.0, 0, 1.0),
    ("top-k 5", 1.0, 5, 1.0),
    ("nucleus top-p 0.9", 1.0, 0, 0.9),
)
SAMPLING_LENGTH = 300


def write_sampling(
    folder: Path, cfg: TrainConfig, vocab, synthesize, model, documents: bool = False
) -> None:
    """Samples of the best model (a bestval.Model) at each of SETTINGS, from
    its carried state, with a generator of their own; kept in sampling.json.
    A document model starts again from h = 0 after each end symbol it draws,
    as `charnn sample` has it (docgen.stream)."""
    rng = np.random.default_rng([cfg.seed, 2])
    draw = docgen.drawer(synthesize, documents)
    rows = []
    for label, temperature, top_k, top_p in SETTINGS:
        options = {"temperature": temperature, "top_k": top_k, "top_p": top_p}
        ids = draw(model.params, model.h, model.x, SAMPLING_LENGTH, rng, **options)
        rows.append(
            {
                "label": label,
                "temperature": temperature,
                "top_k": top_k,
                "top_p": top_p,
                "text": vocab.decode(ids),
            }
        )
    out = {"update": int(model.update), "length": SAMPLING_LENGTH, "samples": rows}
    rundir.write_json(folder / SAMPLING, out)


def read_sampling(folder: Path) -> dict:
    """sampling.json, or {} when the run has not finished (or predates it)."""
    try:
        out = json.loads((folder / SAMPLING).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return out if isinstance(out, dict) else {}

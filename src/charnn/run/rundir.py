"""The run directory: which files a run writes, and how they are kept consistent.

config.json      the resolved configuration, vocabulary, corpus, versions
checkpoint.npz   the latest full training state (resume from it)
best.npz         the model at the minimum smoothed loss
best_val.npz     the model at the minimum validation loss
outcome.json     validation of the best models and the final one
record.json      what the report shows of the run's start (run/record.py)
metrics.csv      one row per update, plus validation rows
samples.jsonl    the text evolution: {"update", "smooth_loss", "text"} per line
best_200.txt, best_1000.txt   text from the best model at the end
loss.png         the smoothed-loss plot
timing.json      where the wall time of the process that trained the run to its end went
.lock            the lock of the process writing the run (see lock.py)

metrics.csv is written and read by run/metrics.py, samples.jsonl by
run/samples.py; their functions are reachable here too, so that a run
folder's files have one address.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

from ..errors import CheckpointError
from ..fsio import atomic_write
from .lock import RunLock
from .metrics import (
    METRIC_FIELDS,
    METRICS,
    OLD_FIELDS,
    append_metric_columns,
    append_metrics,
    header_fields,
    metric_fields,
    metrics_row,
    read_metric_columns,
    read_metrics,
)
from .samples import SAMPLES, append_sample, parse_sample, read_samples

CONFIG = "config.json"
CHECKPOINT = "checkpoint.npz"
BEST = "best.npz"
BEST_VAL = "best_val.npz"
# best_val.npz as the eval_every grid left it, kept while the final validation's
# model (off the grid) holds best_val.npz; a resume puts it back (reopen.tidy)
BEST_VAL_GRID = ".best_val.grid.npz"
PLOT = "loss.png"
REPORTS = ("report.html", "report.md")  # report.single writes them
TIMING = "timing.json"
# written when training diverges: {"update", "message"}; a resume removes it
DIVERGED = "diverged.json"
# what marks a sweep folder (sweep.folder writes it): a run folder is never one
SWEEP_JSON = "sweep.json"

__all__ = [
    "BEST",
    "BEST_VAL",
    "BEST_VAL_GRID",
    "CHECKPOINT",
    "CONFIG",
    "DIVERGED",
    "SWEEP_JSON",
    "METRICS",
    "METRIC_FIELDS",
    "OLD_FIELDS",
    "PLOT",
    "REPORTS",
    "SAMPLES",
    "TIMING",
    "append_metric_columns",
    "append_metrics",
    "append_sample",
    "check_links",
    "has_run",
    "lock_folder",
    "make_folder",
    "metric_fields",
    "missing_ends",
    "prepare_new",
    "read_config",
    "read_diverged",
    "read_metric_columns",
    "read_metrics",
    "read_samples",
    "truncate_logs",
    "versions",
    "write_config",
    "write_json",
    "write_text",
]


def missing_ends(folder: Path) -> list[str]:
    """The files the end of a run writes before outcome.json (its last) that
    folder lacks: best.npz and the best model's texts, and sampling.json for
    a run that keeps record.json (runs made before either have neither)."""
    names = [BEST, "best_200.txt", "best_1000.txt"]
    if (folder / "record.json").exists():
        names.append("sampling.json")
    return [name for name in names if not (folder / name).exists()]


def has_run(folder: Path) -> bool:
    return (folder / CONFIG).exists() or (folder / CHECKPOINT).exists()  # a directory too


RUN_FILES = (
    CONFIG,
    CHECKPOINT,
    BEST,
    BEST_VAL,
    BEST_VAL_GRID,
    "outcome.json",
    "record.json",
    "sampling.json",
    METRICS,
    SAMPLES,
    PLOT,
    TIMING,
    DIVERGED,
    "best_200.txt",
    "best_1000.txt",
    *REPORTS,
)


def check_links(folder: Path) -> None:
    """Refuse a run file that is a symbolic link: writing through it would
    write outside the run folder (or create the file a dangling link names)."""
    for name in RUN_FILES:
        path = folder / name
        if path.is_symlink():
            dangling = "" if path.exists() else " to a missing file"
            raise CheckpointError(
                f"{path} is a symbolic link{dangling}; a run folder keeps its own files: "
                "replace the link by the file or remove it"
            )


def lock_folder(folder: Path) -> RunLock:
    """The run folder's lock, taken (the folder must exist), with its files checked."""
    lock = RunLock(folder).acquire()
    try:
        check_links(folder)
    except BaseException:
        lock.release()
        raise
    return lock


def make_folder(folder: Path) -> None:
    """Create folder (--out) and its parents, unless it exists; one clear
    error for a file in its place or a place that cannot be written."""
    if folder.exists() and not folder.is_dir():
        raise CheckpointError(f"--out {folder} is a file, not a directory; choose another path")
    if folder.is_symlink() and not folder.exists():
        raise CheckpointError(
            f"--out {folder} is a symbolic link to a missing place ({os.readlink(folder)}); "
            "create that folder, or remove the link"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CheckpointError(f"cannot write to {folder}: {e.strerror or e}") from None


def prepare_new(folder: Path, force: bool) -> RunLock:
    """Create and lock folder for a new run, refusing to replace a run unless
    force. Returns the lock, held from before anything is checked or removed."""
    make_folder(folder)
    lock = lock_folder(folder)
    try:
        if (folder / SWEEP_JSON).exists():
            raise CheckpointError(
                f"{folder} is a sweep folder (its runs are in {folder / 'runs'}); "
                "choose another --out"
            )
        if has_run(folder) and not force:
            raise CheckpointError(
                f"{folder} already holds a run; use --resume to continue it "
                "or --force to start over (its files will be replaced)"
            )
        logs_first = (METRICS, SAMPLES, *(n for n in RUN_FILES if n not in (METRICS, SAMPLES)))
        left = [n for n in logs_first if (folder / n).exists() or (folder / n).is_symlink()]
        if left and not force:  # a run's files without its config and checkpoint
            shown = ", ".join(left[:4]) + (f" and {len(left) - 4} more" if len(left) > 4 else "")
            raise CheckpointError(
                f"{folder} holds files a run writes ({shown}) but no run to resume; a new "
                "run would mix its logs with them: move them away, or give --force to "
                "replace them"
            )
        if force:  # config.json last: until it is replaced, the folder is the old run
            for name in RUN_FILES[1:] + RUN_FILES[:1]:
                (folder / name).unlink(missing_ok=True)
    except BaseException:
        lock.release()
        raise
    return lock


def versions() -> dict:
    """Versions of the software a run was made with."""
    import numpy

    from .. import __version__

    out = {"charnn": __version__, "python": platform.python_version(), "numpy": numpy.__version__}
    try:
        import numba

        out["numba"] = numba.__version__
    except ImportError:
        pass
    return out


def write_json(path: Path, obj) -> None:
    """Readable UTF-8 JSON; escaped ASCII when a text (a file name with a byte
    that is not UTF-8) cannot be written as UTF-8, so it round-trips."""
    try:
        data = json.dumps(obj, indent=2, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        data = json.dumps(obj, indent=2).encode("ascii")
    atomic_write(path, lambda f: f.write(data))


def write_config(folder: Path, info: dict, corpus: dict, run_id, created=None) -> str:
    """config.json: info (configuration and vocabulary), the corpus (with its
    fingerprint), the run id, software versions and the time the run began:
    created, now when None, left out when "" (not known). Returns created."""
    created = time.strftime("%Y-%m-%dT%H:%M:%S%z") if created is None else created
    info = {**info, "corpus": corpus, "run": {"id": run_id}, "versions": versions()}
    write_json(folder / CONFIG, {**info, **({"created": created} if created else {})})
    return created


def read_config(folder: Path) -> dict:
    path = folder / CONFIG
    if not path.is_file():
        if not Path(folder).exists():
            raise CheckpointError(f"no run folder at {folder}")
        if Path(folder).is_file():
            raise CheckpointError(f"{folder} is a file, not a run folder")
        if (Path(folder) / SWEEP_JSON).is_file():
            raise CheckpointError(
                f"{folder} is a sweep folder: give one of its runs ({Path(folder) / 'runs'}/"
                f"NAME), or compare them all with 'charnn compare {folder}'"
            )
        if path.exists() or path.is_symlink():  # a directory, a link, a device in its place
            raise CheckpointError(
                f"{path} is not a plain file; restore the run's config.json there, or remove "
                f"it and 'charnn train --resume {folder}' writes it again from {CHECKPOINT}"
            )
        raise CheckpointError(
            f"{folder} holds no run (no {CONFIG}); train one with 'charnn train --out {folder}'"
        )
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:  # ValueError: not UTF-8, not JSON, a huge number
        raise CheckpointError(
            f"{path} is unreadable or not JSON ({e}); restore it, or remove it and "
            f"'charnn train --resume {folder}' writes it again from {CHECKPOINT}"
        ) from None
    if (
        not isinstance(info, dict)
        or not isinstance(info.get("config"), dict)
        or not isinstance(info.get("vocab"), list)
    ):
        raise CheckpointError(f"{path} is not a charnn run configuration")
    wrong = config_problem(info)
    if wrong:
        raise CheckpointError(
            f"{path} is damaged: {wrong}; restore it, or remove it and "
            f"'charnn train --resume {folder}' writes it again from {CHECKPOINT}"
        )
    return info


def config_problem(info: dict) -> str | None:
    """What is wrong in the values of config.json that the reports read, or
    None: sizes are positive integers, limits non-negative numbers below
    2^62 (charnn's "no limit"), the vocabulary a list of distinct
    characters, the corpus a mapping of character counts."""
    cfg = info["config"]

    def count(v) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**62

    def number(v) -> bool:
        return count(v) or (isinstance(v, float) and 0 <= v < 2**62)  # NaN fails

    for key in ("hidden", "seq_length", "batch_size"):
        v = cfg.get(key)
        if not (count(v) and v > 0):
            return f"{key} is {_short(v)}, not a positive integer"
    for key in ("updates", "epochs", "max_time"):
        v = cfg.get(key, 0)
        if not (count(v) if key == "updates" else number(v)):
            kind = "integer" if key == "updates" else "number"
            return f"{key} is {_short(v)}, not a non-negative {kind} below 2^62"
    vocab = info["vocab"]
    if not vocab or not all(isinstance(c, str) and len(c) == 1 for c in vocab):
        return "the vocabulary is not a list of characters"
    if len(set(vocab)) != len(vocab):
        return "the vocabulary repeats a character"
    corpus = info.get("corpus", {})
    if not isinstance(corpus, dict):
        return "corpus is not a mapping"
    for key in ("chars", "train_chars", "val_chars"):
        if key in corpus and not count(corpus[key]):
            return f"corpus {key} is {_short(corpus[key])}, not a character count"
    return None


def _short(v) -> str:
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 10**40:
        return "an integer of more than 40 digits"
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def read_diverged(folder: Path) -> dict:
    """diverged.json ({"update": int, "message": str}), or {} when training
    has not diverged (or the file is not one)."""
    try:
        out = json.loads((folder / DIVERGED).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    ok = isinstance(out, dict) and isinstance(out.get("update"), int)
    return out if ok and isinstance(out.get("message"), str) else {}


def truncate_logs(
    folder: Path, update: int, events_done: bool, eval_every: int, finished: bool = False
) -> None:
    """Drop log lines written after a checkpoint at `update`, lines cut short
    or damaged, and the final validation of a finished run (off the
    eval_every grid), so a resumed run writes exactly what an uninterrupted
    one would; finished: the run stays finished, and keeps that validation.
    A file with nothing to drop is left as it is."""

    def keep_event(u):
        return u < update or (u == update and events_done)

    fields = header_fields(",".join(metric_fields(folder))) or METRIC_FIELDS

    def keep_row(line):
        row = metrics_row(line.rstrip("\n"), fields)
        if not line.endswith("\n") or row is None:
            return False  # cut short by a crash, or damaged
        u = int(row["update"])
        if row["loss"] is not None:  # the row of an update: kept if it is in the checkpoint
            return u <= update
        return keep_event(u) and (u % eval_every == 0 or (finished and u == update))

    def keep_sample(line):
        sample = parse_sample(line)
        return sample is not None and keep_event(sample["update"])

    path = folder / METRICS
    if path.exists():
        text = path.read_text(encoding="utf-8", errors="replace")
        lines = text.splitlines(keepends=True)
        header = ",".join(fields) + "\n"
        data = "".join([header] + [ln for ln in lines[1:] if ln.strip() and keep_row(ln)])
        if data != text:
            atomic_write(path, lambda f: f.write(data.encode("utf-8")))
    path = folder / SAMPLES
    if path.exists():
        text = path.read_text(encoding="utf-8", errors="replace")
        data = "".join(ln + "\n" for ln in text.split("\n") if ln and keep_sample(ln))
        if data != text:
            atomic_write(path, lambda f: f.write(data.encode("utf-8")))


def write_text(path: Path, text: str) -> None:
    data = text.encode("utf-8")
    atomic_write(path, lambda f: f.write(data))

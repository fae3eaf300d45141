"""The identity of a run: a run id and the fingerprint of its corpus.

A new run draws a random id (from the operating system, never from the run's
seeded generator, which belongs to the training). config.json records it
under "run", with the corpus fingerprint under "corpus"; every checkpoint
records both in its metadata under "run". Whatever reads a checkpoint out of
a run folder (resume, sample, evaluate, report) checks that it belongs to the
folder's run, and a resume checks that the corpus is the same text.

Runs made before identities existed have none: their checkpoint is checked
against config.json's configuration and vocabulary instead.
"""

from __future__ import annotations

import uuid
import zipfile
from pathlib import Path

from ..data.fingerprint import Fingerprint, describe_change
from ..data.vocab import Vocab
from ..errors import CheckpointError, CorpusError
from . import checkpoint, rundir
from .config import RESUMABLE_CHANGES


def new_id() -> str:
    return uuid.uuid4().hex


def meta_of(run_id: str | None, fp: Fingerprint | None, created: str | None = None) -> dict:
    """What a checkpoint records of its run: its id, corpus and the time it
    began (config.json's "created", for a config.json written again)."""
    meta = {"id": run_id, "corpus": fp.to_dict() if fp else None}
    return {**meta, "created": created} if created else meta


def config_id(info: dict) -> str | None:
    run = info.get("run")
    return run.get("id") if isinstance(run, dict) else None


def config_fingerprint(info: dict) -> Fingerprint | None:
    return Fingerprint.from_dict(info.get("corpus"))


def checkpoint_meta(path: Path) -> dict:
    """The metadata of a checkpoint file, without reading its arrays."""
    where = f"checkpoint {path}"
    try:
        with zipfile.ZipFile(path) as zf:
            return checkpoint.read_meta(zf, where)
    except (zipfile.BadZipFile, EOFError, OSError, zipfile.LargeZipFile) as e:
        raise CheckpointError(
            f"{where} is corrupted or truncated ({e}); restore it or start a new run"
        ) from None


def check_meta(info: dict, meta: dict, path: Path) -> None:
    """Refuse a checkpoint (its metadata meta) that is not of config.json's run (info)."""
    mine = config_id(info)
    run = meta.get("run")
    theirs = run.get("id") if isinstance(run, dict) else None
    if mine is None and theirs is None:
        _check_legacy(info, meta, path)
    elif mine != theirs:
        raise CheckpointError(
            f"{path} belongs to another run (run id {str(theirs)[:12]}, this folder's is "
            f"{str(mine)[:12]}); put the run's own checkpoint back or start a new run"
        )
    else:
        _check_config(info, meta, path)


def _check_config(info: dict, meta: dict, path: Path) -> None:
    """config.json must describe the model its checkpoints hold: the options a
    resume may change (and the corpus's path, which may move) aside, every
    option both record, and the vocabulary, must agree; else it was edited."""
    ck, cf = meta.get("config"), info.get("config")
    if not isinstance(ck, dict) or not isinstance(cf, dict):
        return
    free = (*RESUMABLE_CHANGES, "corpus")
    differ = [k for k in ck if k in cf and k not in free and ck[k] != cf[k]]
    if isinstance(meta.get("vocab"), list) and meta["vocab"] != info.get("vocab"):
        differ.append("vocabulary")
    if differ:
        folder = path.parent
        raise CheckpointError(
            f"{folder / rundir.CONFIG} does not describe the model in {path.name} "
            f"({', '.join(differ)} differ): it was edited or replaced; restore it, or remove "
            f"it and 'charnn train --resume {folder}' writes it again from {rundir.CHECKPOINT}"
        )


def _check_legacy(info: dict, meta: dict, path: Path) -> None:
    ck, cf = meta.get("config") or {}, info.get("config") or {}
    keys = ("corpus", "hidden", "seq_length", "seed", "lr", "optimizer", "batch_size", "dtype")
    differ = [k for k in keys if ck.get(k) != cf.get(k)]
    if differ or meta.get("vocab") != info.get("vocab"):
        what = ", ".join(differ) if differ else "vocabulary"
        raise CheckpointError(
            f"{path} does not belong to this folder's run ({what} differ from config.json); "
            "put the run's own checkpoint back or start a new run"
        )


def check_checkpoint(folder: Path, path: Path) -> None:
    """Refuse path when the folder has a config.json of another run."""
    if not (folder / rundir.CONFIG).is_file():
        return
    check_meta(rundir.read_config(folder), checkpoint_meta(path), path)


MODEL_FILES = (rundir.CHECKPOINT, rundir.BEST, rundir.BEST_VAL, rundir.BEST_VAL_GRID)


def check_folder(folder: Path, names: tuple[str, ...] = MODEL_FILES) -> None:
    """Every checkpoint in folder (of those names) must belong to its run."""
    for name in names:
        if (folder / name).exists():
            check_checkpoint(folder, folder / name)


def check_corpus(
    name: str, recorded: Fingerprint | None, now: Fingerprint | None, vocabs: tuple[Vocab, Vocab]
) -> None:
    """A resumed run trains on the same text: same bytes when the run recorded
    them, else (older runs) at least the same vocabulary."""
    run_vocab, vocab = vocabs
    if recorded is not None and now is not None and recorded != now:
        raise CorpusError(
            f"corpus {name} is not the text this run was trained on "
            f"({describe_change(recorded, now)}{_vocab_change(run_vocab, vocab)}); "
            "a resumed run continues on the same text: restore it or start a new run"
        )
    if vocab != run_vocab:
        raise CorpusError(
            f"corpus {name} has a different vocabulary than the run "
            f"({vocab.size} vs {run_vocab.size} characters{_vocab_change(run_vocab, vocab)}); "
            "resume on the same text"
        )


def _vocab_change(old: Vocab, new: Vocab) -> str:
    added = sorted(set(new.chars) - set(old.chars))
    gone = sorted(set(old.chars) - set(new.chars))
    parts = []
    if added:
        parts.append("new characters " + ", ".join(map(repr, added[:5])))
    if gone:
        parts.append("characters no longer there " + ", ".join(map(repr, gone[:5])))
    return "; " + ", ".join(parts) if parts else ""

"""Reopening a run folder for `--resume`: what it holds, checked.

A run folder is resumable from the moment config.json exists: with a
checkpoint, the run continues from it; without one (stopped before its
first checkpoint), it starts again from the beginning config.json
describes, which is the same start (the seed draws the same parameters).
The checkpoint must belong to the folder's run and the corpus must be the
same text, found at its recorded path or at a new one given on resume.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.fingerprint import Fingerprint
from ..data.vocab import Vocab
from ..errors import CharnnError, CheckpointError, ConfigError, CorpusError
from ..nn.step import TrainState
from . import identity, rundir, snapshot
from .config import RESUMABLE_CHANGES, TrainConfig
from .split import Data, prepare_data


@dataclass
class Saved:
    """What a run folder holds; state, rng and counters are None for a run
    without a checkpoint, info is None for a folder without config.json."""

    cfg: TrainConfig
    vocab: Vocab
    state: TrainState | None
    rng: np.random.Generator | None
    counters: dict | None
    run_id: str | None
    fingerprint: Fingerprint | None
    info: dict | None
    created: str | None = None  # when the run began, as its checkpoint records it


def read_run(folder: Path) -> Saved:
    """The checkpoint (checked against config.json) or, without one, config.json."""
    info = rundir.read_config(folder) if (folder / rundir.CONFIG).exists() else None
    path = folder / rundir.CHECKPOINT
    if not path.exists():
        cfg, vocab = _config_of(info, folder)
        fp = identity.config_fingerprint(info)
        return Saved(cfg, vocab, None, None, None, identity.config_id(info), fp, info)
    meta, cfg, vocab, state, rng = snapshot.load_train(path)
    if info is not None:
        identity.check_meta(info, meta, path)
    run = meta.get("run") if isinstance(meta.get("run"), dict) else {}
    fp = Fingerprint.from_dict(run.get("corpus"))
    created = run.get("created") if isinstance(run.get("created"), str) else None
    return Saved(cfg, vocab, state, rng, meta["counters"], run.get("id"), fp, info, created)


def _config_of(info: dict, folder: Path) -> tuple[TrainConfig, Vocab]:
    try:
        return TrainConfig.from_dict(info["config"]).validate(), Vocab.from_chars(info["vocab"])
    except (CharnnError, TypeError, KeyError) as e:
        raise CheckpointError(f"{folder / rundir.CONFIG} is not a usable run ({e})") from None


def corpus_data(cfg: TrainConfig, recorded: Fingerprint | None, vocab: Vocab, moved: bool) -> Data:
    """The run's corpus, split, checked to be the text the run was trained on."""
    try:
        data = prepare_data(cfg)
    except CorpusError as e:
        if moved or "not found" not in str(e):
            raise
        raise CorpusError(
            f"{e}; if the run's corpus moved, give its new path: "
            "charnn train NEW_PATH --resume RUN_DIR"
        ) from None
    identity.check_corpus(cfg.corpus, recorded, data.corpus.fingerprint, (vocab, data.vocab))
    return data


def tidy(
    folder: Path, update: int, counters: dict | None, eval_every: int, finished: bool = False
) -> None:
    """Remove what a crash left (temporaries; a best model without checkpoint)
    and cut the logs back to the state the run continues from: also
    best_val.npz, when the final validation of an earlier end had put its
    model there (see events.RunEvents._validate). finished: the run has
    nothing left to do; only what a crash left is removed."""
    for stale in folder.glob(".*.tmp-*"):
        if stale.is_file() or stale.is_symlink():  # what charnn leaves is a file
            stale.unlink(missing_ok=True)
    if not finished:  # the run goes on from its last checkpoint
        (folder / rundir.DIVERGED).unlink(missing_ok=True)
    if counters is None:
        (folder / rundir.BEST).unlink(missing_ok=True)
    grid = folder / rundir.BEST_VAL_GRID
    if grid.exists() and not finished:
        os.replace(grid, folder / rundir.BEST_VAL)
    done = bool(counters["events_done"]) if counters else False
    rundir.truncate_logs(folder, update, done, eval_every, finished)


def as_recorded(saved: Saved) -> TrainConfig:
    """The checkpoint's configuration with the options a resume may change, and
    the corpus's place, as config.json records them: a resume that changed
    them and stopped before its first checkpoint (a kill, a crash) wrote them
    there only, and the report already shows them (identity checks that the
    rest agrees, and a resume that the corpus's bytes are the same)."""
    cfg = saved.cfg
    recorded = (saved.info or {}).get("config")
    if saved.state is None or not isinstance(recorded, dict):
        return cfg
    keys = (*RESUMABLE_CHANGES, "corpus")
    pending = {k: recorded[k] for k in keys if k in recorded and recorded[k] != getattr(cfg, k)}
    return dataclasses.replace(cfg, **pending).validate() if pending else cfg


def apply_changes(cfg: TrainConfig, changes: dict) -> TrainConfig:
    """The saved config with allowed changes; any other differing option is an error."""
    saved = cfg.to_dict()
    for key, value in changes.items():
        if value is not None and key not in RESUMABLE_CHANGES and saved.get(key) != value:
            raise ConfigError(
                f"--{key.replace('_', '-')} {value} differs from the run's "
                f"{saved.get(key)}; a resumed run keeps its configuration "
                f"(only {', '.join(RESUMABLE_CHANGES)} may change)"
            )
    allowed = {k: v for k, v in changes.items() if k in RESUMABLE_CHANGES and v is not None}
    if "epochs" in allowed and "updates" not in allowed:  # as for a new run: --epochs alone
        allowed["updates"] = 0  # removes the update limit
    return dataclasses.replace(cfg, **allowed).validate()

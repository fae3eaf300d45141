"""The model a command reads: a run folder's best or latest checkpoint, or a
checkpoint file, checked to belong to its run."""

from __future__ import annotations

from pathlib import Path

from ..errors import CheckpointError
from ..run import bestval, identity, rundir, snapshot
from .output import err


def model_path(source: str | Path, which: str) -> Path:
    p = Path(source)
    if p.is_dir():
        cfg = rundir.read_config(p)["config"]
        path = bestval.model_file(p, which)
        if not path.exists():
            if path.name == rundir.BEST_VAL and not cfg.get("val_fraction"):
                raise CheckpointError(
                    f"{p} held out no validation text (--val-fraction 0), so it has no best "
                    "model by validation; use --checkpoint best-smooth"
                )
            diverged = rundir.read_diverged(p)
            if diverged:
                others = [
                    f"--checkpoint {w}"
                    for w, name in (("best-val", rundir.BEST_VAL), ("latest", rundir.CHECKPOINT))
                    if name != path.name and (p / name).exists()
                ]
                hint = f"; use {' or '.join(others)}" if others else ""
                raise CheckpointError(
                    f"{p} diverged at update {diverged['update']:,} before it wrote "
                    f"{path.name}; it has no such model{hint}"
                )
            if path.name == rundir.BEST and (p / rundir.CHECKPOINT).exists():
                raise CheckpointError(
                    f"{p} has no {path.name}: the end of its run is not written; "
                    f"charnn train --resume {p} writes it, or use --checkpoint latest"
                )
            raise CheckpointError(f"{p} has no {path.name}; is it a finished charnn run?")
        identity.check_checkpoint(p, path)
        return path
    if not p.exists():
        raise CheckpointError(f"no run directory or checkpoint at {p}")
    return p


def warn_if_diverged(command: str, source: str | Path) -> None:
    """A warning on stderr when source is a run folder, or a checkpoint file
    in one, whose training diverged."""
    p = Path(source)
    folder = p if p.is_dir() else p.parent
    if not (folder / rundir.CONFIG).is_file():
        return
    diverged = rundir.read_diverged(folder)
    if diverged:
        err(
            f"charnn {command}: WARNING: {folder} diverged at update {diverged['update']:,}; "
            "its models are those it had before"
        )


def load_model(source: str | Path, which: str):
    """(config, vocab, params, h, x) of a run's best or latest model, checked
    to belong to the run when source is a run folder."""
    folder = Path(source)
    try:
        return snapshot.load_model(model_path(source, which))
    except CheckpointError as e:
        about_best = str(folder / rundir.BEST) in str(e)
        if which == "best" and about_best and (folder / rundir.CHECKPOINT).exists():
            raise CheckpointError(f"{e}; or use the latest model: --checkpoint latest") from None
        raise

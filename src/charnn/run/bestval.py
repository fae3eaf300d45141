"""The two best models of a run and what is known about them.

best.npz      the seed's best model: the lowest smoothed training loss
best_val.npz  the model with the lowest validation loss (when validation runs)

`--best-by smooth|val` picks which of them is "the best model": the one the
best_200/1000 texts come from and that `sample` and `evaluate` use by
default. outcome.json records the validation of both and of the final model.
Both files hold one model in the format of best.npz: parameters, the carried
state h (m,) after the model's sequence and the next input id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.vocab import Vocab
from ..nn.step import TrainState
from . import checkpoint, evaluation, rundir, snapshot
from .config import TrainConfig

OUTCOME = "outcome.json"


@dataclass
class Model:
    """A model to continue from: parameters after `update` updates, its carried
    state h (m,), the next input id x, and the smoothed loss it had then."""

    params: dict
    h: np.ndarray
    x: int
    update: int
    smooth: float


def save(
    path: Path, cfg: TrainConfig, vocab: Vocab, model: Model, val_bpc: float, run: dict | None
) -> None:
    """Write model as a best-kind checkpoint, with its validation figure and
    the run's identity (identity.meta_of), which sample and evaluate check."""
    meta = {
        **({"run": run} if run else {}),
        "kind": "best",
        "config": cfg.to_dict(),
        "vocab": list(vocab.chars),
        "counters": {
            "best_x": int(model.x),
            "best_update": int(model.update),
            "best_smooth": float(model.smooth),
            "val_bpc": float(val_bpc),
        },
    }
    arrays = {f"p_{k}": v for k, v in model.params.items()}
    arrays["h"] = np.asarray(model.h, dtype=model.params["W"].dtype)
    checkpoint.save(path, meta, arrays)


def chosen(folder: Path, cfg: TrainConfig, state: TrainState) -> Model:
    """The best model by cfg.best_by: the lowest validation (best_val.npz) or
    the lowest smoothed loss (the state's best model, also when no validation ran)."""
    path = folder / rundir.BEST_VAL
    if cfg.best_by == "val" and path.exists():
        c, params, h = snapshot.load_best(path)
        return Model(params, h, c["best_x"], c["best_update"], c["best_smooth"])
    return Model(
        state.best_params, state.best_h, state.best_x, state.best_update, state.best_smooth
    )


def model_file(folder: Path, which: str) -> Path:
    """The file of a run's model: which is 'best' (by the run's --best-by),
    'best-smooth', 'best-val' or 'latest'."""
    if which == "best":
        cfg = rundir.read_config(folder)["config"]
        which = "best-val" if cfg.get("best_by") == "val" else "best-smooth"
        if which == "best-val" and not (folder / rundir.BEST_VAL).exists():
            which = "best-smooth"
    return (
        folder
        / {
            "best-smooth": rundir.BEST,
            "best-val": rundir.BEST_VAL,
            "latest": rundir.CHECKPOINT,
        }[which]
    )


def smooth_bpc(state: TrainState, val: np.ndarray, text_loss, carried, reset_id: int = -1):
    """Validation (bits per char) of the best model by smoothed loss, from the
    state kept with it (document mode: zero, shaped like carried)."""
    best_h = state.best_h if reset_id < 0 else np.zeros_like(carried)
    return evaluation.score(text_loss, state.best_params, val, best_h, reset_id)[1]


def outcome(
    cfg,
    state: TrainState,
    val: np.ndarray,
    text_loss,
    count,
    carried,
    reset_id: int = -1,
    final_bpc: float | None = None,
    best_bpc: float | None = None,
    best_val: tuple[int, float] | None = None,
) -> dict:
    """Validation (bits per char) of both best models and of the final one
    (count: the loop's Counters; carried: the state validation starts from;
    final_bpc, best_bpc: the final model's and smooth_bpc's figures when
    already computed; best_val: (update, bits/char) of the final model when
    its validation beat the count's best, off the eval_every grid)."""
    out = {"best_by": cfg.best_by, "updates": state.update}
    out["best_smooth"] = {"update": state.best_update, "smooth_loss": state.best_smooth}
    if val.size:
        if best_bpc is None:
            best_bpc = smooth_bpc(state, val, text_loss, carried, reset_id)
        out["best_smooth"]["val_bpc"] = best_bpc
        update, bpc = best_val or (count.best_val_update, count.best_val_bpc)
        out["best_val"] = {"update": update, "val_bpc": bpc}
        if final_bpc is None:
            _, final_bpc = evaluation.score(text_loss, state.params, val, carried, reset_id)
        out["final_val_bpc"] = final_bpc
    return out


def write_outcome(folder: Path, outcome: dict) -> None:
    rundir.write_json(folder / OUTCOME, outcome)


def read_outcome(folder: Path) -> dict:
    """outcome.json, or {} for a run that has not finished (or predates it),
    or whose outcome.json is not one (a resume writes it again)."""
    try:
        out = json.loads((folder / OUTCOME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return out if _is_outcome(out) else {}


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _count(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_outcome(out) -> bool:
    """Whether out has the shape `outcome` gives it (bits/char may be NaN)."""
    if not isinstance(out, dict) or not _count(out.get("updates")):
        return False
    validated = "final_val_bpc" in out or "best_val" in out
    models = [out.get("best_smooth")] + ([out.get("best_val")] if validated else [])
    if not all(isinstance(m, dict) and _count(m.get("update")) for m in models):
        return False
    if not validated:
        return True
    return all(_number(v) for v in [out.get("final_val_bpc"), *(m.get("val_bpc") for m in models)])

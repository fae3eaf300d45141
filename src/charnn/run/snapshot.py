"""What goes into checkpoint.npz and best.npz, and the checks on the way back.

A training checkpoint holds the parameters, optimizer moments, recurrent
state (B, S) (S = L m, or 2 L m for lstm), the best model, all counters,
the RNG state, the vocabulary and the configuration: everything `--resume`
needs to continue bit for bit. A best checkpoint holds one model:
parameters, state (S,) and next input. The metadata is validated against
this schema before any array is read.
"""

from __future__ import annotations

import math

import numpy as np

from ..data.vocab import Vocab
from ..errors import CharnnError, CheckpointError
from ..nn import arch
from ..nn.step import TrainState
from . import checkpoint
from .config import TrainConfig

COUNTERS = {
    "pointer": int,
    "epoch": int,
    "update": int,
    "smooth": float,
    "best_smooth": float,
    "best_x": int,
    "best_update": int,
    "opt_t": int,
    "first_loss": float,
    "events_done": bool,
    "elapsed": float,
    "next_x": int,
}
BEST_COUNTERS = {"best_x": int, "best_update": int, "best_smooth": float}


def _arrays(prefix: str, d: dict) -> dict:
    return {f"{prefix}_{k}": v for k, v in d.items()}


def save_train(
    path,
    cfg: TrainConfig,
    vocab: Vocab,
    state: TrainState,
    extra: dict,
    rng: np.random.Generator,
    run: dict | None = None,
) -> None:
    """Write the full training state; extra holds first_loss, events_done,
    elapsed and next_x (the input id that follows the current state); run
    the run's identity (identity.meta_of)."""
    counters = {
        "pointer": state.pointer,
        "epoch": state.epoch,
        "update": state.update,
        "smooth": state.smooth,
        "best_smooth": state.best_smooth,
        "best_x": state.best_x,
        "best_update": state.best_update,
        "opt_t": state.opt["t"],
        **extra,
    }
    meta = {
        "kind": "train",
        "config": cfg.to_dict(),
        "vocab": list(vocab.chars),
        "counters": counters,
        "rng": rng.bit_generator.state,
        **({"run": run} if run else {}),
    }
    arrays = {
        **_arrays("p", state.params),
        **_arrays("m", state.opt["m"]),
        **_arrays("v", state.opt["v"]),
        **_arrays("best", state.best_params),
        "h": state.h,
        "best_h": state.best_h,
    }
    checkpoint.save(path, meta, arrays)


def save_best(path, cfg: TrainConfig, vocab: Vocab, state: TrainState, run=None) -> None:
    meta = {
        **({"run": run} if run else {}),
        "kind": "best",
        "config": cfg.to_dict(),
        "vocab": list(vocab.chars),
        "counters": {
            "best_x": state.best_x,
            "best_update": state.best_update,
            "best_smooth": state.best_smooth,
        },
    }
    checkpoint.save(path, meta, {**_arrays("p", state.best_params), "h": state.best_h})


def _check_counters(meta: dict, schema: dict, where: str) -> dict:
    counters = meta.get("counters")
    if not isinstance(counters, dict):
        raise CheckpointError(f"{where}: metadata has no counters")
    for key, typ in schema.items():
        v = counters.get(key)
        ok = (
            isinstance(v, bool)
            if typ is bool
            else (
                isinstance(v, (int, float)) and not isinstance(v, bool)
                if typ is float
                else isinstance(v, int) and not isinstance(v, bool) and v >= -1
            )
        )
        if not ok:
            raise CheckpointError(f"{where}: counter {key!r} is missing or not a {typ.__name__}")
    return counters


def parse_meta(meta: dict, where: str, kind: str) -> tuple[TrainConfig, Vocab]:
    """Validate the metadata schema; returns the run's config and vocabulary."""
    if meta.get("kind") != kind:
        raise CheckpointError(f"{where} is a {meta.get('kind')!r} checkpoint, expected {kind!r}")
    if not isinstance(meta.get("config"), dict) or not isinstance(meta.get("vocab"), list):
        raise CheckpointError(f"{where}: metadata lacks the configuration or vocabulary")
    try:
        cfg = TrainConfig.from_dict(meta["config"]).validate()
        vocab = Vocab.from_chars(meta["vocab"])
    except (CharnnError, TypeError) as e:
        raise CheckpointError(f"{where}: invalid metadata ({e})") from None
    counters = _check_counters(meta, COUNTERS if kind == "train" else BEST_COUNTERS, where)
    for key in ("best_x", "next_x"):
        if key in counters and not 0 <= counters[key] < vocab.size:
            raise CheckpointError(f"{where}: counter {key!r} is outside the vocabulary")
    if kind == "train" and not isinstance(meta.get("rng"), dict):
        raise CheckpointError(f"{where}: metadata lacks the random generator state")
    return cfg, vocab


def _shapes(cfg: TrainConfig, vocab: Vocab, kind: str) -> dict:
    ps = arch.param_shapes(vocab.size, cfg.hidden, cfg.cell, cfg.layers)
    S = arch.Arch(cfg.cell, cfg.layers, vocab.size, cfg.hidden).state_size
    if kind == "best":
        return {**_arrays("p", ps), "h": (S,)}
    return {
        **_arrays("p", ps),
        **_arrays("m", ps),
        **_arrays("v", ps),
        **_arrays("best", ps),
        "h": (cfg.batch_size, S),
        "best_h": (S,),
    }


def _load(path, kinds: tuple[str, ...]):
    where = f"checkpoint {path}"
    parsed = {}

    def expected(meta):
        kind = meta.get("kind")
        if kind not in kinds:
            raise CheckpointError(
                f"{where} is a {kind!r} checkpoint, expected {' or '.join(map(repr, kinds))}"
            )
        parsed["cv"] = parse_meta(meta, where, kind)
        return _shapes(*parsed["cv"], kind)

    meta, arrays = checkpoint.load(path, expected)
    cfg, vocab = parsed["cv"]
    for name, a in arrays.items():
        if a.dtype != np.dtype(cfg.dtype):
            raise CheckpointError(
                f"{where}: array {name!r} is {a.dtype}, not the run's {cfg.dtype}"
            )
        if not np.all(np.isfinite(a)):
            raise CheckpointError(f"{where}: array {name!r} is not finite")
    return meta, cfg, vocab, arrays


def _unprefix(arrays: dict, prefix: str) -> dict:
    """The parameters stored under prefix ("p", "m", "v", "best"), in saved order."""
    names = [k[2:] for k in arrays if k.startswith("p_")]
    return {k: arrays[f"{prefix}_{k}"] for k in names}


def _state(meta: dict, a: dict) -> TrainState:
    c = meta["counters"]
    return TrainState(
        params=_unprefix(a, "p"),
        opt={"m": _unprefix(a, "m"), "v": _unprefix(a, "v"), "t": c["opt_t"]},
        h=a["h"],
        pointer=c["pointer"],
        epoch=c["epoch"],
        update=c["update"],
        smooth=float(c["smooth"]),
        best_smooth=float(c["best_smooth"]),
        best_params=_unprefix(a, "best"),
        best_h=a["best_h"],
        best_x=c["best_x"],
        best_update=c["best_update"],
    )


def load_train(path) -> tuple[dict, TrainConfig, Vocab, TrainState, np.random.Generator]:
    """Everything needed to resume: (meta, config, vocab, state, rng)."""
    meta, cfg, vocab, arrays = _load(path, ("train",))
    state = _state(meta, arrays)
    rng = np.random.default_rng()
    try:
        rng.bit_generator.state = meta["rng"]
    except (TypeError, ValueError, KeyError) as e:
        raise CheckpointError(f"checkpoint {path}: bad random generator state ({e})") from None
    if math.isnan(state.smooth) and state.update > 0:
        raise CheckpointError(f"checkpoint {path}: smoothed loss missing after updates")
    return meta, cfg, vocab, state, rng


def load_model(path) -> tuple[TrainConfig, Vocab, dict, np.ndarray, int]:
    """A model to sample from: (config, vocab, params, h (S,), next input id),
    from a best checkpoint or a training one (stream 0's current state)."""
    meta, cfg, vocab, arrays = _load(path, ("best", "train"))
    c = meta["counters"]
    if meta["kind"] == "best":
        return cfg, vocab, _unprefix(arrays, "p"), arrays["h"], c["best_x"]
    return cfg, vocab, _unprefix(arrays, "p"), _carried(c, arrays["h"], path), c["next_x"]


def _carried(counters: dict, h: np.ndarray, path) -> np.ndarray:
    """Stream 0's carried state: kept apart from h, which an epoch start zeroes
    (older checkpoints have only h)."""
    carried = counters.get("carried_h")
    if carried is None:
        return h[0]
    try:
        out = np.asarray(carried, dtype=np.float64)
    except (TypeError, ValueError):
        out = None
    if out is None or out.shape != h[0].shape or not np.all(np.isfinite(out)):
        raise CheckpointError(f"checkpoint {path}: counter 'carried_h' is not {h.shape[1]} numbers")
    return out.astype(h.dtype)


def load_best(path) -> tuple[dict, dict, np.ndarray]:
    """A best-kind checkpoint: (counters, params, h (m,))."""
    meta, _, _, arrays = _load(path, ("best",))
    return meta["counters"], _unprefix(arrays, "p"), arrays["h"]

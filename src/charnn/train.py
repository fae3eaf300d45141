"""The training loop: data split, events (samples, validation, checkpoints),
resume and divergence.

Updates run in chunks through the engine (`engine.train_chunk`, or the
reference `updates.reference_chunk`); between chunks come the events, at
update counts u (updates done so far):

    u % sample_every == 0   synthesize sample_length chars from the current h and input
    u % eval_every == 0     validation loss from a zero state, nats and bits per char
    u % checkpoint_every == 0 (u > 0) and at the end: checkpoint.npz and best.npz

The seed's text evolution ("before the first and every 10,000th update") is
the samples at u = 0, 10000, 20000, ...

Validation holds out the last `val_fraction` of the corpus; the vocabulary
is built from the whole text, training reads only the first part.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from . import model, rundir, sampling, updates
from .config import TrainConfig
from .corpus import Vocab
from .corpus_ids import CorpusIds, load_ids
from .errors import CheckpointError, ConfigError, CorpusError, DivergenceError
from .updates import TrainState

LN2 = math.log(2.0)
CHUNK = 500


@dataclass
class Data:
    """The corpus split for training: data (B, L) ids and the held-out ids."""

    corpus: CorpusIds
    vocab: Vocab
    train: np.ndarray
    val: np.ndarray

    @property
    def info(self) -> dict:
        return {"name": self.corpus.name, "path": str(self.corpus.path),
                "chars": self.corpus.chars, "train_chars": int(self.train.size),
                "val_chars": int(self.val.size), "K": self.vocab.size}


def prepare_data(cfg: TrainConfig, vocab: Vocab | None = None) -> Data:
    """Load and split the corpus; with vocab given (resume), it must match."""
    c = load_ids(cfg.corpus, min_chars=cfg.seq_length + 1)
    if vocab is not None and c.vocab != vocab:
        raise CorpusError(f"corpus {c.name} has a different vocabulary than the run "
                          f"({c.vocab.size} vs {vocab.size} characters); resume on the same text")
    n = c.chars
    n_val = int(n * cfg.val_fraction)
    if cfg.val_fraction > 0 and n_val < 2:
        raise CorpusError(f"--val-fraction {cfg.val_fraction} holds out {n_val} characters of "
                          f"{n}; use a larger fraction or 0 for no validation")
    train, val = c.ids[:n - n_val], c.ids[n - n_val:]
    L = len(train) // cfg.batch_size
    if L < cfg.seq_length + 1:
        raise CorpusError(f"the training text ({len(train)} characters) is too short for "
                          f"--batch-size {cfg.batch_size} streams of --seq-length {cfg.seq_length}"
                          " + 1; use a longer text or smaller values")
    return Data(c, c.vocab, train[:L * cfg.batch_size].reshape(cfg.batch_size, L), val)


def new_state(cfg: TrainConfig, K: int, rng: np.random.Generator) -> TrainState:
    """Initial parameters (drawn from rng in float64, then cast) and zero state."""
    params = model.init_params(K, cfg.hidden, rng, cfg.sig)
    params = {k: v.astype(cfg.dtype) for k, v in params.items()}
    return TrainState.fresh(params, cfg.batch_size)


def chunk_fn(cfg: TrainConfig):
    if cfg.engine == "reference":
        return updates.reference_chunk
    from . import engine

    return engine.train_chunk


def sample_fn(cfg: TrainConfig):
    if cfg.engine == "reference":
        return sampling.synthesize
    from . import engine

    return engine.synthesize


def text_loss_fn(cfg: TrainConfig):
    if cfg.engine == "reference":
        return model.text_loss
    from . import engine

    return engine.text_loss


def validate(cfg: TrainConfig, params: dict, val: np.ndarray) -> tuple[float, float]:
    """(nats per char, bits per char) on the held-out ids from a zero state."""
    nats, count = text_loss_fn(cfg)(params, val)
    per_char = nats / max(count, 1)
    return per_char, per_char / LN2


def stop_update(cfg: TrainConfig, per_epoch: int) -> int:
    """The update count at which training ends (the first limit reached)."""
    limits = [u for u in (cfg.updates, cfg.epochs * per_epoch) if u > 0]
    return min(limits)


@dataclass
class Event:
    """Something the loop reports: kind is 'sample', 'eval', 'progress',
    'checkpoint' or 'epoch'; the other fields as they apply."""

    kind: str
    update: int
    epoch: int = 0
    smooth: float = math.nan
    loss: float = math.nan
    text: str = ""
    val_bpc: float = math.nan
    rate: float = math.nan


class Run:
    """A training run in a directory: start or resume it, then `train`."""

    def __init__(self, folder: Path, cfg: TrainConfig, data: Data, state: TrainState,
                 rng: np.random.Generator, extra: dict):
        self.folder, self.cfg, self.data, self.state, self.rng = folder, cfg, data, state, rng
        self.first_loss = extra.get("first_loss", math.nan)
        self.events_done = extra.get("events_done", False)
        self.elapsed = extra.get("elapsed", 0.0)
        self.per_epoch = updates.updates_per_epoch(data.train.shape[1], cfg.seq_length)
        self.last_checkpoint = state.update if extra else -1

    @classmethod
    def start(cls, folder: Path, cfg: TrainConfig, force: bool = False) -> "Run":
        """A new run: refuses a folder holding a run unless force."""
        cfg.validate()
        data = prepare_data(cfg)
        rundir.prepare_new(folder, force)
        rng = np.random.default_rng(cfg.seed)
        state = new_state(cfg, data.vocab.size, rng)
        rundir.write_json(folder / rundir.CONFIG, {
            "config": cfg.to_dict(), "vocab": list(data.vocab.chars), "corpus": data.info,
            "versions": rundir.versions(), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        return cls(folder, cfg, data, state, rng, {})

    @classmethod
    def resume(cls, folder: Path, changes: dict | None = None) -> "Run":
        """Continue from checkpoint.npz; changes may extend updates/epochs or
        change intervals that do not alter the results."""
        from . import snapshot

        path = folder / rundir.CHECKPOINT
        if not path.exists():
            raise CheckpointError(f"{folder} has no checkpoint to resume from; "
                                  "start a new run with --out instead")
        meta, cfg, vocab, state, rng = snapshot.load_train(path)
        cfg = apply_changes(cfg, changes or {})
        data = prepare_data(cfg, vocab)
        c = meta["counters"]
        for stale in folder.glob(".*.tmp-*"):  # left by a crash in the middle of a write
            stale.unlink(missing_ok=True)
        rundir.truncate_logs(folder, state.update, c["events_done"], cfg.eval_every)
        return cls(folder, cfg, data, state, rng, c)

    # -- events ---------------------------------------------------------
    def next_input(self) -> int:
        data, p = self.data.train, self.state.pointer
        return int(data[0, p]) if p < data.shape[1] else int(data[0, 0])

    def synthesize(self, params, h, x, n: int) -> str:
        ids = sample_fn(self.cfg)(params, h, x, n, self.rng)
        return self.data.vocab.decode(ids)

    def events(self, emit: Callable[[Event], None]) -> None:
        """The evaluation, sample and log due at the current update count."""
        cfg, st = self.cfg, self.state
        u = st.update
        if u % cfg.eval_every == 0 and self.data.val.size:
            self.evaluate(emit)
        if u % cfg.sample_every == 0 and cfg.sample_length > 0:
            text = self.synthesize(st.params, st.h[0], self.next_input(), cfg.sample_length)
            rundir.append_sample(self.folder, u, st.smooth, text)
            emit(Event("sample", u, st.epoch, st.smooth, text=text))
        self.events_done = True

    def evaluate(self, emit: Callable[[Event], None]) -> None:
        """Validation of the current parameters: a metrics row and an 'eval' event."""
        st = self.state
        nats, bpc = validate(self.cfg, st.params, self.data.val)
        rundir.append_metrics(self.folder, [{"update": st.update, "epoch": st.epoch,
                                             "val_nats": nats, "val_bpc": bpc,
                                             "elapsed_s": self.elapsed}])
        emit(Event("eval", st.update, st.epoch, st.smooth, val_bpc=bpc))

    def save(self) -> None:
        from . import snapshot

        st = self.state
        extra = {"first_loss": self.first_loss, "events_done": self.events_done,
                 "elapsed": self.elapsed, "next_x": self.next_input()}
        snapshot.save_train(self.folder / rundir.CHECKPOINT, self.cfg, self.data.vocab, st,
                            extra, self.rng)
        snapshot.save_best(self.folder / rundir.BEST, self.cfg, self.data.vocab, st)
        self.last_checkpoint = st.update

    # -- the loop -------------------------------------------------------
    def chunk_size(self, end: int) -> int:
        """Updates until the next event, epoch end, stop, or progress report."""
        cfg, st = self.cfg, self.state
        u = st.update
        nxt = min(-(-(u + 1) // every) * every
                  for every in (cfg.eval_every, cfg.sample_every, cfg.checkpoint_every))
        left = updates.updates_left_in_epoch(st.pointer, self.data.train.shape[1], cfg.seq_length)
        cap = CHUNK if cfg.engine == "fast" else max(1, 2000 // (cfg.batch_size * cfg.hidden))
        return min(cap, end - u, nxt - u, left)

    def log_chunk(self, losses: np.ndarray, smooth0: float, dt: float) -> None:
        st, u0 = self.state, self.state.update - len(losses)
        rows, s = [], smooth0
        for i, loss in enumerate(losses):
            s = float(loss) if u0 + i == 0 else 0.999 * s + 0.001 * float(loss)
            rows.append({"update": u0 + i + 1, "epoch": st.epoch, "loss": float(loss),
                         "smooth_loss": s, "elapsed_s": round(self.elapsed, 3),
                         "updates_per_s": round(len(losses) / dt, 1) if dt > 0 else None})
        rundir.append_metrics(self.folder, rows)

    def check_divergence(self, done: int, wanted: int) -> None:
        st = self.state
        kept = (f"the last good checkpoint (update {self.last_checkpoint}) is kept"
                if self.last_checkpoint > 0 else "no checkpoint was written")
        if done < wanted:
            raise DivergenceError(f"training diverged at update {st.update + 1}: the loss is not "
                                  f"finite; {kept}. Try a smaller --lr or --clip")
        if st.smooth > 2 * self.first_loss:
            raise DivergenceError(
                f"training diverged at update {st.update}: smoothed loss {st.smooth:.1f} is more "
                f"than twice its start ({self.first_loss:.1f}); {kept}. Try a smaller --lr")

    def train(self, emit: Callable[[Event], None], should_stop: Callable[[], int] = lambda: 0):
        """Run to the configured end. should_stop() returns a signal number to
        stop at the next chunk boundary (after saving a checkpoint)."""
        cfg, st = self.cfg, self.state
        T, L = cfg.seq_length, self.data.train.shape[1]
        end, step, optc = stop_update(cfg, self.per_epoch), chunk_fn(cfg), cfg.optim()
        tick = time.perf_counter()
        while True:
            if updates.updates_left_in_epoch(st.pointer, L, T) == 0:
                st.start_epoch()  # also at the very end, so a resume continues identically
                if st.update < end:
                    emit(Event("epoch", st.update, st.epoch, st.smooth))
            if not self.events_done:
                self.events(emit)
            if st.update % cfg.checkpoint_every == 0 and 0 < st.update != self.last_checkpoint:
                self.save()
                emit(Event("checkpoint", st.update, st.epoch, st.smooth))
            if st.update >= end:
                break
            signum = should_stop()
            if signum:
                self.save()
                raise Interrupted(signum, st.update)
            n, smooth0, t0 = self.chunk_size(end), st.smooth, time.perf_counter()
            losses = step(st, self.data.train, n, T, cfg.clip, optc)
            now = time.perf_counter()
            dt = now - t0
            self.elapsed += now - tick  # wall time: the updates and the events before them
            tick = now
            if len(losses):
                self.events_done = False
                if st.update == len(losses):
                    self.first_loss = float(losses[0])
                self.log_chunk(losses, smooth0, dt)
            self.check_divergence(len(losses), n)
            emit(Event("progress", st.update, st.epoch, st.smooth,
                       float(losses[-1]) if len(losses) else math.nan, rate=n / dt if dt else 0))
        self.finish(emit)

    def finish(self, emit: Callable[[Event], None]) -> None:
        """Final validation, checkpoints, the best model's text and the plot."""
        cfg, st = self.cfg, self.state
        if st.update % cfg.eval_every and self.data.val.size:
            self.evaluate(emit)
        if st.update != self.last_checkpoint:
            self.save()
        for n in (200, 1000):
            text = self.synthesize(st.best_params, st.best_h, st.best_x, n)
            rundir.write_text(self.folder / f"best_{n}.txt", text)
            emit(Event("best", st.best_update, st.epoch, st.best_smooth, text=text))


class Interrupted(Exception):
    """Training stopped by a signal after saving a checkpoint."""

    def __init__(self, signum: int, update: int):
        super().__init__(f"stopped by signal {signum} at update {update}; checkpoint saved")
        self.signum, self.update = signum, update


RESUMABLE_CHANGES = ("updates", "epochs", "checkpoint_every", "log_every")


def apply_changes(cfg: TrainConfig, changes: dict) -> TrainConfig:
    """The saved config with allowed changes; any other differing option is an error."""
    import dataclasses

    saved = cfg.to_dict()
    for key, value in changes.items():
        if value is not None and key not in RESUMABLE_CHANGES and saved.get(key) != value:
            raise ConfigError(f"--{key.replace('_', '-')} {value} differs from the run's "
                              f"{saved.get(key)}; a resumed run keeps its configuration "
                              f"(only {', '.join(RESUMABLE_CHANGES)} may change)")
    allowed = {k: v for k, v in changes.items() if k in RESUMABLE_CHANGES and v is not None}
    return dataclasses.replace(cfg, **allowed).validate()

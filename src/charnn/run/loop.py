"""The training loop: events (samples, validation, checkpoints), resume and
divergence.

Updates run in chunks through the backend (the engine's `train_chunk`, or
the reference `nn.step.reference_chunk`); between chunks come the events, at
update counts u (updates done so far):

    u % sample_every == 0   synthesize sample_length chars from the carried h and input
    u % eval_every == 0     validation from the carried state, nats and bits per char;
                            with validation, best_val.npz keeps the lowest one's model
    u % checkpoint_every == 0 (u > 0) and at the end: checkpoint.npz and best.npz

The seed's text evolution ("before the first and every 10,000th update") is
the samples at u = 0, 10000, 20000, ...

In document mode (cfg.documents) the state restarts at every end symbol
(reset_id = END_ID in the backend calls), validation reads the held-out
documents likewise, and samples are whole documents from a fresh state
(run.docgen) until they hold sample_length characters.

The carried state is stream 0's hidden state after the last update; an
epoch start resets the training state to zero but not the carried one, so
samples and validation always start from a state the model knows (see
run/evaluation.py).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.documents import END_ID
from ..errors import CheckpointError, ConfigError, DivergenceError
from ..nn import stack, step
from ..nn.step import TrainState
from . import bestval, budget, docgen, evaluation, identity, record, reopen, rundir, snapshot
from .backend import backend, use_threads
from .config import TrainConfig
from .lock import RunLock
from .split import Data, prepare_data
from .timing import Stopwatch

CHUNK = 500
ANNEAL_STEPS = 50  # chunks over the --anneal part of the budget, each at one rate
NO_LIMIT = 2**62


def new_state(cfg: TrainConfig, K: int, rng: np.random.Generator) -> TrainState:
    """Initial parameters (drawn from rng in float64, then cast) and zero state."""
    params = stack.init_params(K, cfg.hidden, rng, cfg.sig, cfg.cell, cfg.layers)
    params = {k: v.astype(cfg.dtype) for k, v in params.items()}
    return TrainState.fresh(params, cfg.batch_size)


def stop_update(cfg: TrainConfig, per_epoch: int) -> int:
    """The update count at which training ends (the first limit reached), leaving
    --max-time aside; with no update or epoch limit, an effectively endless count."""
    limits = [u for u in (cfg.updates, math.ceil(cfg.epochs * per_epoch)) if u > 0]
    return min(limits) if limits else NO_LIMIT


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
    train_bpc: float = math.nan  # the smoothed loss in bits per character


@dataclass
class Counters:
    """What the loop keeps besides the training state; saved in every checkpoint."""

    first_loss: float = math.nan  # the loss of the first update: the divergence reference
    events_done: bool = False  # the events of the current update count have run
    elapsed: float = 0.0  # wall seconds of training so far
    best_val_bpc: float = math.inf  # the lowest validation so far, and its update
    best_val_update: int = -1

    @classmethod
    def from_meta(cls, counters: dict) -> Counters:
        """The counters of a checkpoint; those it predates keep their defaults."""
        names = (f.name for f in dataclasses.fields(cls))
        return cls(**{n: counters[n] for n in names if n in counters})


class Run:
    """A training run in a directory: start or resume it, then `train`."""

    def __init__(
        self,
        folder: Path,
        cfg: TrainConfig,
        data: Data,
        state: TrainState,
        rng: np.random.Generator,
        counters: Counters | None = None,
    ):
        """counters: those of the checkpoint resumed from; None for a new run."""
        self.folder, self.cfg, self.data, self.state, self.rng = folder, cfg, data, state, rng
        self.count = counters or Counters()
        self.per_epoch = step.updates_per_epoch(data.train.shape[1], cfg.seq_length)
        self.last_checkpoint = -1 if counters is None else state.update
        self.rate = math.nan  # updates per second of the last chunk
        self.backend = backend(cfg, rng)
        self.reset_id = END_ID if cfg.documents else -1
        self.lock = RunLock(folder)  # taken by start and resume
        self.run_id: str | None = None
        self.threads = 0  # the threads train() runs with
        self.clock = Stopwatch()  # the CLI may set its start to that of the process
        self.carried = state.h[0].astype(np.float64)  # stream 0 after its last update

    @classmethod
    def start(cls, folder: Path, cfg: TrainConfig, force: bool = False) -> Run:
        """A new run: refuses a folder holding a run unless force. The run
        holds the folder's lock until `train` returns (or `close`)."""
        cfg = cfg.resolved().validate()
        data = prepare_data(cfg)
        budget.check_train(cfg, data.vocab.size)
        lock = rundir.prepare_new(folder, force)
        try:
            rng = np.random.default_rng(cfg.seed)
            state = new_state(cfg, data.vocab.size, rng)
            run = cls(folder, cfg, data, state, rng)
            run.lock, run.run_id = lock, identity.new_id()
            run.write_config()
            record.write_record(folder, cfg, data, state.params)
        except BaseException:
            lock.release()
            raise
        return run

    def write_config(self, created: str | None = None, resumed: list | None = None) -> None:
        """config.json: from this moment the folder is a run that --resume continues;
        rewritten on every resume, so it describes the run as it now stands."""
        info = {"config": self.cfg.to_dict(), "vocab": list(self.data.vocab.chars)}
        if resumed:
            info["resumed"] = resumed
        if self.data.documents:
            info["documents"] = self.data.documents
        rundir.write_config(self.folder, info, self.data.info, self.run_id, created)

    @classmethod
    def resume(cls, folder: Path, changes: dict | None = None, corpus: str | None = None) -> Run:
        """Continue from checkpoint.npz (or, for a run stopped before its first
        checkpoint, from the start that config.json describes); changes may
        extend updates/epochs or change intervals that do not alter the results;
        corpus: the corpus's new place when it moved (same bytes required)."""
        if not rundir.has_run(folder):
            raise CheckpointError(
                f"{folder} has no run to resume (no {rundir.CONFIG} or {rundir.CHECKPOINT}); "
                "start a new run with --out instead"
            )
        lock = rundir.lock_folder(folder)
        try:
            run = cls._reopen(folder, changes or {}, corpus)
        except BaseException:
            lock.release()
            raise
        run.lock = lock
        return run

    @classmethod
    def _reopen(cls, folder: Path, changes: dict, corpus: str | None) -> Run:
        saved = reopen.read_run(folder)
        cfg = apply_changes(saved.cfg, changes)
        moved = corpus is not None and corpus != cfg.corpus
        if moved:
            cfg = dataclasses.replace(cfg, corpus=corpus)
        data = reopen.corpus_data(cfg, saved.fingerprint, saved.vocab, moved)
        budget.check_train(cfg, saved.vocab.size)
        rng = np.random.default_rng(cfg.seed) if saved.rng is None else saved.rng
        state = new_state(cfg, saved.vocab.size, rng) if saved.state is None else saved.state
        reopen.tidy(folder, state.update, saved.counters, cfg.eval_every)
        counters = Counters.from_meta(saved.counters) if saved.counters else None
        run = cls(folder, cfg, data, state, rng, counters)
        run.run_id = saved.run_id
        if saved.counters and saved.counters.get("carried_h") is not None:
            run.carried = np.asarray(saved.counters["carried_h"], dtype=np.float64)
        old = saved.info or {}
        resumed = list(old.get("resumed", []))
        if saved.state is not None:
            resumed.append({"update": state.update, "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        run.write_config(old.get("created"), resumed)
        return run

    def close(self) -> None:
        """Give the run folder's lock back."""
        self.lock.release()

    # -- events ---------------------------------------------------------
    def next_input(self) -> int:
        data, p = self.data.train, self.state.pointer
        return int(data[0, p]) if p < data.shape[1] else int(data[0, 0])

    def synthesize(self, params, h, x, n: int) -> str:
        ids = self.backend.synthesize(params, h, x, n, self.rng)
        return self.data.vocab.decode(ids)

    def sample(self, params, h, x, n: int) -> tuple[str, dict]:
        """n characters from state h and input x, or in document mode whole
        documents from a fresh state holding n characters, and their record."""
        if self.reset_id < 0:
            return self.synthesize(params, h, x, n), {}
        limit = max(docgen.MAX_LENGTH, self.data.documents["lengths"]["max"])
        docs = docgen.generate(
            self.backend.synthesize, params, self.data.vocab, self.rng, budget=n, max_length=limit
        )
        return docgen.join(docs), docgen.record(docs)

    def events(self, emit: Callable[[Event], None]) -> None:
        """The evaluation, sample and log due at the current update count."""
        cfg, st = self.cfg, self.state
        u = st.update
        if u % cfg.eval_every == 0 and self.data.val.size:
            self.evaluate(emit)
        if u % cfg.sample_every == 0 and cfg.sample_length > 0:
            with self.clock.part("samples"):
                text, docs = self.sample(
                    st.params, self.carried, self.next_input(), cfg.sample_length
                )
                rundir.append_sample(self.folder, u, st.smooth, text, **docs)
                emit(Event("sample", u, st.epoch, st.smooth, text=text))
        self.count.events_done = True

    def eval_state(self) -> np.ndarray:
        """The state validation starts from: the carried one; in document mode
        zero, the state every document starts from in training."""
        return np.zeros_like(self.carried) if self.reset_id >= 0 else self.carried

    def evaluate(self, emit: Callable[[Event], None]) -> None:
        """Validation of the current parameters from the carried state: a metrics
        row, an 'eval' event, and best_val.npz at a new lowest figure."""
        st = self.state
        with self.clock.part("validation"):
            h0 = self.eval_state()
            nats, bpc = evaluation.score(
                self.backend.text_loss, st.params, self.data.val, h0, self.reset_id
            )
            if bpc < self.count.best_val_bpc:
                self.count.best_val_bpc, self.count.best_val_update = bpc, st.update
                model = bestval.Model(
                    st.params, self.carried, self.next_input(), st.update, st.smooth
                )
                bestval.save(self.folder / rundir.BEST_VAL, self.cfg, self.data.vocab, model, bpc)
        rundir.append_metrics(
            self.folder,
            [
                {
                    "update": st.update,
                    "epoch": st.epoch,
                    "val_nats": nats,
                    "val_bpc": bpc,
                    "elapsed_s": self.count.elapsed,
                }
            ],
        )
        emit(Event("eval", st.update, st.epoch, st.smooth, val_bpc=bpc))

    def save(self) -> None:
        st = self.state
        extra = {
            **dataclasses.asdict(self.count),
            "next_x": self.next_input(),
            "carried_h": self.carried.tolist(),
        }
        with self.clock.part("checkpoints"):
            run = identity.meta_of(self.run_id, self.data.corpus.fingerprint)
            snapshot.save_train(
                self.folder / rundir.CHECKPOINT, self.cfg, self.data.vocab, st, extra, self.rng, run
            )
            snapshot.save_best(self.folder / rundir.BEST, self.cfg, self.data.vocab, st, run)
        self.last_checkpoint = st.update

    # -- the loop -------------------------------------------------------
    def out_of_time(self) -> bool:
        """Whether the run has used its --max-time budget of training seconds."""
        return 0 < self.cfg.max_time <= self.count.elapsed

    def end(self) -> int:
        """The update count this run stops at: its update or epoch limit, or now
        when its time budget is spent."""
        return self.state.update if self.out_of_time() else stop_update(self.cfg, self.per_epoch)

    def chunk_size(self, end: int) -> int:
        """Updates until the next event, epoch end, stop, or progress report."""
        cfg, st = self.cfg, self.state
        u = st.update
        nxt = min(
            -(-(u + 1) // every) * every
            for every in (cfg.eval_every, cfg.sample_every, cfg.checkpoint_every, cfg.log_every)
        )
        left = step.updates_left_in_epoch(st.pointer, self.data.train.shape[1], cfg.seq_length)
        work = cfg.batch_size * cfg.hidden * cfg.layers
        cap = CHUNK if cfg.engine == "fast" else max(1, 2000 // work)
        if cfg.max_time:  # a short first chunk measures the rate; then stop near the budget
            left_s = cfg.max_time - self.count.elapsed
            if cfg.anneal:  # the learning rate steps down once per chunk
                left_s = min(left_s, cfg.anneal * cfg.max_time / ANNEAL_STEPS)
            cap = min(cap, 10 if math.isnan(self.rate) else max(1, int(left_s * self.rate) + 1))
        return min(cap, end - u, nxt - u, left)

    def log_chunk(self, losses: np.ndarray, smooth0: float, dt: float) -> None:
        st, u0 = self.state, self.state.update - len(losses)
        s, smooth = smooth0, []
        for i, loss in enumerate(losses.tolist()):
            s = step.smoothed(s, loss, u0 + i == 0)
            smooth.append(s)
        per_char = self.cfg.seq_length * evaluation.LN2
        columns = {
            "update": np.arange(u0 + 1, st.update + 1),
            "epoch": st.epoch,
            "loss": losses,
            "smooth_loss": smooth,
            "elapsed_s": round(self.count.elapsed, 3),
            "updates_per_s": round(len(losses) / dt, 1) if dt > 0 else None,
            "train_bpc": losses / per_char,
            "smooth_bpc": np.asarray(smooth) / per_char,
        }
        rundir.append_metric_columns(self.folder, columns, len(losses))

    def check_divergence(self, done: int, wanted: int) -> None:
        st = self.state
        kept = (
            f"the last good checkpoint (update {self.last_checkpoint}) is kept"
            if self.last_checkpoint > 0
            else "no checkpoint was written"
        )
        advice = "a resume would diverge again: start a new run (--force) with a smaller --lr"
        if done < wanted:
            raise DivergenceError(
                f"training diverged at update {st.update + 1}: the loss is not "
                f"finite; {kept}, but {advice} or --clip"
            )
        if st.smooth > 2 * self.count.first_loss:
            raise DivergenceError(
                f"training diverged at update {st.update}: smoothed loss {st.smooth:.1f} is more "
                f"than twice its start ({self.count.first_loss:.1f}); {kept}, but {advice}"
            )

    def train(self, emit: Callable[[Event], None], should_stop: Callable[[], int] = lambda: 0):
        """Run to the configured end. should_stop() returns a signal number to
        stop at the next chunk boundary (after saving a checkpoint). The run
        folder's lock is given back when this returns or raises."""
        try:
            self._train(emit, should_stop)
        finally:
            self.close()

    def _train(self, emit: Callable[[Event], None], should_stop: Callable[[], int]):
        cfg, st = self.cfg, self.state
        T, L = cfg.seq_length, self.data.train.shape[1]
        end = self.end()
        self.threads = use_threads(cfg.engine, cfg.threads, cfg.batch_size)
        tick = time.perf_counter()
        while True:
            if step.updates_left_in_epoch(st.pointer, L, T) == 0:
                self.carried = st.h[0].astype(np.float64)
                st.start_epoch()  # also at the very end, so a resume continues identically
                if st.update < end:
                    emit(Event("epoch", st.update, st.epoch, st.smooth))
            if not self.count.events_done:
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
            optc = cfg.optim(self.count.elapsed)  # --anneal: the rate at this point of the budget
            with self.clock.part("updates"):
                losses = self.backend.train_chunk(
                    st, self.data.train, n, T, cfg.clip, optc, reset_id=self.reset_id
                )
            now = time.perf_counter()
            dt = now - t0
            self.count.elapsed += now - tick  # wall time: the updates and the events before them
            tick = now
            self.rate = n / dt if dt > 0 else math.nan
            if self.out_of_time():
                end = st.update
            if len(losses):
                self.carried = st.h[0].astype(np.float64)
                self.count.events_done = False
                if st.update == len(losses):
                    self.count.first_loss = float(losses[0])
                with self.clock.part("logging"):
                    self.log_chunk(losses, smooth0, dt)
            self.check_divergence(len(losses), n)
            last = float(losses[-1]) if len(losses) else math.nan
            with self.clock.part("logging"):
                emit(
                    Event(
                        "progress", st.update, st.epoch, st.smooth, last, rate=n / dt if dt else 0
                    )
                )
        self.finish(emit)

    def finish(self, emit: Callable[[Event], None]) -> None:
        """Final validation, checkpoints, the best model's text and the plot."""
        cfg, st = self.cfg, self.state
        if st.update % cfg.eval_every and self.data.val.size:
            self.evaluate(emit)
        if st.update != self.last_checkpoint:
            self.save()
        best = bestval.chosen(self.folder, self.cfg, st)
        bestval.write_outcome(
            self.folder,
            bestval.outcome(
                self.cfg, st, self.data.val, self.backend.text_loss, self.count, self.carried
            ),
        )
        record.write_sampling(self.folder, cfg, self.data.vocab, self.backend.synthesize, best)
        for n in (200, 1000):
            with self.clock.part("samples"):
                text, _ = self.sample(best.params, best.h, best.x, n)
                rundir.write_text(self.folder / f"best_{n}.txt", text)
                emit(Event("best", best.update, st.epoch, best.smooth, text=text))


class Interrupted(Exception):
    """Training stopped by a signal after saving a checkpoint."""

    def __init__(self, signum: int, update: int):
        super().__init__(f"stopped by signal {signum} at update {update}; checkpoint saved")
        self.signum, self.update = signum, update


# options that do not alter the results (threads: see engine/threads.py)
RESUMABLE_CHANGES = (
    "updates",
    "epochs",
    "max_time",
    "checkpoint_every",
    "log_every",
    "threads",
    "best_by",
)


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
    return dataclasses.replace(cfg, **allowed).validate()

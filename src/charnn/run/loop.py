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

Validation and checkpoints are written by the metrics writer's thread, in
the order they are handed over; while a core is free (`overlaps`) the loop
goes on meanwhile, from copies, and waits before it says a checkpoint is
saved, and at the end (see events.RunEvents.evaluate and save).

The carried state is stream 0's hidden state after the last update; an
epoch start resets the training state to zero but not the carried one, so
samples and validation always start from a state the model knows (see
run/evaluation.py).
"""

from __future__ import annotations

import dataclasses
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.documents import END_ID
from ..errors import CheckpointError
from ..nn import stack, step
from ..nn.step import TrainState
from . import background, bestval, budget, identity, record, reopen, rundir
from .backend import backend, use_threads
from .background import Deferred
from .config import TrainConfig
from .events import Event, RunEvents
from .lock import RunLock
from .metricslog import MetricsLog
from .reopen import apply_changes
from .schedule import RunSchedule
from .split import Data, prepare_data
from .timing import Stopwatch


def new_state(cfg: TrainConfig, K: int, rng: np.random.Generator) -> TrainState:
    """Initial parameters (drawn from rng in float64, then cast) and zero state."""
    params = stack.init_params(K, cfg.hidden, rng, cfg.sig, cfg.cell, cfg.layers)
    params = {k: v.astype(cfg.dtype) for k, v in params.items()}
    return TrainState.fresh(params, cfg.batch_size)


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


class Run(RunEvents, RunSchedule):
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
        self.created: str | None = None  # when the run began (config.json), if known
        self.threads = 0  # the threads train() runs with
        self.clock = Stopwatch()  # the CLI may set its start to that of the process
        self.carried = state.h[0].astype(np.float64)  # stream 0 after its last update
        self.metrics = MetricsLog(folder, cfg.seq_length)
        self.last_eval = (-1, math.nan)  # (update, bits/char) of this process's last validation
        self.final_best: tuple[int, float] | None = None  # see events._validate
        # validation and checkpoints run beside the updates (see events.evaluate)
        self.overlap = False
        self.reports: deque[Event] = deque()  # the 'eval' events of those, to emit here
        self.slots = threading.Semaphore(PENDING)  # see events.hand_over
        # work beside the updates (the start's gradient check, the CLI's
        # imports), run on a thread of its own once the first chunk has trained
        self.side = Deferred("run-side-work")

    @classmethod
    def start(cls, folder: Path, cfg: TrainConfig, force: bool = False) -> Run:
        """A new run: refuses a folder holding a run unless force. The run
        holds the folder's lock until `train` returns (or `close`)."""
        cfg = cfg.resolved().validate()
        corpus = Path(cfg.corpus or "")
        if corpus.parent.resolve() == Path(folder).resolve() and corpus.name in rundir.RUN_FILES:
            raise CheckpointError(  # --force would delete it, and the run rewrite it
                f"the corpus {corpus} is a file the run in {folder} writes; copy it "
                "elsewhere first, or choose another --out"
            )
        data = prepare_data(cfg)
        budget.check_train(cfg, data.vocab.size)
        lock = rundir.prepare_new(folder, force)
        try:
            rng = np.random.default_rng(cfg.seed)
            state = new_state(cfg, data.vocab.size, rng)
            run = cls(folder, cfg, data, state, rng)
            run.lock, run.run_id = lock, identity.new_id()
            run.write_config()
            record.write_record(
                folder, cfg, data, state.params, run.side.add, run.side.stopping.is_set
            )
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
        self.created = rundir.write_config(self.folder, info, self.data.info, self.run_id, created)

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
        # the best models a resume writes texts from (best.npz: see restore_best)
        identity.check_folder(folder, (rundir.BEST_VAL, rundir.BEST_VAL_GRID))
        cfg = apply_changes(reopen.as_recorded(saved), changes)
        moved = corpus is not None and corpus != cfg.corpus
        if moved:
            cfg = dataclasses.replace(cfg, corpus=corpus)
        data = reopen.corpus_data(cfg, saved.fingerprint, saved.vocab, moved)
        budget.check_train(cfg, saved.vocab.size)
        rng = np.random.default_rng(cfg.seed) if saved.rng is None else saved.rng
        state = new_state(cfg, saved.vocab.size, rng) if saved.state is None else saved.state
        counters = Counters.from_meta(saved.counters) if saved.counters else None
        run = cls(folder, cfg, data, state, rng, counters)
        run.run_id = saved.run_id
        if saved.counters and saved.counters.get("carried_h") is not None:
            run.carried = np.asarray(saved.counters["carried_h"], dtype=np.float64)
        complete = run.complete()
        if not complete:  # no longer finished (if it was), before any file changes, so
            # that a process stopped before the new end leaves a run a resume finishes;
            # a report of the old end would show numbers the run no longer has,
            # timing.json (when it trains further) the split of a process no longer the last
            further = (rundir.TIMING,) if state.update < run.end() else ()
            for name in (bestval.OUTCOME, *further, *rundir.REPORTS):
                (folder / name).unlink(missing_ok=True)
        reopen.tidy(folder, state.update, saved.counters, cfg.eval_every, complete)
        initial = state.params if saved.state is None else None
        record.complete_record(folder, cfg, data, initial, run.side.add, run.side.stopping.is_set)
        if complete:  # nothing to do: the files are left as they are (repaired if damaged)
            if saved.info is None:  # config.json lost: written again from the checkpoint
                run.write_config(saved.created or "")
            return run
        old = saved.info or {}
        created = old.get("created") or saved.created or ("" if saved.info is None else None)
        run.created = created or None  # best.npz, restored now, records it as the run's files do
        if saved.state is not None:
            run.restore_best()
        resumed = list(old.get("resumed", []))
        if saved.state is not None:
            resumed.append({"update": state.update, "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        run.write_config(created, resumed)
        return run

    def complete(self) -> bool:
        """Whether the run has trained to its end and written that end
        (outcome.json, written last by `finish`) at its current update, with
        its --best-by: a process stopped after its last checkpoint but before
        that is not complete, nor is one resumed to choose its best model
        otherwise, nor one that has lost a file of its end (best.npz, the
        best texts, sampling.json), and a resume writes that end."""
        out = bestval.read_outcome(self.folder)
        end = out.get("updates") == self.state.update and out.get("best_by") == self.cfg.best_by
        whole = not rundir.missing_ends(self.folder)
        return self.state.update >= self.end() and end and whole

    def close(self) -> None:
        """Finish the work beside the updates and the metrics log, then give
        the run folder's lock back."""
        try:
            try:
                self.side.finish()
            finally:
                self.metrics.close()
        finally:
            self.lock.release()

    # -- events ---------------------------------------------------------
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
        self.overlap = overlaps(cfg, self.threads, st)
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
            self.stop_if_asked(emit, should_stop)
            n, smooth0, t0 = self.chunk_size(end), st.smooth, time.perf_counter()
            optc = cfg.optim(self.count.elapsed)  # --anneal: the rate at this point of the budget
            with self.clock.part("updates"):
                losses = self.backend.train_chunk(
                    st, self.data.train, n, T, cfg.clip, optc, reset_id=self.reset_id
                )
            if not self.side.started:  # the kernels are loaded: the GIL is free while they run
                self.side.start()
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
            self.check_divergence(len(losses), n, losses, smooth0)
            last = float(losses[-1]) if len(losses) else math.nan
            with self.clock.part("logging"):
                self.settle(emit, wait=False)
                emit(
                    Event(
                        "progress", st.update, st.epoch, st.smooth, last, rate=n / dt if dt else 0
                    )
                )
        self.finish(emit, should_stop)

    def stop_if_asked(self, emit: Callable[[Event], None], should_stop: Callable[[], int]):
        """Stop (`stop`) when should_stop() names a signal."""
        signum = should_stop()
        if signum:
            self.stop(emit, signum)

    def stop(self, emit: Callable[[Event], None], signum: int):
        """Raise Interrupted once the state as it stands is in a checkpoint on
        disk (saved now unless it is)."""
        if self.state.update != self.last_checkpoint:
            self.save()
        with self.clock.part("waiting"):
            self.settle(emit)  # the checkpoint is on disk before it is said to be
        self.side.stopping.set()  # the record's gradient check: left to the resume
        raise Interrupted(signum, self.state.update)

    def finish(
        self, emit: Callable[[Event], None], should_stop: Callable[[], int] = lambda: 0
    ) -> None:
        """Final validation ('logged': the metrics are complete), checkpoints,
        the best model's texts, and last outcome.json, which marks the run
        finished (see `complete`). A signal stops it between those steps or
        during a validation pass, as at a chunk boundary: what is left is then
        written by `--resume`."""
        try:
            self._finish(emit, should_stop)
        except background.StopAsked as e:
            self.stop(emit, e.signum)

    def _finish(self, emit: Callable[[Event], None], should_stop: Callable[[], int]) -> None:
        cfg, st = self.cfg, self.state
        self.overlap = False  # what follows reads what the writer's thread writes
        # the passes on this thread; those handed to the writer before use the backend's
        text_loss = background.polled(self.backend.text_loss, should_stop)
        best_bpc = None
        if self.data.val.size:  # while the writer's thread finishes what it was handed
            with self.clock.part("validation"):
                best_bpc = bestval.smooth_bpc(
                    st, self.data.val, text_loss, self.eval_state(), self.reset_id
                )
        with self.clock.part("waiting"):
            self.settle(emit)
        self.stop_if_asked(emit, should_stop)
        if st.update % cfg.eval_every and self.data.val.size:
            self.evaluate(emit, final=True, here=text_loss)
        if best_bpc is not None:
            self.weigh_best_smooth(best_bpc)
        emit(Event("logged", st.update, st.epoch, st.smooth))
        if st.update != self.last_checkpoint:
            self.save()
        best = bestval.chosen(self.folder, self.cfg, st)
        self.stop_if_asked(emit, should_stop)
        with self.clock.part("samples"):
            record.write_sampling(
                self.folder, cfg, self.data.vocab, self.backend.synthesize, best, self.reset_id >= 0
            )
        for n in (200, 1000):
            self.stop_if_asked(emit, should_stop)
            with self.clock.part("samples"):
                text, _ = self.sample(best.params, best.h, best.x, n)
                rundir.write_text(self.folder / f"best_{n}.txt", text)
                emit(Event("best", best.update, st.epoch, best.smooth, text=text))
        self.stop_if_asked(emit, should_stop)
        self.drop_reports()  # a report written while it trained shows it unfinished
        self.write_outcome(best_bpc, text_loss)
        self.drop_reports()  # one written meanwhile (it reads outcome.json again: see report)

    def drop_reports(self) -> None:
        for name in rundir.REPORTS:
            (self.folder / name).unlink(missing_ok=True)


# the most bytes of training state (parameters, moments, best model) copied
# so that a checkpoint can be written beside the updates
OVERLAP_BYTES = 64 << 20
# the most validations and checkpoints handed to the writer's thread at once
PENDING = 2


def overlaps(cfg: TrainConfig, threads: int, st: TrainState) -> bool:
    """Whether validation and checkpoints run beside the updates: with the
    compiled engine (its kernels leave the GIL free) when its threads leave
    a core idle, the jobs do not run inline, and the state is small enough
    to copy."""
    arrays = [*st.params.values(), *st.opt["m"].values(), *st.opt["v"].values()]
    size = 2 * sum(a.nbytes for a in arrays)  # with the best model's parameters
    return (
        cfg.engine == "fast"
        and threads < cores()
        and not background.INLINE
        and size <= OVERLAP_BYTES
    )


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class Interrupted(Exception):
    """Training stopped by a signal after saving a checkpoint."""

    def __init__(self, signum: int, update: int):
        super().__init__(f"stopped by signal {signum} at update {update:,}; checkpoint saved")
        self.signum, self.update = signum, update

"""What a training run does between chunks of updates: samples, validation
(with best_val.npz at a new lowest figure) and checkpoints, and the Event
each reports. RunEvents is a part of run.loop's Run, which holds the state
these methods read (folder, cfg, data, state, rng, backend, clock, count).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import CharnnError
from ..fsio import fsync_file
from . import bestval, docgen, evaluation, identity, rundir, snapshot


@dataclass
class Event:
    """Something the loop reports: kind is 'sample', 'eval', 'progress',
    'checkpoint', 'epoch', 'logged' (the metrics of the run are complete: what
    follows is its end) or 'best'; the other fields as they apply."""

    kind: str
    update: int
    epoch: int = 0
    smooth: float = math.nan
    loss: float = math.nan
    text: str = ""
    val_bpc: float = math.nan
    rate: float = math.nan
    train_bpc: float = math.nan  # the smoothed loss in bits per character


class RunEvents:
    """The events of a Run (see run.loop)."""

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

    def evaluate(
        self, emit: Callable[[Event], None], final: bool = False, here: Callable | None = None
    ) -> None:
        """Validation of the current parameters from the carried state: a metrics
        row, an 'eval' event, and best_val.npz at a new lowest figure (final:
        the end's validation off the eval_every grid, see _validate).

        It runs on the metrics writer's thread, on a copy of the model, after
        the rows handed over before it and before the checkpoint that records
        it; beside the next updates when they leave a core free (self.overlap),
        else waited for here. Either way the files and figures are the same.
        here: a text_loss to run it with on this thread, once the writer has
        done all it was handed (a stop it raises is raised here)."""

        def job():
            st = self.state
            params = {k: v.copy() for k, v in st.params.items()}
            model = bestval.Model(
                params, self.carried.copy(), self.next_input(), st.update, st.smooth
            )
            h0, epoch, elapsed = self.eval_state().copy(), st.epoch, self.count.elapsed
            text_loss = here or self.backend.text_loss
            return lambda: self._validate(model, h0, epoch, elapsed, final, text_loss)

        if self.overlap:
            self.hand_over("validation", job)
            return
        with self.clock.part("validation"):
            if here is not None:
                self.settle(emit)
                job()()
            else:
                self.metrics.worker.submit(job())
            self.settle(emit)

    def _validate(
        self, model, h0: np.ndarray, epoch: int, elapsed: float, final: bool, text_loss
    ) -> None:
        """evaluate's work, on the metrics writer's thread.

        The validation of a final update off the eval_every grid is no part of
        the run's validation history (the same run trained further would not
        have made it; a resume drops its row): the best so far, kept in the
        counters and checkpoints, stays the grid's. When it beats that, its
        model holds best_val.npz for this end, and the grid's waits aside
        (BEST_VAL_GRID) for a resume to put back."""
        nats, bpc = evaluation.score(text_loss, model.params, self.data.val, h0, self.reset_id)
        self.last_eval = (model.update, bpc)
        if bpc < self.count.best_val_bpc:
            if final:
                self._hold_best_val(model, bpc)
            else:
                self.count.best_val_bpc, self.count.best_val_update = bpc, model.update
                path = self.folder / rundir.BEST_VAL
                bestval.save(path, self.cfg, self.data.vocab, model, bpc, self.run_meta())
        row = {
            "update": model.update,
            "epoch": epoch,
            "val_nats": nats,
            "val_bpc": bpc,
            "elapsed_s": elapsed,
        }
        self.metrics.write_rows([row])
        self.reports.append(Event("eval", model.update, epoch, model.smooth, val_bpc=bpc))

    def weigh_best_smooth(self, bpc: float) -> None:
        """At the end: the best model by smoothed loss, validated there (bpc),
        is a candidate for the best by validation too, off the grid like the
        final model (see _validate): when it beats the others, it holds
        best_val.npz for this end, so that "best by validation" is never
        a model worse on validation than one the run scored."""
        st = self.state
        best = self.final_best[1] if self.final_best else self.count.best_val_bpc
        if bpc < best:
            m = bestval.Model(st.best_params, st.best_h, st.best_x, st.best_update, st.best_smooth)
            self._hold_best_val(m, bpc)

    def _hold_best_val(self, model, bpc: float) -> None:
        """model, scored at the end off the grid (bpc), holds best_val.npz for
        this end; the grid's best waits aside in BEST_VAL_GRID (if not there
        already) for a resume that trains further to put back."""
        path, grid = self.folder / rundir.BEST_VAL, self.folder / rundir.BEST_VAL_GRID
        if path.exists() and not grid.exists():
            os.replace(path, grid)
        bestval.save(path, self.cfg, self.data.vocab, model, bpc, self.run_meta())
        self.final_best = (model.update, bpc)

    def hand_over(self, name: str, make: Callable[[], Callable[[], None]]) -> None:
        """Run the job make() returns on the metrics writer's thread while the
        updates go on. make (timed as part `name`) copies what the job reads;
        it is called once fewer than PENDING jobs handed over are pending, so
        that at most that many copies are alive and the files lag the loop by
        at most that much (the loop's wait is its 'waiting' part)."""
        worker = self.metrics.worker
        with self.clock.part("waiting"):
            while not self.slots.acquire(timeout=0.05):
                if worker.failed:  # its jobs are skipped from now on: no slot comes back
                    worker.check()
                    break
        with self.clock.part(name):
            job = make()

        def run():
            t0 = time.perf_counter()
            try:
                job()
            finally:
                self.slots.release()
                self.clock.add_job(name, t0, time.perf_counter())

        worker.submit(run)

    def settle(self, emit: Callable[[Event], None], wait: bool = True) -> None:
        """Report the validations done on the writer's thread; wait: first
        wait until everything handed to it is done (raising its error)."""
        if wait:
            self.metrics.flush()
        while self.reports:
            emit(self.reports.popleft())

    def write_outcome(self, best_bpc: float | None = None, text_loss=None) -> None:
        """outcome.json: the validation of both best models and the final one
        (best_bpc: the best model by smoothed loss's, when already scored),
        with text_loss (the backend's by default)."""
        st = self.state
        # the final model's validation, when it ran at this update (scored as the
        # validation rows are: from eval_state, resetting at the end symbol)
        same = self.last_eval[0] == st.update
        with self.clock.part("validation"):
            out = bestval.outcome(
                self.cfg,
                st,
                self.data.val,
                text_loss or self.backend.text_loss,
                self.count,
                self.eval_state(),
                reset_id=self.reset_id,
                final_bpc=self.last_eval[1] if same else None,
                best_bpc=best_bpc,
                best_val=self.final_best,
            )
        bestval.write_outcome(self.folder, out)

    def save(self) -> None:
        """checkpoint.npz and best.npz as the state stands now: written on the
        metrics writer's thread after the rows and validation handed over
        before (from a copy of the state when the updates go on meanwhile)."""
        st = self.state
        extra = {
            **dataclasses.asdict(self.count),
            "next_x": self.next_input(),
            "carried_h": self.carried.tolist(),
        }
        run = self.run_meta()
        if self.overlap:

            def job():
                frozen, rng = copy.deepcopy(st), copy.deepcopy(self.rng)
                return lambda: self._write_checkpoint(frozen, rng, extra, run)

            self.hand_over("checkpoints", job)
        else:
            with self.clock.part("checkpoints"):
                self.metrics.flush()  # the log holds every update the checkpoint holds
                self._write_checkpoint(st, self.rng, extra, run)
        self.last_checkpoint = st.update

    def run_meta(self) -> dict:
        """The run's identity, as every model file of the run carries it."""
        return identity.meta_of(self.run_id, self.data.corpus.fingerprint, self.created)

    def restore_best(self) -> None:
        """best.npz as the resumed checkpoint holds it: a process killed after
        writing checkpoint.npz and before best.npz leaves it missing or older."""
        path, st = self.folder / rundir.BEST, self.state
        try:
            if snapshot.load_best(path)[0].get("best_update") == st.best_update:
                return
        except (OSError, CharnnError):
            pass
        snapshot.save_best(path, self.cfg, self.data.vocab, st, self.run_meta())

    def _write_checkpoint(self, st, rng, extra: dict, run: dict) -> None:
        """save's writing, with the best validation as it stands once the
        validations handed over before it are done."""
        extra["best_val_bpc"] = self.count.best_val_bpc
        extra["best_val_update"] = self.count.best_val_update
        for log in (rundir.METRICS, rundir.SAMPLES):  # on disk before the checkpoint that
            fsync_file(self.folder / log)  # holds them: a power cut cannot lose their rows
        snapshot.save_train(
            self.folder / rundir.CHECKPOINT, self.cfg, self.data.vocab, st, extra, rng, run
        )
        snapshot.save_best(self.folder / rundir.BEST, self.cfg, self.data.vocab, st, run)

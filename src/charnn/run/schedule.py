"""How a training run schedules its updates: the stop, the size of each
chunk (up to the next event, epoch end, stop or time budget), the metrics
rows of a chunk and the divergence checks after it. RunSchedule is a part
of run.loop's Run, which holds the state these methods read.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import CharnnError, DivergenceError
from ..nn import step
from . import rundir
from .config import NO_LIMIT, TrainConfig

CHUNK = 500
ANNEAL_STEPS = 50  # chunks over the --anneal part of the budget, each at one rate


def stop_update(cfg: TrainConfig, per_epoch: int) -> int:
    """The update count at which training ends (the first limit reached), leaving
    --max-time aside; with no update or epoch limit, an effectively endless count."""
    limits = [u for u in (cfg.updates, math.ceil(cfg.epochs * per_epoch)) if u > 0]
    return min(limits) if limits else NO_LIMIT


def first_above(losses, smooth0: float, start: int, limit: float) -> int | None:
    """The first update (1-based count) of a chunk whose smoothed loss is above
    limit, replaying the seed's smoothing over its losses (as the metrics log
    does); start: the updates done before the chunk, smooth0 the smoothed loss then."""
    series = step.smoothed_series(smooth0, [float(x) for x in losses], start == 0)
    return next((start + i + 1 for i, s in enumerate(series) if s > limit), None)


class RunSchedule:
    """The chunk scheduling and divergence checks of a Run (see run.loop)."""

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
        """Hand the rows of the chunk just trained to the metrics writer."""
        st = self.state
        rate = round(len(losses) / dt, 1) if dt > 0 else None
        u0, elapsed = st.update - len(losses), round(self.count.elapsed, 3)
        self.metrics.chunk(u0, st.epoch, losses, smooth0, elapsed, rate)

    def check_divergence(self, done: int, wanted: int, losses=(), smooth0: float = 0.0) -> None:
        """Raise DivergenceError (see `diverged`) when the chunk just trained
        stopped at a non-finite loss, or left the smoothed loss above twice its
        start. losses (done,), smooth0: the chunk's losses and the smoothed loss
        before it, to name the update where the smoothed loss first passed that."""
        st = self.state
        kept = (
            f"the last good checkpoint (update {self.last_checkpoint}) is kept, but"
            if self.last_checkpoint > 0
            else "no checkpoint was written, and"
        )
        advice = "a resume would diverge again: start a new run (--force) with a smaller --lr"
        if done < wanted:
            self.diverged(
                st.update + 1,
                f"training diverged at update {st.update + 1}: the loss is not "
                f"finite; {kept} {advice} or --clip",
            )
        limit = 2 * self.count.first_loss
        if st.smooth > limit:
            first = first_above(losses, smooth0, st.update - len(losses), limit) or st.update
            seen = f" (seen at update {st.update})" if first < st.update else ""
            when = f"update {first}{seen}"
            self.diverged(
                first,
                f"training diverged at {when}: the smoothed loss passed twice its start "
                f"({limit / 2:.1f}) there, and is {st.smooth:.1f}; {kept} {advice}",
            )

    def diverged(self, update: int, message: str) -> None:
        """Raise DivergenceError, after leaving diverged.json in the run folder
        (where the report and compare read it; a resume removes it)."""
        try:
            rundir.write_json(self.folder / rundir.DIVERGED, {"update": update, "message": message})
        except (CharnnError, OSError):
            pass  # the divergence is the error to report
        raise DivergenceError(message)

"""metrics.csv as a training process writes it.

The rows of a chunk of updates (smoothed loss, bits per character) are
computed, formatted and appended on a Worker's thread while the next chunk
trains; `flush` waits until the file holds every row handed over (before a
checkpoint is written, and at the end). The columns this process wrote are
kept as float64, so that when it wrote the whole file (a new run) the final
plot reads them instead of parsing the file back: `columns` gives what
`read_metric_columns` would read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..nn.step import smoothed_series
from . import rundir
from .background import Worker
from .evaluation import LN2

KEEP_ROWS = 1 << 20  # rows kept in memory at most (10 float64 each); a longer log is read back


class MetricsLog:
    """The metrics.csv of the run in `folder` (seq_length T for bits/char)."""

    def __init__(self, folder: Path, seq_length: int):
        self.folder, self.T = folder, seq_length
        self.worker = Worker("metrics-writer")
        self.kept: list[tuple[dict, int]] | None = None  # None: not the whole file
        self.first = True  # no row written yet by this process
        self.count = 0

    def chunk(self, u0: int, epoch: int, losses: np.ndarray, smooth0: float, elapsed, rate):
        """The rows of updates u0 + 1 ... u0 + n, from their losses (n,), the
        smoothed loss before them, the wall seconds and rate of the chunk."""
        self.worker.submit(lambda: self._chunk(u0, epoch, losses, smooth0, elapsed, rate))

    def _chunk(self, u0, epoch, losses, smooth0, elapsed, rate) -> None:
        smooth = np.array(smoothed_series(smooth0, losses.tolist(), u0 == 0))
        per_char = self.T * LN2
        columns = {
            "update": np.arange(u0 + 1, u0 + len(losses) + 1),
            "epoch": epoch,
            "loss": losses,
            "smooth_loss": smooth,
            "elapsed_s": elapsed,
            "updates_per_s": rate,
            "train_bpc": losses / per_char,
            "smooth_bpc": smooth / per_char,
        }
        self._begin()
        rundir.append_metric_columns(self.folder, columns, len(losses))
        self._keep(columns, len(losses))

    def write_rows(self, rows: list[dict]) -> None:
        """Rows given whole (dicts keyed by METRIC_FIELDS), written now: on the
        writer's thread (by a job submitted to it, after the rows before), or
        with the writer idle."""
        self._begin()
        rundir.append_metrics(self.folder, rows)
        for row in rows:
            self._keep(row, 1)

    def _begin(self) -> None:
        if self.first:  # the columns are the whole file only if this process started it
            path = self.folder / rundir.METRICS
            self.kept = [] if not path.exists() or path.stat().st_size == 0 else None
            self.first = False

    def _keep(self, columns: dict, n: int) -> None:
        if self.kept is None:
            return
        self.count += n
        if self.count > KEEP_ROWS:
            self.kept = None
        else:
            self.kept.append((columns, n))

    def flush(self) -> None:
        """Wait until metrics.csv holds every row handed over; raise a write's error."""
        self.worker.wait()

    def close(self) -> None:
        """flush, and end the writer's thread."""
        self.worker.close()

    def columns(self) -> dict[str, np.ndarray] | None:
        """The file's columns as read_metric_columns reads them, when this
        process wrote all of it (and no more than KEEP_ROWS rows); else None."""
        self.flush()
        if self.kept is None:
            return None
        return {k: _column([(c.get(k), n) for c, n in self.kept]) for k in rundir.METRIC_FIELDS}


def _column(parts: list[tuple[object, int]]) -> np.ndarray:
    """One float64 column from (values or one value, rows) parts; None is NaN."""
    out = [
        np.full(n, np.nan if v is None else float(v))
        if not isinstance(v, (list, tuple, np.ndarray))
        else np.asarray(v, dtype=np.float64)
        for v, n in parts
    ]
    return np.concatenate(out) if out else np.empty(0)

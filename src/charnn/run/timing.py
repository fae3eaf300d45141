"""Where the wall time of a training process goes: a stopwatch with named
parts (updates, validation, samples, checkpoints, logging, plot, and
waiting: the loop waiting for validation and checkpoints handed to the
metrics writer's thread), the work done beside the updates on that thread,
and the split it reports at the end of a run (kept as timing.json in the
run folder).
"""

from __future__ import annotations

import time
from contextlib import contextmanager

PARTS = ("updates", "validation", "samples", "checkpoints", "logging", "plot", "waiting")


class Stopwatch:
    """Seconds spent in each named part, from a common start (perf_counter)."""

    def __init__(self, start: float | None = None):
        self.start = time.perf_counter() if start is None else start
        self.parts = dict.fromkeys(PARTS, 0.0)
        self.jobs: dict[str, list] = {}  # (start, end) of work on another thread, by name
        self.waits: list[tuple[float, float]] = []  # the "waiting" part's spans

    def add_job(self, name: str, t0: float, t1: float) -> None:
        """Work `name` ran on another thread from t0 to t1 (perf_counter)."""
        self.jobs.setdefault(name, []).append((t0, t1))

    @contextmanager
    def part(self, name: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            t1 = time.perf_counter()
            self.parts[name] = self.parts.get(name, 0.0) + t1 - t0
            if name == "waiting":
                self.waits.append((t0, t1))

    def beside(self) -> dict[str, float]:
        """Seconds of each kind of job that ran while the loop went on: the
        jobs' spans less the time the loop spent waiting for them."""
        return {k: uncovered(spans, self.waits) for k, spans in self.jobs.items()}

    def split(self, updates: int = 0) -> dict:
        """{"wall_s", "parts": {name: s}, "other_s", "updates", "updates_fraction"}:
        other is the rest of the wall time (start-up, loading, compiling)."""
        wall = time.perf_counter() - self.start
        parts = {k: round(v, 4) for k, v in self.parts.items()}
        return {
            "wall_s": round(wall, 4),
            "parts": parts,
            "other_s": round(max(wall - sum(self.parts.values()), 0.0), 4),
            "updates": updates,
            "updates_fraction": round(self.parts["updates"] / wall, 4) if wall > 0 else None,
            "beside_s": {k: round(v, 4) for k, v in self.beside().items()},
        }


def uncovered(spans: list, covers: list) -> float:
    """Total length of the (start, end) spans outside every cover span
    (the spans do not overlap each other, nor do the covers)."""
    covers = sorted(covers)
    total, j = 0.0, 0
    for a, b in sorted(spans):
        while j < len(covers) and covers[j][1] <= a:
            j += 1
        length, k = b - a, j
        while k < len(covers) and covers[k][0] < b:
            c, d = covers[k]
            length -= max(0.0, min(b, d) - max(a, c))
            k += 1
        total += max(length, 0.0)
    return total


def format_split(split: dict) -> str:
    """One line: wall time, then each part in seconds and percent of it."""
    wall = split["wall_s"] or 1e-12
    items = [(k, v) for k, v in split["parts"].items() if k != "waiting" or v > 0]
    items.append(("other", split["other_s"]))
    line = f"time {split['wall_s']:.2f} s: " + ", ".join(
        f"{name} {s:.2f} s ({100 * s / wall:.0f}%)" for name, s in items
    )
    beside = split.get("beside_s") or {}
    if beside:
        line += "; beside the updates, on another core: " + ", ".join(
            f"{name} {s:.2f} s" for name, s in beside.items()
        )
    return line


def process_start() -> float:
    """When this process started, on the perf_counter clock (Linux: from
    /proc, so interpreter start-up and imports count; elsewhere: now)."""
    now = time.perf_counter()
    try:
        import os

        fields = open("/proc/self/stat").read().rsplit(")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # seconds after boot
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - started
        return now - age if 0 <= age < 3600 else now
    except (OSError, ValueError, IndexError, AttributeError):
        return now

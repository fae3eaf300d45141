"""Where the wall time of a training process goes: a stopwatch with named
parts (updates, validation, samples, checkpoints, logging, plot), and the
split it reports at the end of a run (kept as timing.json in the run folder).
"""

from __future__ import annotations

import time
from contextlib import contextmanager

PARTS = ("updates", "validation", "samples", "checkpoints", "logging", "plot")


class Stopwatch:
    """Seconds spent in each named part, from a common start (perf_counter)."""

    def __init__(self, start: float | None = None):
        self.start = time.perf_counter() if start is None else start
        self.parts = dict.fromkeys(PARTS, 0.0)
        self.beside: dict[str, float] = {}  # seconds of work run beside the updates

    def add_beside(self, name: str, seconds: float) -> None:
        """Count seconds of work `name` done on another thread while the updates ran."""
        self.beside[name] = self.beside.get(name, 0.0) + seconds

    @contextmanager
    def part(self, name: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.parts[name] = self.parts.get(name, 0.0) + time.perf_counter() - t0

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
            "beside_s": {k: round(v, 4) for k, v in self.beside.items()},
        }


def format_split(split: dict) -> str:
    """One line: wall time, then each part in seconds and percent of it."""
    wall = split["wall_s"] or 1e-12
    items = [*split["parts"].items(), ("other", split["other_s"])]
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

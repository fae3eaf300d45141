"""Keeping numba's on-disk cache of the gated-cell kernels honest.

numba checks only the timestamp of the file that defines a cached kernel;
the gated kernels call helpers in other files (vmath, lstm, gru, stack,
rnn), so an edit there would leave a stale kernel in the cache. This
module records a fingerprint of all those files beside the cache and
drops the cached gated kernels when it changes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

_HERE = Path(__file__).resolve().parent
SOURCES = ("rnn.py", "vmath.py", "lstm.py", "gru.py", "stack.py", "stack_run.py")
_STAMP = "gated-cells.fingerprint"


def fingerprint() -> str:
    """sha256 over the sources of every compiled gated kernel."""
    h = hashlib.sha256()
    for name in SOURCES:
        h.update((_HERE / name).read_bytes())
    return h.hexdigest()


def _cache_dir() -> Path | None:
    from . import stack_run

    try:  # numba has no public query for where it caches; this is its locator's answer
        return Path(stack_run.train._cache._cache_path)
    except AttributeError:
        return None


def drop_stale() -> None:
    """Delete the cached gated kernels if any of their sources changed."""
    where = _cache_dir()
    if where is None or not where.is_dir():
        return
    stamp, now = where / _STAMP, fingerprint()
    try:
        if stamp.read_text() == now:
            return
    except OSError:
        pass
    for name in SOURCES[1:]:
        for f in where.glob(f"{Path(name).stem}.*.nb[ic]"):
            f.unlink(missing_ok=True)
    try:
        stamp.write_text(now)
    except OSError:
        pass

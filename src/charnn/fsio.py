"""Files that survive crashes: atomic writes with fsync, and the cache folder."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Where converted corpora and id caches live ($CHARNN_CACHE_DIR overrides)."""
    env = os.environ.get("CHARNN_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "charnn"


def fsync_file(path: Path) -> None:
    """Make what was written to path durable: a file's appended data, a
    folder's renames (no-op for a path that cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write) -> None:
    """Call write(file) on a temporary sibling of path, fsync, then rename it over path.

    On any error the temporary file is removed and path is untouched; an
    OSError names path, the file the caller asked for, not the temporary one.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError) and e.errno is not None:
            raise OSError(e.errno, e.strerror, str(path)) from None
        raise
    fsync_file(path.parent)  # the rename

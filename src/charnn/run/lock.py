"""One writer per run folder: an OS-level lock held while a run writes.

The lock is ``fcntl.flock`` on the file ``.lock`` inside the run folder,
taken without waiting. The kernel releases it when its holder exits, however
it exits (kill -9 included), so a lock left by a dead process is simply taken
over: the file stays, only the live lock matters. The holder writes its pid
into the file so that a refused writer can name it.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
from pathlib import Path

from ..errors import CheckpointError

LOCK = ".lock"


class RunLock:
    """The exclusive lock of one run folder; release() (or exit) gives it back."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.fd: int | None = None

    def acquire(self) -> RunLock:
        """Take the lock or raise CheckpointError naming the process holding it."""
        path = self.folder / LOCK
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | os.O_CLOEXEC
        try:
            fd = os.open(path, flags, 0o644)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise CheckpointError(
                    f"{path} is a symbolic link; remove it (charnn keeps its lock file there)"
                ) from None
            raise CheckpointError(
                f"cannot open the lock file {path}: {e.strerror or e}; "
                "it must be a plain file in a writable folder"
            ) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # a FIFO or a device: opened, not a lock
            os.close(fd)
            raise CheckpointError(
                f"{path} is not a plain file; remove it (charnn keeps its lock there)"
            )
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = _read_pid(fd)
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                who = f"pid {holder}" if holder else "a process that has not written its pid yet"
                raise CheckpointError(
                    f"{self.folder} is in use by another charnn process ({who}); "
                    "wait for it to finish or stop it, then try again"
                ) from None
            raise CheckpointError(
                f"cannot lock {self.folder} ({e.strerror or e}); "
                "put the run on a file system that supports file locks"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        """Give the lock back (the file stays; it is not a sign of a live run)."""
        if self.fd is not None:
            fd, self.fd = self.fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    @property
    def held(self) -> bool:
        return self.fd is not None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        raw = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(raw) if raw.isdigit() else None

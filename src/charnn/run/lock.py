"""One writer per run folder: an OS-level lock held while a run writes.

The lock is ``fcntl.flock`` on the run folder itself and on the file
``.lock`` inside it, taken without waiting. The kernel releases them when
their holder exits, however it exits (kill -9 included), so a lock left by a
dead process is simply taken over: the file stays, only the live lock
matters. The holder writes its pid into the file so that a refused writer can
name it; the folder's own lock holds even when that file is deleted under a
live run (where a file system cannot lock a folder, the file's lock alone).
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
        self.dir_fd: int | None = None

    def acquire(self) -> RunLock:
        """Take the lock or raise CheckpointError naming the process holding it."""
        self.dir_fd = self._lock_folder()
        try:
            return self._lock_file()
        except BaseException:
            self._unlock_folder()
            raise

    def _lock_folder(self) -> int | None:
        """The folder's own lock (its fd), or None where it cannot be taken
        for want of support; CheckpointError when another process holds it."""
        try:
            fd = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            return None  # the file's lock tells what is wrong
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                holder = _pid_in(self.folder / LOCK)
                who = f"pid {holder}" if holder else "a process whose lock file was removed"
                raise _in_use(self.folder, who) from None
            return None
        return fd

    def _unlock_folder(self) -> None:
        self.dir_fd = _unlock(self.dir_fd)

    def _lock_file(self) -> RunLock:
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
                raise _in_use(self.folder, who) from None
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
        self.fd = _unlock(self.fd)
        self._unlock_folder()

    @property
    def held(self) -> bool:
        return self.fd is not None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _in_use(folder: Path, who: str) -> CheckpointError:
    return CheckpointError(
        f"{folder} is in use by another charnn process ({who}); "
        "wait for it to finish or stop it, then try again"
    )


def _unlock(fd: int | None) -> None:
    """Give back the flock held on fd (if any) and close it; returns None."""
    if fd is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    return None


def _pid_in(path: Path) -> int | None:
    """The pid written in the lock file at path, if it can be read."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return _read_pid(fd)
    finally:
        os.close(fd)


def _read_pid(fd: int) -> int | None:
    try:
        raw = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(raw) if raw.isdigit() else None

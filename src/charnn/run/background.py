"""Work a training process does beside its updates, on a thread of its own.

The compiled kernels release the GIL while they train, so work handed to
a Worker (formatting metrics rows, validation and checkpoints from copies
of the state, the start's gradient check, importing matplotlib for the
final plot) runs on another core meanwhile instead of between chunks of
updates. Jobs run one at a time, in the order given; `wait` returns once
all of them are done and raises the error a job met, once (the jobs after
a failed one are skipped).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable

# Run every job at once on the thread that submits it: for a process that
# has one core to itself among others busy (a sweep's worker), where a
# thread beside the updates would only take time from another process.
INLINE = False


class Worker:
    """One daemon thread running the jobs submitted to it, in order."""

    def __init__(self, name: str):
        self.name = name
        self.jobs: queue.Queue = queue.Queue()
        self.thread: threading.Thread | None = None
        self.failed = False  # a job raised: the later ones are skipped
        self.errors: list[BaseException] = []  # raised (once) in the waiting thread
        self.cpu_s = 0.0  # CPU seconds the jobs took on the worker's thread

    def submit(self, job: Callable[[], object]) -> None:
        """Run job() on the worker's thread after the jobs before it."""
        self.check()
        if INLINE:
            self._run(job)
            return
        if self.thread is None:
            self.thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
            self.thread.start()
        self.jobs.put(job)

    def _loop(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:  # close
                self.jobs.task_done()
                return
            try:
                self._run(job)
            finally:
                self.jobs.task_done()

    def _run(self, job: Callable[[], object]) -> None:
        t0 = time.thread_time()
        try:
            if not self.failed:
                job()
        except BaseException as e:  # handed to the thread that waits
            self.failed = True
            self.errors.append(e)
        finally:
            self.cpu_s += time.thread_time() - t0

    def wait(self) -> None:
        """Block until every job submitted so far is done; raise a job's error."""
        if self.thread is not None:
            self.jobs.join()
        self.check()

    def close(self) -> None:
        """Wait for the jobs, then end the thread (a later submit starts another)."""
        try:
            self.wait()
        finally:
            if self.thread is not None:
                self.jobs.put(None)
                self.thread.join()
                self.thread = None

    def check(self) -> None:
        """Raise the error a job met, if any and not raised before."""
        if self.errors:
            raise self.errors.pop()


class Deferred:
    """Jobs held back until `start` hands them to a Worker (the first chunk
    of updates has run: from then on the kernels leave the GIL free), or
    until `finish` runs what is left here and waits for the rest."""

    def __init__(self, name: str):
        self.held: list[Callable[[], object]] = []
        self.worker = Worker(name)
        self.started = False
        self.stopping = threading.Event()  # set: long jobs that ask it end early

    def add(self, job: Callable[[], object]) -> None:
        if self.started:
            self.worker.submit(job)
        else:
            self.held.append(job)

    def start(self) -> None:
        """Hand the held jobs, and any added later, to the worker's thread."""
        self.started = True
        held, self.held = self.held, []
        for job in held:
            self.worker.submit(job)

    def finish(self) -> None:
        """Run the jobs never started, here, and wait for the started ones
        (the worker's thread ends; jobs added later start another)."""
        held, self.held = self.held, []
        self.worker.close()
        for job in held:
            job()


class StopAsked(Exception):
    """A signal arrived while a `polled` call ran."""

    def __init__(self, signum: int):
        super().__init__(f"signal {signum}")
        self.signum = signum


POLL_S = 0.05  # how often a `polled` call's caller asks whether to stop


def polled(fn: Callable, should_stop: Callable[[], int]) -> Callable:
    """fn, each call of it run on a daemon thread of its own while the caller
    asks should_stop() every POLL_S seconds: a signal number raises StopAsked
    at once (the call's thread is left to end alone and its result dropped).
    For long calls that release the GIL (a validation pass) that a signal
    must not have to wait for."""

    def call(*args, **kwargs):
        signum = should_stop()
        if signum:
            raise StopAsked(signum)
        box: dict = {}

        def target():
            try:
                box["value"] = fn(*args, **kwargs)
            except BaseException as e:  # raised in the caller
                box["error"] = e

        thread = threading.Thread(target=target, name="charnn-polled", daemon=True)
        thread.start()
        while thread.is_alive():
            thread.join(POLL_S)
            signum = should_stop()
            if signum:
                raise StopAsked(signum)
        if "error" in box:
            raise box["error"]
        return box["value"]

    return call

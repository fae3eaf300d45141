"""The local Dask cluster of a sweep: single-threaded worker processes on
this machine, with Dask's housekeeping set for a few long tasks.

Dask's defaults suit many short tasks watched on the dashboard: each worker
samples the stack of every thread for its profiler every 10 ms, and every
process checks its event loop every 20 ms and its memory every 100 ms.
Over a sweep of short runs that is several percent of the CPU the runs
need, taken from the same cores. The local cluster runs without the
profiler and checks less often (LOCAL_CONFIG); a cluster given by its
scheduler's address keeps its own configuration.

A worker process that has loaded the compiled kernels spends a good part
of a second at exit collecting numba's objects, and closing the cluster
waits for that; `QuickExit` freezes the collector when the worker closes,
so the process ends at once and the operating system frees its memory.
A terminal sends Ctrl-C to every process of the group, and the sweep,
which handles it, closes the workers; so the workers never take it. They
are born with SIGINT blocked: the cluster starts with it blocked in this
thread, and the threads Dask starts (its event loop, and from that each
nanny's thread that spawns a worker process, at start or at a restart)
and the processes they spawn inherit the mask. A Ctrl-C that comes while a
worker still imports Dask waits in it unseen, and its preload
(`workerinit`) ignores SIGINT, which drops it. (Ignored only from the
preload on, a worker interrupted earlier printed a KeyboardInterrupt
traceback from its imports, or asyncio's CancelledError.) Python's
resource tracker is started first: launching it unblocks SIGINT in the
thread that does, which would be the nanny's.

A Ctrl-C (or SIGTERM) given while the cluster starts is held until it is
up: a cluster interrupted half-built cannot be closed, and Dask's exit hook
then fails on it with a traceback. One that ends a starting worker (a
SIGTERM sent to the group) fails the start; it is then the stop, and goes
to its own handler. A second Ctrl-C, given while the cluster closes, is
held until it is closed: cut short, the closing was done again by Dask's
exit hook, which took about ten seconds.
"""

from __future__ import annotations

import gc
import importlib.util
import logging
import signal
import threading
from contextlib import contextmanager

import dask
import distributed

LOCAL_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.memory.monitor-interval": "1s",
}


def has_dashboard() -> bool:
    """Whether a local scheduler can serve the dashboard (it needs bokeh)."""
    return importlib.util.find_spec("bokeh") is not None


@contextmanager
def local_cluster(n: int):
    """A Client on a new cluster of n single-threaded worker processes."""
    with dask.config.set(LOCAL_CONFIG):
        cluster = client = None
        try:  # from before the hold: a signal can land as the hold ends, the cluster built
            failed = None
            with _ctrl_c_held() as held:
                try:
                    cluster = distributed.LocalCluster(
                        n_workers=n,
                        threads_per_worker=1,
                        processes=True,
                        host="127.0.0.1",
                        dashboard_address="127.0.0.1:0" if has_dashboard() else None,
                        silence_logs=logging.CRITICAL,  # a failed run is reported by its task
                        preload=["charnn.sweep.workerinit"],  # Ctrl-C is the sweep's to handle
                    )
                except Exception as e:  # judged below, once the held signals are in
                    failed = e
            if failed is not None:
                if held:  # the signal ended a worker that was starting: it is the stop
                    _raise(held)
                    raise KeyboardInterrupt from None
                raise failed
            _raise(held)
            client = distributed.Client(cluster)
            client.register_plugin(QuickExit())
            yield client
        finally:
            with _ctrl_c_held() as late:  # a second Ctrl-C waits for the closing
                if client is not None:
                    client.close()
                if cluster is not None:
                    cluster.close()
            _raise(late)


def _raise(held: list[int]) -> None:
    """The held signals, to the handlers they were held from."""
    for signum in dict.fromkeys(held):
        signal.raise_signal(signum)


HELD = (signal.SIGINT, signal.SIGTERM)  # the signals that stop a sweep


@contextmanager
def _ctrl_c_held():
    """A list that the SIGINTs and SIGTERMs of the time of the block are
    noted in, rather than handled; the main thread's handlers are restored at
    its end. SIGINT is blocked in this thread for the block, so that the
    threads started in it, and the processes they start, are born with it
    blocked (a signal sent to the process meanwhile waits, and is noted when
    it is unblocked at the end). Elsewhere than in the main thread, where
    handlers cannot be set, nothing is held; a signal this process ignores
    is left ignored."""
    _start_resource_tracker()
    held: list[int] = []
    before = {}
    if threading.current_thread() is threading.main_thread():
        for s in HELD:
            if signal.getsignal(s) is not signal.SIG_IGN:
                before[s] = signal.signal(s, lambda signum, frame: held.append(signum))
    mask = _block(signal.SIGINT)
    try:
        yield held
    finally:
        try:
            _restore(mask)  # a waiting SIGINT is noted here, by the handler above
        finally:
            for s, handler in before.items():
                signal.signal(s, handler)


def _block(signum: int):
    """Block signum in this thread; returns the mask to restore (None where
    masks are not available)."""
    if not hasattr(signal, "pthread_sigmask"):
        return None
    return signal.pthread_sigmask(signal.SIG_BLOCK, {signum})


def _restore(mask) -> None:
    if mask is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _start_resource_tracker() -> None:
    """Start the multiprocessing resource tracker now if it is not running.
    The first worker process started would start it, and launching it ends
    with SIGINT unblocked in the starting thread: that worker, and any
    started after it from the same thread, would then take Ctrl-C."""
    if not hasattr(signal, "pthread_sigmask"):
        return
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()


class QuickExit(distributed.WorkerPlugin):
    """Freezes the garbage collector when its worker closes: nothing is left
    to collect in a process about to end."""

    name = "charnn-quick-exit"
    idempotent = True

    def teardown(self, worker) -> None:
        gc.freeze()

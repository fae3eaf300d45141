"""Run by each worker process of a local sweep cluster as it starts (Dask's
`preload`): Ctrl-C in a terminal reaches every process of the foreground
group, and a worker left to it prints a traceback of its own. The sweep
handles Ctrl-C and closes the cluster, which ends the workers; so they
ignore it. A worker is born with SIGINT blocked (`local`), so a Ctrl-C that
came before this ran waits in it; ignoring SIGINT drops it, and the mask is
then cleared."""

from __future__ import annotations

import signal
import threading


def dask_setup(worker) -> None:
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})

"""The local cluster's workers run with its housekeeping settings and end
without a final garbage collection."""

import gc

import pytest

distributed = pytest.importorskip("distributed")
from charnn.sweep.local import LOCAL_CONFIG, QuickExit, local_cluster  # noqa: E402


def _settings(keys, dask_worker=None):
    import signal

    import dask

    return (
        {k: dask.config.get(k) for k in keys},
        sorted(dask_worker.plugins),
        signal.getsignal(signal.SIGINT) == signal.SIG_IGN,
    )


def test_local_workers_use_the_sweep_settings():
    with local_cluster(1) as client:
        seen = client.run(_settings, list(LOCAL_CONFIG))
    assert len(seen) == 1
    config, plugins, ignores_ctrl_c = next(iter(seen.values()))
    assert config == LOCAL_CONFIG
    assert ignores_ctrl_c  # the sweep handles Ctrl-C: no worker traceback
    assert config["distributed.worker.profile.enabled"] is False
    assert QuickExit.name in plugins


def test_quick_exit_freezes_the_collector_at_teardown():
    assert gc.get_freeze_count() == 0
    try:
        QuickExit().teardown(worker=None)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
    assert gc.get_freeze_count() == 0


@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM"])
def test_ctrl_c_while_the_cluster_starts_closes_it(monkeypatch, signum):
    """A Ctrl-C given while the cluster is being built is taken once it is
    up, so that it is closed (a half-built one is not, and Dask's exit hook
    fails on it with a traceback)."""
    import os
    import signal

    import charnn.sweep.local as local

    closed, signum = [], getattr(signal, signum)

    def stop(num, frame):  # as charnn sweep handles SIGTERM
        raise KeyboardInterrupt

    before = signal.signal(signal.SIGTERM, stop)

    class Cluster:
        def __init__(self, **kwargs):
            os.kill(os.getpid(), signum)  # taken at once unless held
            for _ in range(1000):  # bytecodes, at any of which it could land
                pass
            self.built = True

        def close(self):
            closed.append(self.built)

    monkeypatch.setattr(local.distributed, "LocalCluster", Cluster)
    try:
        with pytest.raises(KeyboardInterrupt):
            with local_cluster(1):
                raise AssertionError("the Ctrl-C is taken before the client is made")
    finally:
        signal.signal(signal.SIGTERM, before)
    assert closed == [True]
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, set())


def test_a_ctrl_c_taken_as_the_hold_ends_still_closes_the_cluster(monkeypatch):
    """A Ctrl-C sent while the cluster starts can reach the process through
    another thread (SIGINT is blocked only in the one that starts it) and be
    handled as the hold ends, by the handler just restored: the cluster,
    built by then, is still closed."""
    import charnn.sweep.local as local

    closed, ends = [], []

    class Cluster:
        def __init__(self, **kwargs):
            self.built = True

        def close(self):
            closed.append(self.built)

    def restore(mask):  # the hold's end, with a signal landing there once
        real_restore(mask)
        if not ends:
            ends.append(mask)
            raise KeyboardInterrupt

    real_restore = local._restore
    monkeypatch.setattr(local.distributed, "LocalCluster", Cluster)
    monkeypatch.setattr(local, "_restore", restore)
    with pytest.raises(KeyboardInterrupt):
        with local_cluster(1):
            raise AssertionError("the Ctrl-C is taken before the client is made")
    assert closed == [True]


@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM"])
def test_signal_that_ends_a_starting_worker_is_the_stop(monkeypatch, signum):
    """A SIGTERM sent to the process group ends a worker that is starting,
    and the cluster fails to start: that is the stop, not a failure of its
    own, and it goes to the signal's handler (the sweep's SIGTERM handler
    used to be skipped: 'interrupted', exit 130, for a SIGTERM)."""
    import os
    import signal

    import charnn.sweep.local as local

    seen, signum = [], getattr(signal, signum)

    def stop(num, frame):  # as charnn sweep handles SIGTERM
        seen.append(num)
        raise KeyboardInterrupt

    class Cluster:
        def __init__(self, **kwargs):
            os.kill(os.getpid(), signum)
            for _ in range(1000):
                pass
            raise RuntimeError("Nanny failed to start.")

    monkeypatch.setattr(local.distributed, "LocalCluster", Cluster)
    before = signal.signal(signal.SIGTERM, stop)
    try:
        with pytest.raises(KeyboardInterrupt):
            with local_cluster(1):
                pass
    finally:
        signal.signal(signal.SIGTERM, before)
    assert seen == ([signal.SIGTERM] if signum == signal.SIGTERM else [])
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_second_ctrl_c_waits_for_the_cluster_to_close(monkeypatch):
    """A Ctrl-C pressed again while the cluster closes does not cut the
    closing short (Dask's exit hook then closed it again, taking ten
    seconds): it is taken once the cluster is closed."""
    import os
    import signal

    import charnn.sweep.local as local

    done = []

    class Cluster:
        def __init__(self, **kwargs):
            pass

        def close(self):
            os.kill(os.getpid(), signal.SIGINT)  # the second Ctrl-C
            for _ in range(1000):
                pass
            done.append("cluster")

    class Client:
        def __init__(self, cluster):
            pass

        def register_plugin(self, plugin):
            pass

        def close(self):
            done.append("client")

    monkeypatch.setattr(local.distributed, "LocalCluster", Cluster)
    monkeypatch.setattr(local.distributed, "Client", Client)
    with pytest.raises(KeyboardInterrupt) as stop:
        with local_cluster(1):
            raise KeyboardInterrupt("the first Ctrl-C")
    assert done == ["client", "cluster"]
    assert "first" not in str(stop.value)  # the second one, raised after the closing
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, set())


BLOCKED = "import signal, sys; sys.exit(3 if signal.SIGINT in signal.pthread_sigmask(0, ()) else 4)"


def test_worker_processes_are_born_with_ctrl_c_blocked():
    """A process spawned, as Dask's nanny spawns a worker, from a thread
    started while the cluster starts has SIGINT blocked from its first
    instruction: a Ctrl-C that comes while it imports waits unseen until its
    preload ignores it (it used to end the worker with a traceback). The
    first spawn does not undo it by starting Python's resource tracker."""
    import multiprocessing
    import signal
    import threading

    import charnn.sweep.local as local

    codes = []

    def nanny():  # Dask's nanny: a thread of the event loop's thread
        def spawn():
            proc = multiprocessing.get_context("spawn").Process(target=exec, args=(BLOCKED,))
            proc.start()
            proc.join(60)
            codes.append(proc.exitcode)

        for _ in range(2):  # the first spawn, and one after it from the same thread
            t = threading.Thread(target=spawn)
            t.start()
            t.join()

    with local._ctrl_c_held():
        loop = threading.Thread(target=nanny)
        loop.start()
    loop.join()
    assert codes == [3, 3]
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, set())

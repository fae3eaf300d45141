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

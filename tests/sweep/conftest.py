"""Fixtures for the sweep tests: a small corpus and spec files next to it."""

import pytest

TEXT = (
    "To be, or not to be, that is the question:\n"
    "Whether 'tis nobler in the mind to suffer\n"
    "The slings and arrows of outrageous fortune,\n"
    "Or to take arms against a sea of troubles\n"
) * 12

# Small runs: a few hundred updates of a tiny network, with every event.
BASE = """
[base]
corpus = "text.txt"
hidden = 16
seq_length = 10
updates = 300
eval_every = 100
sample_every = 150
sample_length = 20
checkpoint_every = 100
"""


@pytest.fixture
def base():
    """The [base] table of a small sweep."""
    return BASE


@pytest.fixture
def spec_dir(tmp_path):
    (tmp_path / "text.txt").write_text(TEXT, encoding="utf-8")
    return tmp_path


@pytest.fixture
def write_spec(spec_dir):
    """write_spec(text, name="spec.toml") -> the spec's path, beside text.txt."""

    def write(text, name="spec.toml"):
        path = spec_dir / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def same_run():
    """same_run(a, b): two run folders hold the same training, bit for bit."""
    import csv

    import numpy as np

    from charnn.run import rundir, snapshot

    def columns(folder):
        with open(folder / rundir.METRICS, newline="") as f:
            return [
                (r["update"], r["loss"], r["smooth_loss"], r["val_bpc"]) for r in csv.DictReader(f)
            ]

    def check(a, b):
        assert columns(a) == columns(b)
        assert rundir.read_samples(a) == rundir.read_samples(b)
        _, _, _, sa, ra = snapshot.load_train(a / rundir.CHECKPOINT)
        _, _, _, sb, rb = snapshot.load_train(b / rundir.CHECKPOINT)
        assert sa.update == sb.update
        for k in sa.params:
            assert np.array_equal(sa.params[k], sb.params[k])
            assert np.array_equal(sa.best_params[k], sb.best_params[k])
        assert ra.bit_generator.state == rb.bit_generator.state
        assert (a / "best_1000.txt").read_text() == (b / "best_1000.txt").read_text()

    return check


@pytest.fixture(scope="session")
def warm_engine():
    """The float64 kernels in numba's cache, so that workers only load them."""
    from charnn import engine

    engine.warmup("float64")


@pytest.fixture(scope="module")
def cluster(warm_engine):
    """A Dask cluster of two single-threaded worker processes on 127.0.0.1;
    yields its scheduler's address."""
    import logging

    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.ERROR,
    ) as c:
        yield c.scheduler_address

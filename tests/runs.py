"""Helpers for tests that train small runs: a config, a whole run, comparisons."""

import csv

import numpy as np

from charnn.run import loop, rundir, snapshot
from charnn.run.config import TrainConfig


def config(text_file, **kw):
    base = dict(
        corpus=str(text_file),
        hidden=12,
        seq_length=10,
        updates=60,
        eval_every=20,
        sample_every=25,
        sample_length=30,
        checkpoint_every=15,
        val_fraction=0.1,
        engine="reference",
        seed=3,
    )
    base.update(kw)
    return TrainConfig(**base)


def run_to_end(folder, cfg, force=False):
    events = []
    r = loop.Run.start(folder, cfg, force=force)
    r.train(events.append)
    return r, events


def columns(folder, names=("update", "epoch", "loss", "smooth_loss", "val_nats", "val_bpc")):
    with open(folder / rundir.METRICS, newline="") as f:
        return [tuple(row[n] for n in names) for row in csv.DictReader(f)]


def compare_runs(a, b):
    assert columns(a) == columns(b)
    assert rundir.read_samples(a) == rundir.read_samples(b)
    _, _, _, sa, ra = snapshot.load_train(a / rundir.CHECKPOINT)
    _, _, _, sb, rb = snapshot.load_train(b / rundir.CHECKPOINT)
    for k in sa.params:
        assert np.array_equal(sa.params[k], sb.params[k])
        assert np.array_equal(sa.opt["v"][k], sb.opt["v"][k])
        assert np.array_equal(sa.best_params[k], sb.best_params[k])
    assert np.array_equal(sa.h, sb.h)
    assert (sa.smooth, sa.best_smooth, sa.pointer, sa.epoch) == (
        sb.smooth,
        sb.best_smooth,
        sb.pointer,
        sb.epoch,
    )
    assert ra.bit_generator.state == rb.bit_generator.state
    assert (a / "best_1000.txt").read_text() == (b / "best_1000.txt").read_text()

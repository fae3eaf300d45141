"""--anneal: the learning rate falls linearly to zero over the last fraction
of the --max-time budget, one rate per chunk; and its checks."""

import dataclasses
import math

import pytest

from charnn.errors import ConfigError
from charnn.run import loop
from charnn.run.config import TrainConfig
from runs import config


def test_rate_schedule_over_the_budget(text_file):
    cfg = TrainConfig(corpus=str(text_file), lr=0.01, max_time=100.0, anneal=0.4).validate()
    lrs = [cfg.optim(t).lr for t in (0.0, 59.0, 60.0, 70.0, 80.0, 90.0, 100.0, 130.0)]
    assert lrs == pytest.approx([0.01, 0.01, 0.01, 0.0075, 0.005, 0.0025, 0.0, 0.0])
    flat = TrainConfig(corpus=str(text_file), lr=0.01, max_time=100.0)
    assert flat.optim(99.0).lr == 0.01  # no --anneal: the rate stays


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(anneal=0.5), "give --max-time too"),
        (dict(anneal=-0.1, max_time=10.0), "--anneal must be a fraction in [0, 1]"),
        (dict(anneal=1.5, max_time=10.0), "--anneal must be a fraction in [0, 1]"),
        (dict(anneal=math.nan, max_time=10.0), "--anneal must be a finite number"),
    ],
)
def test_bad_anneal(text_file, kw, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        TrainConfig(corpus=str(text_file), **kw).validate()


class FakeClock:
    """perf_counter that advances a fixed step per call, so time limits are exact."""

    def __init__(self, step):
        self.t, self.step = 0.0, step

    def __call__(self):
        self.t += self.step
        return self.t


def test_loop_steps_the_rate_down_chunk_by_chunk(tmp_path, text_file, monkeypatch):
    monkeypatch.setattr(loop.time, "perf_counter", FakeClock(0.01))
    cfg = config(
        text_file,
        updates=0,
        max_time=4.0,
        anneal=0.5,
        lr=0.1,
        eval_every=10_000,
        sample_every=10_000,
        checkpoint_every=10_000,
    )
    r = loop.Run.start(tmp_path / "r", cfg)
    seen, chunk = [], r.backend.train_chunk

    def spy(st, data, n, T, clip, optc, **kw):
        seen.append((r.count.elapsed, n, optc.lr))
        return chunk(st, data, n, T, clip, optc, **kw)

    r.backend = dataclasses.replace(r.backend, train_chunk=spy)
    r.train(lambda e: None)
    assert r.count.elapsed >= 4.0
    for elapsed, _, lr in seen:
        assert lr == pytest.approx(0.1 * min(1.0, (4.0 - elapsed) / 2.0))
    late = [s for s in seen if s[0] >= 2.0]
    assert len(late) >= 5  # many small steps down, not one
    assert [s[2] for s in late] == sorted((s[2] for s in late), reverse=True)
    assert late[-1][2] < 0.1 * 0.1

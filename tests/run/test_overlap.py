"""Validation and checkpoints beside the updates (run.events.evaluate, save):
the same files, figures and resumes as when the loop waits for them."""

import threading
import time

import numpy as np
import pytest

from charnn.run import background, evaluation, loop, rundir, snapshot
from runs import compare_runs, config, run_to_end


def _fast(text_file, **kw):
    base = dict(updates=300, eval_every=20, checkpoint_every=15, engine="fast")
    return config(text_file, **{**base, **kw})


@pytest.fixture
def slow_validation(monkeypatch):
    """Validation that takes 30 ms, so that several chunks of updates (and
    their checkpoints) are handed over while one is still running; records
    the threads it ran on."""
    score, threads = evaluation.score, []

    def slow(*args, **kw):
        threads.append(threading.current_thread().name)
        time.sleep(0.03)
        return score(*args, **kw)

    monkeypatch.setattr(evaluation, "score", slow)
    return threads


def _overlap(monkeypatch, on: bool):
    monkeypatch.setattr(loop, "overlaps", lambda *a: on)


def _same_models(a, b):
    for name in (rundir.BEST, rundir.BEST_VAL):
        ca, pa, ha = snapshot.load_best(a / name)
        cb, pb, hb = snapshot.load_best(b / name)
        assert ca == cb, name
        assert all(np.array_equal(pa[k], pb[k]) for k in pa) and np.array_equal(ha, hb), name
    assert (a / "outcome.json").read_text() == (b / "outcome.json").read_text()
    ca = snapshot.load_train(a / rundir.CHECKPOINT)[0]["counters"]
    cb = snapshot.load_train(b / rundir.CHECKPOINT)[0]["counters"]
    keep = ("best_val_bpc", "best_val_update", "events_done", "update")
    assert [ca[k] for k in keep] == [cb[k] for k in keep]


def _evals(events):
    return [(e.update, e.val_bpc) for e in events if e.kind == "eval"]


@pytest.mark.parametrize(
    "model", [{}, {"cell": "gru", "layers": 2}, {"cell": "lstm", "dtype": "float32"}]
)
def test_beside_the_updates_the_run_writes_what_it_writes_waiting(
    tmp_path, text_file, monkeypatch, slow_validation, model
):
    cfg = _fast(text_file, **model)
    _overlap(monkeypatch, False)
    waited, ev_waited = run_to_end(tmp_path / "waited", cfg)
    assert waited.clock.beside() == {}
    _overlap(monkeypatch, True)
    slow_validation.clear()
    beside, ev_beside = run_to_end(tmp_path / "beside", cfg)
    # the validations ran on the writer's thread, timed apart from the loop's;
    # outcome.json's of the best model by smoothed loss, at the end, here
    # (while the writer's thread finishes the last one)
    assert sorted(slow_validation) == ["MainThread"] + ["metrics-writer"] * 16
    spans = beside.clock.jobs["validation"]
    assert len(spans) == 16 and sum(b - a for a, b in spans) >= 16 * 0.03
    # the updates outrun a 30 ms validation: the loop waits for the writer,
    # and that time does not count as work done beside the updates
    assert beside.clock.parts["waiting"] > 0.03 * 10
    assert 0 <= beside.clock.beside()["validation"] < sum(b - a for a, b in spans)
    assert waited.clock.parts["waiting"] < 0.01 and waited.clock.jobs == {}
    compare_runs(tmp_path / "waited", tmp_path / "beside")
    _same_models(tmp_path / "waited", tmp_path / "beside")
    assert _evals(ev_beside) == _evals(ev_waited) and len(_evals(ev_waited)) == 16
    # every validation is reported before the run's end
    kinds = [e.kind for e in ev_beside]
    assert kinds.index("logged") > max(i for i, k in enumerate(kinds) if k == "eval")


@pytest.mark.parametrize("pending", [loop.PENDING, 50])
def test_the_copies_handed_to_the_writer_are_bounded(
    tmp_path, text_file, monkeypatch, slow_validation, pending
):
    """Validation and checkpoints slower than their interval: the loop waits
    for the writer rather than pile up copies of the state (at most PENDING);
    50 shows the count can exceed the bound, and the files are the same."""
    monkeypatch.setattr(loop, "PENDING", pending)
    live, most, lock = [0], [0], threading.Lock()
    hand_over = loop.Run.hand_over

    def counted(self, name, make):
        def made():
            job = make()
            with lock:
                live[0] += 1
                most[0] = max(most[0], live[0])

            def run():
                try:
                    job()
                finally:
                    with lock:
                        live[0] -= 1

            return run

        hand_over(self, name, made)

    monkeypatch.setattr(loop.Run, "hand_over", counted)
    cfg = _fast(text_file, updates=40, eval_every=1, checkpoint_every=1)
    _overlap(monkeypatch, True)
    run_to_end(tmp_path / "beside", cfg)
    assert (most[0] <= 2) if pending == 2 else (most[0] > 2)
    monkeypatch.setattr(loop.Run, "hand_over", hand_over)
    _overlap(monkeypatch, False)
    run_to_end(tmp_path / "waited", cfg)
    compare_runs(tmp_path / "waited", tmp_path / "beside")
    _same_models(tmp_path / "waited", tmp_path / "beside")


def test_an_interrupt_beside_a_validation_resumes_bit_for_bit(
    tmp_path, text_file, monkeypatch, slow_validation
):
    cfg = _fast(text_file, updates=200)
    _overlap(monkeypatch, False)
    run_to_end(tmp_path / "whole", cfg)
    _overlap(monkeypatch, True)
    for stop_at in (2, 5, 9):
        folder = tmp_path / f"cut{stop_at}"
        r, calls = loop.Run.start(folder, cfg), []

        def should_stop(stop_at=stop_at, calls=calls):
            calls.append(1)
            return 2 if len(calls) == stop_at else 0

        with pytest.raises(loop.Interrupted) as info:
            r.train(lambda e: None, should_stop)
        # said saved only once written, with the validations handed over before it
        meta, _, _, saved, _ = snapshot.load_train(folder / rundir.CHECKPOINT)
        counters = meta["counters"]
        assert saved.update == info.value.update
        rows = [x for x in rundir.read_metrics(folder) if x["val_bpc"] is not None]
        assert rows[-1]["update"] <= saved.update
        best = min(rows, key=lambda x: x["val_bpc"])
        assert (counters["best_val_update"], counters["best_val_bpc"]) == (
            best["update"],
            best["val_bpc"],
        )
        loop.Run.resume(folder).train(lambda e: None)
        compare_runs(tmp_path / "whole", folder)
        _same_models(tmp_path / "whole", folder)


def test_a_failed_checkpoint_beside_the_updates_stops_the_run(tmp_path, text_file, monkeypatch):
    _overlap(monkeypatch, True)

    def full(*a, **kw):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(snapshot, "save_best", full)
    r, events = loop.Run.start(tmp_path / "r", _fast(text_file, updates=100)), []
    with pytest.raises(OSError, match="No space"):
        r.train(events.append)
    # raised before the run's end is reported: nothing claims a finished run
    assert "logged" not in [e.kind for e in events]
    assert not (tmp_path / "r" / "outcome.json").exists()


def test_what_runs_beside_the_updates(text_file, monkeypatch):
    cfg = _fast(text_file)
    st = loop.new_state(cfg, 20, np.random.default_rng(0))
    monkeypatch.setattr(loop, "cores", lambda: 2)
    assert loop.overlaps(cfg, 1, st)
    assert not loop.overlaps(cfg, 2, st)  # no core left: the loop waits
    ref = cfg.__class__(**{**cfg.to_dict(), "engine": "reference"})
    assert not loop.overlaps(ref, 1, st)  # NumPy holds the GIL between its calls
    monkeypatch.setattr(loop, "OVERLAP_BYTES", 1000)
    assert not loop.overlaps(cfg, 1, st)  # too large a state to copy
    monkeypatch.setattr(loop, "OVERLAP_BYTES", 1 << 30)
    monkeypatch.setattr(background, "INLINE", True)
    assert not loop.overlaps(cfg, 1, st)

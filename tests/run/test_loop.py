"""The training loop: run files, validation split, resume bit for bit, divergence."""

import dataclasses
import hashlib
import json
import math
import threading
import time

import numpy as np
import pytest

from charnn.errors import CheckpointError, ConfigError, CorpusError, DivergenceError
from charnn.run import evaluation, loop, rundir, snapshot, split
from charnn.run.config import TrainConfig
from runs import compare_runs, config, run_to_end


def test_run_writes_every_promised_file(tmp_path, text_file):
    r, events = run_to_end(tmp_path / "run", config(text_file))
    folder = tmp_path / "run"
    for name in (
        "config.json",
        "checkpoint.npz",
        "best.npz",
        "metrics.csv",
        "samples.jsonl",
        "best_200.txt",
        "best_1000.txt",
    ):
        assert (folder / name).exists(), name
    samples = rundir.read_samples(folder)
    assert [s["update"] for s in samples] == [0, 25, 50]
    assert all(len(s["text"]) == 30 for s in samples)
    assert len((folder / "best_1000.txt").read_text(encoding="utf-8")) == 1000
    rows = rundir.read_metrics(folder)
    assert [int(r["update"]) for r in rows if r["loss"] is not None] == list(range(1, 61))
    assert [int(r["update"]) for r in rows if r["val_bpc"] is not None] == [0, 20, 40, 60]
    info = json.loads((folder / "config.json").read_text())
    assert info["config"]["hidden"] == 12 and info["corpus"]["K"] == len(info["vocab"])
    kinds = {e.kind for e in events}
    assert {"sample", "eval", "progress", "checkpoint", "best"} <= kinds


def test_validation_is_held_out(tmp_path, text_file):
    cfg = config(text_file)
    data = split.prepare_data(cfg)
    n = len(text_file.read_text())
    n_val = int(n * 0.1)
    assert data.val.size == n_val and data.train.size == n - n_val
    ids = data.vocab.encode(text_file.read_text())
    np.testing.assert_array_equal(data.val, ids[n - n_val :])
    np.testing.assert_array_equal(data.train.ravel(), ids[: n - n_val])


def test_val_bpc_is_nats_over_ln2(tmp_path, text_file):
    run_to_end(tmp_path / "r", config(text_file))
    for row in rundir.read_metrics(tmp_path / "r"):
        if row["val_bpc"] is not None:
            assert row["val_bpc"] == pytest.approx(row["val_nats"] / math.log(2))


@pytest.mark.parametrize("first", [20, 45, 49])
def test_resume_is_bit_exact_across_epochs(tmp_path, text_file, first):
    # 1238 training chars, T=10: 123 updates per epoch; B=3 streams: 41 per epoch
    cfg = config(text_file, batch_size=3, updates=100, checkpoint_every=7)
    run_to_end(tmp_path / "whole", cfg)
    part = loop.Run.start(tmp_path / "parts", cfg.__class__(**{**cfg.to_dict(), "updates": first}))
    part.train(lambda e: None)
    loop.Run.resume(tmp_path / "parts", {"updates": 100}).train(lambda e: None)
    compare_runs(tmp_path / "whole", tmp_path / "parts")


def test_resume_after_interrupt_between_checkpoints(tmp_path, text_file):
    cfg = config(text_file, updates=80)
    run_to_end(tmp_path / "whole", cfg)
    r = loop.Run.start(tmp_path / "cut", cfg)
    calls = []

    def stop_after_three_chunks():
        calls.append(1)
        return 15 if len(calls) > 3 else 0

    with pytest.raises(loop.Interrupted) as info:
        r.train(lambda e: None, stop_after_three_chunks)
    assert info.value.signum == 15
    saved = snapshot.load_train(tmp_path / "cut" / rundir.CHECKPOINT)[3]
    assert saved.update == info.value.update > 0
    loop.Run.resume(tmp_path / "cut").train(lambda e: None)
    compare_runs(tmp_path / "whole", tmp_path / "cut")


@pytest.mark.parametrize("engine", ["reference", "fast"])
@pytest.mark.parametrize("point", range(1, 7))
def test_a_signal_after_the_last_update_stops_between_the_steps_of_the_end(
    tmp_path, text_file, engine, point
):
    """The end of a run (validations, sampling.json, the best model's texts,
    outcome.json) can take minutes for a large model: a signal there stops
    the next time it asks (between its steps, or polling during a validation
    pass) with the state in a checkpoint, the run is not complete, and
    --resume writes the end an uninterrupted run writes."""
    cfg = config(text_file, updates=70, engine=engine)  # off the eval grid: a final validation
    run_to_end(tmp_path / "whole", cfg)
    r = loop.Run.start(tmp_path / "cut", cfg)
    calls = []

    def stop_in_the_end():
        if r.state.update < 70:
            return 0
        calls.append(1)
        return 2 if len(calls) >= point else 0

    with pytest.raises(loop.Interrupted) as info:
        r.train(lambda e: None, stop_in_the_end)
    assert len(calls) == point and info.value.update == 70
    cut = tmp_path / "cut"
    assert snapshot.load_train(cut / rundir.CHECKPOINT)[3].update == 70
    assert not (cut / "outcome.json").exists()
    resumed = loop.Run.resume(cut)
    assert not resumed.complete()
    resumed.train(lambda e: None)
    assert loop.Run.resume(cut).complete()
    compare_runs(tmp_path / "whole", cut)
    for name in ("outcome.json", "best_200.txt", "sampling.json"):
        assert (cut / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name


@pytest.mark.parametrize("engine", ["reference", "fast"])
@pytest.mark.parametrize("slow_call", [1, 2])
def test_a_signal_during_a_validation_of_the_end_stops_without_waiting_for_it(
    tmp_path, text_file, engine, slow_call
):
    """A validation pass of the end holds the main thread for as long as it
    takes (a minute for a large model): a signal stops the run within a poll,
    leaving the pass to end alone, and --resume still writes the same end."""
    cfg = config(text_file, updates=70, engine=engine)
    run_to_end(tmp_path / "whole", cfg)
    r = loop.Run.start(tmp_path / "cut", cfg)
    release, calls, signalled = threading.Event(), [], []
    fast = r.backend.text_loss

    def text_loss(*args, **kwargs):
        # the end's passes on the main thread's behalf: the smooth best model's, the final one's
        if threading.current_thread().name == "charnn-polled":
            calls.append(1)
            if len(calls) == slow_call:
                signalled.append(time.perf_counter())
                release.wait(120)  # a pass that would take two minutes
        return fast(*args, **kwargs)

    r.backend = dataclasses.replace(r.backend, text_loss=text_loss)
    try:
        with pytest.raises(loop.Interrupted):
            r.train(lambda e: None, lambda: 2 if signalled else 0)
        assert time.perf_counter() - signalled[0] < 30
    finally:
        release.set()
    cut = tmp_path / "cut"
    assert not (cut / "outcome.json").exists()
    loop.Run.resume(cut).train(lambda e: None)
    compare_runs(tmp_path / "whole", cut)
    assert (cut / "outcome.json").read_bytes() == (tmp_path / "whole" / "outcome.json").read_bytes()


@pytest.fixture
def noisy_validation(monkeypatch):
    """Validation figures with up to 4 bits/char added, a function of the
    model's W: an order of the models that training alone rarely gives."""
    score = evaluation.score

    def noisy(text_loss, params, *args, **kw):
        nats, bpc = score(text_loss, params, *args, **kw)
        noise = int(hashlib.sha256(params["W"].tobytes()).hexdigest()[:8], 16) / 2**32 * 4
        return nats + noise, bpc + noise

    monkeypatch.setattr(evaluation, "score", noisy)


def test_the_best_model_by_smoothed_loss_is_a_candidate_for_best_by_validation(
    tmp_path, text_file, noisy_validation
):
    """Scored at the end, the best model by smoothed loss can beat every
    model validated on the grid and the final one: it then holds
    best_val.npz for that end ("best by validation" is never a model worse
    on validation than one the run scored), and extended, the run is the
    longer run."""
    cfg = config(text_file, updates=60, seed=14, checkpoint_every=15, best_by="val")
    run_to_end(tmp_path / "whole", cfg)
    short = cfg.__class__(**{**cfg.to_dict(), "updates": 45})
    run_to_end(tmp_path / "parts", short)
    b = tmp_path / "parts"
    out = json.loads((b / "outcome.json").read_text())
    smooth = out["best_smooth"]
    assert smooth["update"] not in (40, 45)  # off the grid of 20, and not the final model
    assert out["best_val"] == {"update": smooth["update"], "val_bpc": smooth["val_bpc"]}
    grid = [r["val_bpc"] for r in rundir.read_metrics(b) if r["val_bpc"] is not None]
    assert smooth["val_bpc"] < min(grid)
    c, params, _ = snapshot.load_best(b / rundir.BEST_VAL)
    _, best, _ = snapshot.load_best(b / rundir.BEST)
    assert c["best_update"] == smooth["update"] and c["val_bpc"] == smooth["val_bpc"]
    assert all(np.array_equal(params[k], best[k]) for k in params)
    assert (b / rundir.BEST_VAL_GRID).exists()
    loop.Run.resume(b, {"updates": 60}).train(lambda e: None)
    a = tmp_path / "whole"
    compare_runs(a, b)
    assert (a / "outcome.json").read_text() == (b / "outcome.json").read_text()
    ca, pa, _ = snapshot.load_best(a / rundir.BEST_VAL)
    cb, pb, _ = snapshot.load_best(b / rundir.BEST_VAL)
    assert ca == cb and all(np.array_equal(pa[k], pb[k]) for k in pa)


@pytest.mark.parametrize("checkpoint_every", [20, 15])
def test_a_run_extended_after_a_best_final_validation_is_the_longer_run(
    tmp_path, text_file, checkpoint_every, noisy_validation
):
    """A run ending at 45, off the eval_every grid of 20, where the final
    validation is the best of the 45-update and the 60-update runs: its model
    holds best_val.npz for that end, but extended to 60 the run has what the
    60-update run has (best_val.npz, the checkpoint's best validation,
    outcome.json), whether the 45 checkpoint came before that validation
    (checkpoint_every 15) or after it (20)."""
    cfg = config(text_file, updates=60, seed=5, checkpoint_every=checkpoint_every)
    run_to_end(tmp_path / "whole", cfg)
    short = cfg.__class__(**{**cfg.to_dict(), "updates": 45})
    run_to_end(tmp_path / "parts", short)
    out = json.loads((tmp_path / "parts" / "outcome.json").read_text())
    assert out["best_val"] == {"update": 45, "val_bpc": out["final_val_bpc"]}
    whole = json.loads((tmp_path / "whole" / "outcome.json").read_text())
    assert whole["best_val"]["val_bpc"] > out["final_val_bpc"]
    assert snapshot.load_best(tmp_path / "parts" / rundir.BEST_VAL)[0]["best_update"] == 45
    loop.Run.resume(tmp_path / "parts", {"updates": 60}).train(lambda e: None)
    compare_runs(tmp_path / "whole", tmp_path / "parts")
    a, b = (tmp_path / d for d in ("whole", "parts"))
    assert (a / "outcome.json").read_text() == (b / "outcome.json").read_text()
    ca, pa, ha = snapshot.load_best(a / rundir.BEST_VAL)
    cb, pb, hb = snapshot.load_best(b / rundir.BEST_VAL)
    assert ca == cb and all(np.array_equal(pa[k], pb[k]) for k in pa)
    ka = snapshot.load_train(a / rundir.CHECKPOINT)[0]["counters"]
    kb = snapshot.load_train(b / rundir.CHECKPOINT)[0]["counters"]
    assert (ka["best_val_bpc"], ka["best_val_update"]) == (
        kb["best_val_bpc"],
        kb["best_val_update"],
    )
    assert not (b / rundir.BEST_VAL_GRID).exists()


def test_epochs_limit(tmp_path, text_file):
    cfg = config(text_file, updates=0, epochs=2, batch_size=4)
    r, events = run_to_end(tmp_path / "r", cfg)
    assert r.state.update == 2 * r.per_epoch
    assert [e.update for e in events if e.kind == "epoch"] == [r.per_epoch]


def test_existing_run_is_refused(tmp_path, text_file):
    run_to_end(tmp_path / "r", config(text_file, updates=5))
    before = (tmp_path / "r" / "checkpoint.npz").read_bytes()
    with pytest.raises(CheckpointError, match="already holds a run"):
        loop.Run.start(tmp_path / "r", config(text_file, updates=5))
    assert (tmp_path / "r" / "checkpoint.npz").read_bytes() == before
    run_to_end(tmp_path / "r", config(text_file, updates=5, seed=9), force=True)


def test_epochs_alone_on_resume_lifts_the_update_limit_as_for_a_new_run(tmp_path, text_file):
    run_to_end(tmp_path / "r", config(text_file, updates=5))
    again = loop.Run.resume(tmp_path / "r", {"epochs": 2.0})
    assert again.cfg.updates == 0 and again.end() == 2 * again.per_epoch > 5
    again.close()
    both = loop.Run.resume(tmp_path / "r", {"epochs": 2.0, "updates": 7})
    assert both.cfg.updates == 7 and both.end() == 7
    both.close()


def test_limits_a_resume_recorded_before_its_first_checkpoint_are_kept(tmp_path, text_file):
    """A resume that raised the limit and died before its first checkpoint
    left it in config.json alone (which the report shows): the next resume
    trains to it, not to the checkpoint's older limit."""
    run_to_end(tmp_path / "r", config(text_file, updates=5))
    killed = loop.Run.resume(tmp_path / "r", {"updates": 40, "best_by": "val"})
    killed.close()  # as if killed: config.json rewritten, no checkpoint since
    again = loop.Run.resume(tmp_path / "r")
    assert again.cfg.updates == 40 and again.cfg.best_by == "val" and again.end() == 40
    again.close()


def test_resume_refuses_other_settings(tmp_path, text_file):
    run_to_end(tmp_path / "r", config(text_file, updates=5))
    with pytest.raises(ConfigError, match="--lr 0.5 differs"):
        loop.Run.resume(tmp_path / "r", {"lr": 0.5})


def test_resume_refuses_changed_vocabulary(tmp_path, text_file):
    run_to_end(tmp_path / "r", config(text_file, updates=5))
    text_file.write_text(text_file.read_text() + "Z#", encoding="utf-8")
    with pytest.raises(CorpusError, match="not the text .*1,378 bytes now; new characters '#'"):
        loop.Run.resume(tmp_path / "r", {"updates": 10})


def test_divergence_before_any_checkpoint(tmp_path, text_file):
    cfg = config(text_file, updates=200, lr=1e6, clip=0.0)
    r = loop.Run.start(tmp_path / "r", cfg)
    with pytest.raises(DivergenceError, match="diverged at update .*no checkpoint"):
        r.train(lambda e: None)
    assert not (tmp_path / "r" / rundir.CHECKPOINT).exists()


def test_divergence_keeps_last_good_checkpoint(tmp_path, text_file):
    run_to_end(tmp_path / "r", config(text_file, updates=15))
    good = (tmp_path / "r" / rundir.CHECKPOINT).read_bytes()
    r = loop.Run.resume(tmp_path / "r", {"updates": 60})
    r.state.params["W"][0, 0] = math.nan  # what an exploding update leaves behind
    with pytest.raises(DivergenceError, match="not finite.*checkpoint \\(update 15\\)"):
        r.train(lambda e: None)
    assert (tmp_path / "r" / rundir.CHECKPOINT).read_bytes() == good


def test_divergence_by_smoothed_loss(tmp_path, text_file):
    r = loop.Run.start(tmp_path / "r", config(text_file, updates=15))
    r.train(lambda e: None)
    r.state.smooth = 3 * r.count.first_loss
    with pytest.raises(DivergenceError, match="passed twice its start"):
        r.check_divergence(1, 1)


def test_divergence_names_the_update_where_the_smoothed_loss_passed_twice_its_start(
    tmp_path, text_file
):
    """The check runs at chunk ends; the message names the update inside the
    chunk where the smoothed loss first passed the limit, and when it was seen."""
    r = loop.Run.start(tmp_path / "r", config(text_file, updates=15))
    r.train(lambda e: None)
    first, smooth0 = r.count.first_loss, r.state.smooth
    losses = [smooth0] * 3 + [1e6] * 4  # the 4th update of the chunk blows up
    r.state.update += len(losses)
    for loss in losses:
        r.state.smooth = 0.999 * r.state.smooth + 0.001 * loss
    assert r.state.smooth > 2 * first
    at = 15 + 4
    with pytest.raises(DivergenceError, match=f"at update {at} \\(seen at update 22\\)"):
        r.check_divergence(len(losses), len(losses), losses, smooth0)
    assert rundir.read_diverged(tmp_path / "r")["update"] == at


def test_logs_cut_by_a_crash_are_repaired_on_resume(tmp_path, text_file):
    run_to_end(tmp_path / "r", config(text_file, updates=15, sample_every=5))
    folder = tmp_path / "r"
    with open(folder / rundir.METRICS, "a") as f:
        f.write("16,0,55.0,60.1,,,1.0,10.0\n17,0,54")  # rows after the checkpoint, one cut
    with open(folder / rundir.SAMPLES, "a", encoding="utf-8") as f:
        f.write('{"update": 20, "smooth_loss": 1.0, "text": "a\u2028b"}\n{"update": 2')
    (folder / ".checkpoint.npz.tmp-999").write_bytes(b"half")
    (folder / ".user.tmp-1").mkdir()  # not charnn's: left alone, and no error
    r = loop.Run.resume(folder, {"updates": 15})
    rows = rundir.read_metrics(folder)
    assert max(int(x["update"]) for x in rows) == 15
    assert [s["update"] for s in rundir.read_samples(folder)] == [0, 5, 10, 15]
    assert not (folder / ".checkpoint.npz.tmp-999").exists()
    assert r.state.update == 15


def test_sample_text_with_line_separators_round_trips(tmp_path):
    rundir.append_sample(tmp_path, 3, 1.5, "x\u2028y\u0085z\n")
    assert rundir.read_samples(tmp_path) == [
        {"update": 3, "smooth_loss": 1.5, "text": "x\u2028y\u0085z\n"}
    ]


def test_fast_engine_runs_like_the_reference(tmp_path, text_file):
    """From the same start both engines give the same first update and the
    same update-0 events; afterwards only the quality is compared (trajectories
    part under AdaGrad, see tests/engine/test_rnn.py)."""
    run_to_end(tmp_path / "ref", config(text_file, updates=40, batch_size=2))
    run_to_end(tmp_path / "fast", config(text_file, updates=40, batch_size=2, engine="fast"))
    ref, fast = rundir.read_metrics(tmp_path / "ref"), rundir.read_metrics(tmp_path / "fast")
    assert len(ref) == len(fast)
    assert fast[0]["val_nats"] == pytest.approx(ref[0]["val_nats"], rel=1e-13)
    assert fast[1]["loss"] == pytest.approx(ref[1]["loss"], rel=1e-13)
    assert fast[-2]["smooth_loss"] == pytest.approx(ref[-2]["smooth_loss"], rel=0.05)
    texts = [s["text"] for s in rundir.read_samples(tmp_path / "ref")]
    assert texts[0] == rundir.read_samples(tmp_path / "fast")[0]["text"]


def test_float32_run(tmp_path, text_file):
    r, _ = run_to_end(
        tmp_path / "f32", config(text_file, updates=30, engine="fast", dtype="float32")
    )
    assert r.state.params["W"].dtype == np.float32
    _, cfg, _, st, _ = snapshot.load_train(tmp_path / "f32" / rundir.CHECKPOINT)
    assert cfg.dtype == "float32" and st.params["V"].dtype == np.float32


def test_reference_engine_is_float64_only(text_file):
    with pytest.raises(ConfigError, match="float64 only"):
        config(text_file, dtype="float32").validate()


class FakeClock:
    """perf_counter that advances a fixed step per call, so time limits are exact."""

    def __init__(self, step):
        self.t, self.step = 0.0, step

    def __call__(self):
        self.t += self.step
        return self.t


def test_max_time_stops_cleanly_and_resume_extends(tmp_path, text_file, monkeypatch):
    monkeypatch.setattr(loop.time, "perf_counter", FakeClock(0.5))
    cfg = config(text_file, updates=0, epochs=0, max_time=3.0, checkpoint_every=1000)
    r, events = run_to_end(tmp_path / "r", cfg)
    stopped = r.state.update
    assert 0 < stopped < r.per_epoch  # far from any update or epoch limit
    assert r.count.elapsed >= 3.0
    assert r.end() == stopped
    meta, _, _, state, _ = snapshot.load_train(tmp_path / "r" / rundir.CHECKPOINT)
    assert state.update == stopped  # the final checkpoint holds where it stopped
    assert (tmp_path / "r" / "best_1000.txt").exists()
    assert events[-1].kind == "best"
    again = loop.Run.resume(tmp_path / "r")
    assert again.end() == stopped  # the budget is the run's total: nothing left
    again.close()  # a run holds its folder's lock until it is trained or closed
    more = loop.Run.resume(tmp_path / "r", {"max_time": 6.0})
    more.train(lambda e: None)
    assert more.state.update > stopped and more.count.elapsed >= 6.0


def test_max_time_alone_is_a_limit_and_must_be_sane(text_file):
    assert TrainConfig(corpus=str(text_file), updates=0, max_time=1.0).validate()
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(ConfigError, match="--max-time"):
            TrainConfig(corpus=str(text_file), max_time=bad).validate()
    with pytest.raises(ConfigError, match="nothing to do"):
        TrainConfig(corpus=str(text_file), updates=0, epochs=0, max_time=0).validate()


@pytest.mark.parametrize(
    "limit", [{"updates": 2**62}, {"epochs": 1e300}, {"max_time": 2.0**62}, {"max_time": 1e300}]
)
def test_limits_a_run_folder_cannot_record_are_refused(text_file, limit):
    """config.json records limits below 2**62 (charnn's "no limit"): a larger
    one accepted would leave a run that no command could read back."""
    (name,) = limit
    with pytest.raises(ConfigError, match=f"--{name.replace('_', '-')} must be below 2\\*\\*62"):
        TrainConfig(corpus=str(text_file), **limit).validate()
    just_below = {"updates": 2**62 - 1, "epochs": 2.0**61, "max_time": 2.0**61}[name]
    assert TrainConfig(corpus=str(text_file), **{name: just_below}).validate()


def test_threads_change_on_resume_without_changing_results(tmp_path, text_file):
    # B = 32: two groups of 16 streams, on one thread, then (resumed) on two
    from charnn.engine.threads import available

    cfg = config(text_file, engine="fast", batch_size=32, seq_length=5, updates=24, threads=1)
    run_to_end(tmp_path / "whole", cfg)
    part = loop.Run.start(tmp_path / "parts", cfg.__class__(**{**cfg.to_dict(), "updates": 11}))
    part.train(lambda e: None)
    assert part.threads == 1
    more = min(2, available())
    again = loop.Run.resume(tmp_path / "parts", {"updates": 24, "threads": more})
    again.train(lambda e: None)
    assert again.threads == more and again.cfg.threads == more
    compare_runs(tmp_path / "whole", tmp_path / "parts")


def test_too_many_threads_is_refused(tmp_path, text_file):
    from charnn.engine.threads import available

    r = loop.Run.start(tmp_path / "r", config(text_file, engine="fast", threads=available() + 1))
    with pytest.raises(ConfigError, match="--threads"):
        r.train(lambda e: None)

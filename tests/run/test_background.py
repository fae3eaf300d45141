"""Work beside the updates: the worker thread, the metrics log it writes, the
record's deferred gradient check, the final validation reused, the BLAS
loaded alone."""

import json
import math
import subprocess
import sys
import threading

import numpy as np
import pytest

from charnn.run import bestval, record, rundir, split
from charnn.run.background import Deferred, Worker
from charnn.run.metricslog import MetricsLog
from runs import config, run_to_end


def test_worker_runs_jobs_in_order_on_its_own_thread():
    w, seen = Worker("t"), []
    for i in range(50):
        w.submit(lambda i=i: seen.append((i, threading.current_thread().name)))
    w.wait()
    assert [i for i, _ in seen] == list(range(50))
    assert {name for _, name in seen} == {"t"}
    thread = w.thread
    w.close()
    assert w.thread is None and not thread.is_alive()


def test_worker_raises_a_jobs_error_once_and_skips_the_rest():
    w, seen = Worker("t"), []

    def fail():
        raise OSError(28, "No space left on device")

    w.submit(fail)
    w.submit(lambda: seen.append(1))
    with pytest.raises(OSError, match="No space left"):
        w.wait()
    w.wait()  # raised once
    assert seen == []


def test_inline_jobs_run_at_once_on_the_submitting_thread(monkeypatch):
    from charnn.run import background

    monkeypatch.setattr(background, "INLINE", True)
    w, seen = Worker("t"), []
    w.submit(lambda: seen.append(threading.current_thread().name))
    assert seen == [threading.current_thread().name] and w.thread is None

    def fail():
        raise OSError(28, "No space left on device")

    w.submit(fail)
    with pytest.raises(OSError, match="No space left"):  # at the next submit or wait
        w.submit(lambda: seen.append("after"))
    assert seen == [threading.current_thread().name]


def test_a_run_with_its_side_work_inline_writes_the_same_files(tmp_path, text_file, monkeypatch):
    from charnn.run import background

    cfg = config(text_file, updates=40, eval_every=10, sample_every=20)
    run_to_end(tmp_path / "threads", cfg)
    monkeypatch.setattr(background, "INLINE", True)
    run_to_end(tmp_path / "inline", cfg)
    for name in ("record.json", "outcome.json", "samples.jsonl"):
        a = (tmp_path / "threads" / name).read_text(encoding="utf-8")
        assert a == (tmp_path / "inline" / name).read_text(encoding="utf-8"), name
    rows = [rundir.read_metrics(tmp_path / d) for d in ("threads", "inline")]
    keep = ("update", "loss", "smooth_loss", "val_bpc")
    assert [[r[k] for k in keep] for r in rows[0]] == [[r[k] for k in keep] for r in rows[1]]


def test_deferred_jobs_wait_for_start_or_run_at_finish():
    d, seen = Deferred("t"), []
    d.add(lambda: seen.append(threading.current_thread().name))
    assert seen == []
    d.finish()  # never started: run here
    assert seen == [threading.current_thread().name]
    d.add(lambda: seen.append("held"))
    d.start()
    d.add(lambda: seen.append("after start"))
    d.finish()
    assert seen[1:] == ["held", "after start"]


def _same_columns(a: dict, b: dict) -> None:
    assert list(a) == list(b)
    for k in a:
        assert a[k].shape == b[k].shape, k
        assert np.array_equal(a[k], b[k], equal_nan=True), k


def test_log_columns_are_what_the_file_reads_back(tmp_path):
    log = MetricsLog(tmp_path, seq_length=10)
    losses = np.array([40.5, 1 / 3, 38.25])
    log.write_rows([{"update": 0, "epoch": 0, "val_nats": 3.5, "val_bpc": 3.5 / math.log(2)}])
    log.chunk(0, 0, losses, math.nan, 0.125, 3.5)
    log.chunk(3, 1, losses[:2] * 2, 39.0, 0.25, None)
    row = {"update": 5, "epoch": 1, "val_nats": 2.0, "val_bpc": 2.9, "elapsed_s": 0.3}
    log.worker.submit(lambda: log.write_rows([row]))  # after the chunks handed over
    cols = log.columns()
    _same_columns(cols, rundir.read_metric_columns(tmp_path))
    assert cols["update"].tolist() == [0, 1, 2, 3, 4, 5, 5]
    # the seed's smoothing: the first loss, then 0.999 s + 0.001 loss
    assert cols["smooth_loss"][1] == 40.5 and cols["smooth_loss"][2] == 0.999 * 40.5 + 0.001 / 3
    assert cols["smooth_loss"][4] == 0.999 * 39.0 + 0.001 * 40.5 * 2
    assert cols["train_bpc"][1] == 40.5 / (10 * math.log(2))


def test_log_keeps_no_columns_of_a_file_it_did_not_start(tmp_path):
    rundir.append_metric_columns(tmp_path, {"update": [1], "epoch": 0, "loss": [3.5]}, 1)
    log = MetricsLog(tmp_path, seq_length=10)
    log.chunk(1, 0, np.array([3.0]), 3.5, 0.1, 1.0)
    assert log.columns() is None
    assert rundir.read_metric_columns(tmp_path)["update"].tolist() == [1, 2]


def test_a_run_keeps_its_columns_and_reuses_its_final_validation(tmp_path, text_file):
    before = threading.active_count()
    r, _ = run_to_end(tmp_path / "r", config(text_file))
    assert threading.active_count() == before  # the run's threads ended with it
    _same_columns(r.metrics.columns(), rundir.read_metric_columns(tmp_path / "r"))
    last = [x for x in rundir.read_metrics(tmp_path / "r") if x["val_bpc"] is not None][-1]
    out = bestval.read_outcome(tmp_path / "r")
    assert last["update"] == 60 and out["final_val_bpc"] == last["val_bpc"]
    again = bestval.outcome(r.cfg, r.state, r.data.val, r.backend.text_loss, r.count, r.carried)
    assert again == out  # the figure reused is the one computed afresh


def test_the_record_with_its_deferred_check_is_the_direct_one(tmp_path, text_file):
    r, _ = run_to_end(tmp_path / "r", config(text_file))
    deferred = json.loads((tmp_path / "r" / record.RECORD).read_text())
    cfg = r.cfg
    data = split.prepare_data(cfg)
    from charnn.run.loop import new_state

    params = new_state(cfg, data.vocab.size, np.random.default_rng(cfg.seed)).params
    (tmp_path / "d").mkdir()
    record.write_record(tmp_path / "d", cfg, data, params)
    assert deferred == json.loads((tmp_path / "d" / record.RECORD).read_text())
    assert deferred["gradcheck"]["rows"] and deferred["untrained"]["texts"]


def test_the_blas_loads_without_scipy_linalg():
    code = (
        "import sys, numpy as np\n"
        "from charnn.run.blas import load_blas, NAME\n"
        "load_blas()\n"
        "assert NAME in sys.modules and 'scipy.linalg' not in sys.modules\n"
        "from charnn import engine\n"
        "from charnn.nn.rnn import init_params\n"
        "p = init_params(5, 4, np.random.default_rng(0))\n"
        "nats, n = engine.text_loss(p, np.arange(5) % 5, np.zeros(4))\n"
        "assert n == 4 and abs(nats - 4 * np.log(5)) < 1e-3, nats\n"
        "import scipy.linalg\n"
        "from scipy.linalg import cython_blas\n"
        "assert cython_blas is sys.modules[NAME]\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout == "ok\n", done.stderr


def test_the_recorded_check_is_capped_in_steps_and_entries(tmp_path, text_file):
    """A gated stack at T = 64 took 20 s or more to check every entry over all
    T steps: the record checks at most GRADCHECK_STEPS steps and a sample of
    GRADCHECK_ENTRIES entries of a larger array, and says so."""
    cfg = config(text_file, cell="gru", layers=2, seq_length=64)
    data = split.prepare_data(cfg)
    part = record.gradcheck_part(cfg, data)
    assert part["T"] == record.GRADCHECK_STEPS < cfg.seq_length
    sizes = {r["name"]: int(np.prod(r["shape"])) for r in part["rows"]}
    checked = {r["name"]: r["checked"] for r in part["rows"]}
    assert max(sizes.values()) > record.GRADCHECK_ENTRIES
    assert checked == {n: min(s, record.GRADCHECK_ENTRIES) for n, s in sizes.items()}
    assert all(r["passed"] for r in part["rows"])
    short = record.gradcheck_part(config(text_file, seq_length=10), data)
    assert short["T"] == 10  # a shorter run's T is its own


def test_a_stop_cuts_the_records_gradient_check_short_and_the_resume_adds_it(
    tmp_path, text_file, monkeypatch
):
    """The record's gradient check runs beside the first updates; a signal
    need not wait for it (seconds for a deep gated network on a busy
    machine): it ends at its next entry, record.json is left without it,
    and the resume writes the check a whole run writes."""
    import time

    from charnn.nn import gradcheck
    from charnn.run import loop

    cfg = config(text_file, updates=60, cell="gru", layers=2)
    run_to_end(tmp_path / "whole", cfg)
    numerical = gradcheck.numerical_grad
    entries = []

    def slow(*args, **kwargs):
        entries.append(1)
        time.sleep(0.05)  # ~1,300 entries: a check of a minute
        return numerical(*args, **kwargs)

    monkeypatch.setattr(gradcheck, "numerical_grad", slow)
    r = loop.Run.start(tmp_path / "cut", cfg)
    with pytest.raises(loop.Interrupted):
        r.train(lambda e: None, lambda: 2 if entries else 0)
    assert 0 < len(entries) < 100
    assert "gradcheck" not in record.read_record(tmp_path / "cut")
    monkeypatch.setattr(gradcheck, "numerical_grad", numerical)
    loop.Run.resume(tmp_path / "cut").train(lambda e: None)
    whole = record.read_record(tmp_path / "whole")
    assert record.read_record(tmp_path / "cut") == whole and "gradcheck" in whole

"""Sweeps on a Dask cluster: a tiny sweep end to end, skipping finished runs,
exact resumption, divergence recorded once, and the shared-folder check."""

import json
import os

import pytest

from charnn.cli import main
from charnn.run import loop as train
from charnn.run.loop import cores
from charnn.sweep import folder as sf
from charnn.sweep import load_spec

distributed = pytest.importorskip("distributed")
from charnn.errors import SweepError  # noqa: E402
from charnn.sweep.execute import check_workers, execute  # noqa: E402

GRID = "seed = [0, 1, 2]\n{base}[grid]\nlr = [0.05, 0.1]\n"


def serial(sweep, name, tmp_path):
    """The same run trained here, in this process, from scratch."""
    spec = next(r for r in sweep.runs if r.name == name)
    r = train.Run.start(tmp_path / "serial" / name, spec.config)
    r.train(lambda e: None)
    return tmp_path / "serial" / name


def test_tiny_sweep_from_the_command_line(
    write_spec, base, tmp_path, capsys, same_run, warm_engine
):
    spec = write_spec(GRID.format(base=base))
    out = tmp_path / "out"
    workers = str(min(2, cores()))
    assert main(["sweep", str(spec), "--out", str(out), "--workers", workers]) == 0
    stdout, stderr = capsys.readouterr()
    assert "Dask cluster: 2 workers" in stderr and "run 6/6" in stderr
    assert "1. lr=0.1" in stdout and f"summary: {out / 'summary.html'}" in stdout
    for name in ("summary.csv", "summary.md", "summary.html", "summary.png", "sweep.json"):
        assert (out / name).is_file(), name
    sweep = load_spec(spec)
    for r in sweep.runs:
        assert sf.read_status(out / "runs" / r.name)["status"] == "finished"
    same_run(out / "runs" / "lr-0.1_seed-2", serial(sweep, "lr-0.1_seed-2", tmp_path))

    assert main(["compare", str(out), "--out", str(tmp_path / "cmp")]) == 0  # a sweep folder
    table = (tmp_path / "cmp" / "compare.md").read_text(encoding="utf-8")
    assert all(r.name.replace("_", "\\_") in table for r in sweep.runs)
    capsys.readouterr()

    stamps = {p: p.stat().st_mtime_ns for p in out.glob("runs/*/checkpoint.npz")}
    assert main(["sweep", str(spec), "--out", str(out)]) == 0  # again: nothing to do
    stdout, stderr = capsys.readouterr()
    assert "6 of 6 runs already done" in stderr and "Dask cluster" not in stderr
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps

    write_spec(GRID.format(base=base).replace("0.05", "0.2"))
    assert main(["sweep", str(spec), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds a sweep made from another spec: its grid differs" in err


def test_interrupted_run_resumes_exactly(write_spec, base, tmp_path, cluster, same_run):
    spec = write_spec("seed = [0, 1]\n" + base)
    sweep, out = load_spec(spec), tmp_path / "out"
    sf.prepare(out, sweep, spec.read_bytes())
    cut = train.Run.start(out / "runs" / "seed-1", sweep.runs[1].config)
    with pytest.raises(train.Interrupted):
        cut.train(lambda e: None, lambda: 15 if cut.state.update >= 150 else 0)
    assert sf.read_status(out / "runs" / "seed-1")["status"] == "partial"
    events = []
    rows = execute(sweep, out, spec.read_bytes(), scheduler=cluster, report=events.append)
    assert [r["status"] for r in rows] == ["finished", "finished"]
    assert [r["updates"] for r in rows] == [300, 300]
    assert events[0].kind == "skip" and events[0].count == 0
    assert events[1].kind == "cluster" and events[1].workers == 2
    assert sorted(e.row["name"] for e in events[2:]) == ["seed-0", "seed-1"]
    same_run(out / "runs" / "seed-1", serial(sweep, "seed-1", tmp_path))


def test_diverged_run_is_recorded_once(write_spec, base, tmp_path, cluster):
    spec = write_spec(base + "clip = 0.0\n[grid]\nlr = [0.1, 1e6]\n")
    sweep, out = load_spec(spec), tmp_path / "out"
    rows = execute(sweep, out, spec.read_bytes(), scheduler=cluster)
    assert [r["status"] for r in rows] == ["finished", "diverged"]
    assert "training diverged at update" in rows[1]["message"]
    # no final model, and the untrained model's validation is no result of it
    assert rows[1]["final_val_bpc"] is None and rows[1]["best_val_bpc"] is None
    assert rows[0]["final_val_bpc"] is not None
    # a finished run's best by validation is the one its end scored
    best = json.loads((out / "runs" / rows[0]["name"] / "outcome.json").read_text())["best_val"]
    assert rows[0]["best_val_bpc"] == best["val_bpc"]
    events = []
    again = execute(sweep, out, spec.read_bytes(), scheduler=cluster, report=events.append)
    assert [e.kind for e in events] == ["skip"] and events[0].count == 2
    assert [r["status"] for r in again] == ["finished", "diverged"]


def test_workers_must_see_the_sweep_folder(write_spec, base, tmp_path, cluster):
    spec = write_spec(base)
    out = tmp_path / "out"
    token = sf.prepare(out, load_spec(spec), spec.read_bytes())
    with distributed.Client(cluster) as client:
        assert check_workers(client, out, token) == 2
        with pytest.raises(
            SweepError, match="sees a different folder at .*2 of 2 workers.*filesystem they share"
        ):
            check_workers(client, out, "another token")
        with pytest.raises(SweepError, match="cannot read .*sweep.json"):
            check_workers(client, tmp_path / "elsewhere", token)


def test_workers_option_checks(write_spec, base, tmp_path, capsys):
    spec = write_spec(base)
    assert main(["sweep", str(spec), "--out", str(tmp_path / "o"), "--workers", "0"]) == 2
    assert "--workers must be a positive integer" in capsys.readouterr().err
    many = str(cores() + 1)
    assert main(["sweep", str(spec), "--out", str(tmp_path / "o"), "--workers", many]) == 2
    assert f"--workers {many} is more than the {cores()} cores" in capsys.readouterr().err
    assert (
        main(
            [
                "sweep",
                str(spec),
                "--out",
                str(tmp_path / "o"),
                "--workers",
                "2",
                "--scheduler",
                "tcp://127.0.0.1:1",
            ]
        )
        == 2
    )
    assert "--workers sizes the local cluster" in capsys.readouterr().err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    assert main(["sweep", str(spec), "--out", str(tmp_path / "full")]) == 2
    assert "is not empty and holds no sweep" in capsys.readouterr().err


def test_a_run_in_use_elsewhere_fails_and_is_retried_next_time(write_spec, base, tmp_path, cluster):
    from charnn.run.lock import RunLock

    spec = write_spec("seed = [0, 1]\n" + base)
    sweep, out = load_spec(spec), tmp_path / "out"
    sf.prepare(out, sweep, spec.read_bytes())
    folder = out / "runs" / "seed-0"
    train.Run.start(folder, sweep.runs[0].config).close()  # stopped before its first update
    with RunLock(folder):  # another writer, as a worker the scheduler gave up on would be
        rows = execute(sweep, out, spec.read_bytes(), scheduler=cluster)
    assert [r["status"] for r in rows] == ["failed", "finished"]
    assert f"in use by another charnn process (pid {os.getpid()})" in rows[0]["message"]
    rows = execute(sweep, out, spec.read_bytes(), scheduler=cluster)
    assert [r["status"] for r in rows] == ["finished", "finished"]


def test_a_second_sweep_on_the_folder_is_refused_whole(write_spec, base, tmp_path, capsys):
    """Two drivers on one sweep folder would each mark the other's runs failed
    in summary.csv: the second is refused before it touches anything."""
    from charnn.errors import CheckpointError
    from charnn.run.lock import RunLock

    spec = write_spec("seed = [0, 1]\n" + base)
    sweep, out = load_spec(spec), tmp_path / "out"
    out.mkdir()
    with RunLock(out):  # the first driver
        with pytest.raises(CheckpointError, match="in use by another charnn process"):
            execute(sweep, out, spec.read_bytes(), workers=1)
        assert main(["sweep", str(spec), "--out", str(out)]) == 2
    assert "in use by another charnn process" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == [".lock"]  # nothing written
    # a folder holding only the lock (a start that stopped there) is still a new sweep
    sf.prepare(out, sweep, spec.read_bytes())
    assert sf.is_sweep(out)


@pytest.mark.parametrize("where", ["warming the kernels", "writing the summary"])
def test_ctrl_c_outside_the_cluster_says_how_to_continue(
    write_spec, base, tmp_path, capsys, monkeypatch, where
):
    """A Ctrl-C while the kernels are compiled, or while the summary is
    written, is one line that says how to go on, as one during the runs is
    (it used to be a bare 'charnn sweep: interrupted')."""
    import charnn.cli.sweep as cli
    import charnn.sweep.execute as ex
    import charnn.sweep.summary as summary

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    if where == "warming the kernels":
        monkeypatch.setattr(cli, "_warm_local", ctrl_c)
    else:
        monkeypatch.setattr(ex, "execute", lambda *args, **kwargs: [])
        monkeypatch.setattr(summary, "write_summary", ctrl_c)
    spec, out = write_spec("seed = [0]\n" + base), tmp_path / "out"
    assert main(["sweep", str(spec), "--out", str(out), "--quiet"]) == 130
    assert capsys.readouterr().err == (
        f"charnn sweep: interrupted; run the same command again to continue the sweep in {out}\n"
    )


def test_dask_logs_are_silenced_until_the_local_cluster_is_closed(monkeypatch):
    """What the cluster logs while it closes (workers ended by a SIGTERM sent
    to the process group: 'Batched Comm Closed' and a traceback) comes after
    the cluster's own silence_logs is lifted; the sweep's silence outlasts it."""
    import logging
    from contextlib import contextmanager

    import charnn.sweep.local as local
    from charnn.sweep.execute import connect

    levels = []

    @contextmanager
    def cluster(n):
        yield None
        levels.append(logging.getLogger("distributed.batched").getEffectiveLevel())

    monkeypatch.setattr(local, "local_cluster", cluster)
    before = logging.getLogger("distributed").level
    with connect(distributed, 1, None):
        pass
    assert levels == [logging.CRITICAL]
    assert logging.getLogger("distributed").level == before

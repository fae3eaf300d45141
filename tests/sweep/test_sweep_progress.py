"""The sweep's progress lines: the best result so far, over every run done."""

from types import SimpleNamespace

from charnn.cli.sweep import SweepProgress


def _row(name, value, status="finished"):
    return {"name": name, "status": status, "final_val_bpc": value, "min_smooth_bpc": 9.0}


def test_the_best_so_far_counts_the_runs_done_before_a_resumed_sweep(capsys):
    progress = SweepProgress(4, quiet=False)
    done = [_row("a", 3.0944), _row("b", 3.2)]
    progress(SimpleNamespace(kind="skip", count=2, rows=done))
    progress(SimpleNamespace(kind="run", row=_row("c", 3.0963)))
    progress(SimpleNamespace(kind="run", row=_row("d", 1.0, status="failed")))
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "2 of 4 runs already done; they are kept as they are"
    assert lines[1] == "run 3/4 c: finished 3.0963; best a 3.0944"
    assert lines[2].startswith("run 4/4 d: failed") and lines[2].endswith("best a 3.0944")

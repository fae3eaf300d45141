"""The run folder's metrics written a column at a time and read back by
NumPy, against the row-wise writer and the csv reader; the time split."""

import math

import numpy as np
import pytest

from charnn.errors import CheckpointError
from charnn.run import rundir, timing


def test_metric_columns_write_what_rows_write(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    losses = np.array([4.25, 1 / 3, 2e-17])
    smooth = [4.25, 4.2, 1e300]
    rows = [
        {"update": 7 + i, "epoch": 2, "loss": float(x), "smooth_loss": s, "elapsed_s": 1.5}
        for i, (x, s) in enumerate(zip(losses, smooth))
    ]
    rundir.append_metrics(a, rows)
    rundir.append_metrics(a, [{"update": 9, "epoch": 2, "val_bpc": 1.25, "val_nats": math.nan}])
    columns = {"update": np.arange(7, 10), "epoch": 2, "loss": losses, "smooth_loss": smooth}
    rundir.append_metric_columns(b, {**columns, "elapsed_s": 1.5}, 3)
    rundir.append_metric_columns(b, {"update": 9, "epoch": 2, "val_bpc": 1.25}, 1)
    text = (a / rundir.METRICS).read_text()
    assert text == (b / rundir.METRICS).read_text()
    assert text.splitlines()[2] == "8,2,0.3333333333333333,4.2,,,1.5,,,"  # no rate, no bpc


def test_metric_columns_with_gaps_write_what_rows_write(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    loss = np.array([2.5, math.nan, -0.0, math.inf, 1e-300])  # NaN cells are empty
    val = [None, 0.1 + 0.2, None, 7, 1e16]
    rows = [
        {"update": 3 + i, "epoch": 1, "loss": float(x), "val_bpc": v, "elapsed_s": 100.0}
        for i, (x, v) in enumerate(zip(loss, val))
    ]
    rundir.append_metrics(a, rows)
    cols = {"update": np.arange(3, 8), "epoch": 1, "loss": loss, "val_bpc": val, "elapsed_s": 100.0}
    rundir.append_metric_columns(b, cols, 5)
    text = (a / rundir.METRICS).read_text()
    assert text == (b / rundir.METRICS).read_text()
    assert text.splitlines()[2:4] == ["4,1,,,,0.30000000000000004,100.0,,,", "5,1,-0.0,,,,100.0,,,"]


def test_metric_columns_read_what_csv_reads(tmp_path):
    rundir.append_metric_columns(
        tmp_path, {"update": [1, 2], "epoch": 0, "loss": [3.5, 2.5], "smooth_loss": [3.5, 3.499]}, 2
    )
    rundir.append_metrics(tmp_path, [{"update": 2, "epoch": 0, "val_nats": 0.7, "val_bpc": 1.01}])
    cols = rundir.read_metric_columns(tmp_path)
    rows = rundir.read_metrics(tmp_path)
    assert list(cols) == list(rundir.METRIC_FIELDS) and len(cols["update"]) == len(rows) == 3
    for i, row in enumerate(rows):
        for k, v in row.items():
            assert (math.isnan(cols[k][i]) and v is None) or cols[k][i] == v, (i, k)
    assert rundir.read_metric_columns(tmp_path / "nothing")["loss"].size == 0


@pytest.mark.parametrize("bad", ["3,0,1.5\n", "4,zero,,,,,,\n", "4.5,0,1,1,,,1,\n"])
def test_metric_columns_name_a_damaged_line(tmp_path, bad):
    rundir.append_metric_columns(tmp_path, {"update": [1], "epoch": 0, "loss": [3.5]}, 1)
    with open(tmp_path / rundir.METRICS, "a") as f:
        f.write(bad)
    with pytest.raises(CheckpointError, match="line 3 is damaged"):
        rundir.read_metric_columns(tmp_path)


def test_split_accounts_for_the_wall_time():
    clock = timing.Stopwatch()
    with clock.part("updates"):
        sum(range(200_000))
    with clock.part("plot"):
        pass
    split = clock.split(updates=5)
    parts = split["parts"]
    assert set(parts) == set(timing.PARTS) and parts["updates"] > 0
    assert abs(sum(parts.values()) + split["other_s"] - split["wall_s"]) < 1e-3
    assert 0 < split["updates_fraction"] <= 1 and split["updates"] == 5
    line = timing.format_split(split)
    assert line.startswith("time ") and "updates" in line and "other" in line
    assert timing.process_start() <= clock.start

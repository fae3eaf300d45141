"""The numbers of a sweep from its run folders: rows, means and spreads over
seeds, ranking, which differences exceed the seed spread, and the files."""

import csv
import math
import statistics

import pytest

from charnn.run import rundir
from charnn.sweep import folder as sf
from charnn.sweep import load_spec
from charnn.sweep import summary as sm

# Final validation bits/char per (lr, seed); None: the run diverged.
FINAL = {
    (0.05, 0): 2.0,
    (0.05, 1): 2.1,
    (0.05, 2): 2.2,
    (0.1, 0): 1.0,
    (0.1, 1): 1.1,
    (0.1, 2): 1.2,
    (0.2, 0): 1.05,
    (0.2, 1): None,
    (0.2, 2): 1.25,
}


def fake_run(folder, final, seed):
    """A run folder whose metrics end at `final` bits/char (or diverge)."""
    folder.mkdir(parents=True)
    rows = [{"update": 0, "epoch": 0, "val_bpc": 4.0, "val_nats": 4.0 * math.log(2)}]
    rows += [
        {"update": u, "epoch": 0, "loss": 30.0 - u, "smooth_loss": 30.0 - u / 2 - seed}
        for u in (1, 2, 3)
    ]
    if final is not None:
        rows.append({"update": 3, "epoch": 0, "val_bpc": final, "elapsed_s": 1.5})
    rundir.append_metrics(folder, rows)
    sf.write_status(
        folder,
        "finished" if final is not None else "diverged",
        message="" if final is not None else "training diverged at update 3",
    )


@pytest.fixture
def sweep_dir(write_spec, base, tmp_path):
    sweep = load_spec(write_spec("seed = [0, 1, 2]\n" + base + "[grid]\nlr = [0.05, 0.1, 0.2]\n"))
    out = tmp_path / "out"
    sf.prepare(out, sweep, b"spec")
    for r in sweep.runs:
        fake_run(sf.run_folder(out, r.name), FINAL[(r.config.lr, r.config.seed)], r.config.seed)
    return sweep, out


def test_rows_and_ranking(sweep_dir):
    sweep, out = sweep_dir
    rows = sm.collect(sweep, out)
    assert [(r["lr"], r["seed"], r["status"]) for r in rows][3:6] == [
        (0.1, 0, "finished"),
        (0.1, 1, "finished"),
        (0.1, 2, "finished"),
    ]
    assert rows[7]["status"] == "diverged" and "diverged at update 3" in rows[7]["message"]
    # bits/char like the other figures: 28.5 nats per sequence of T = 10
    assert rows[0]["updates"] == 3 and rows[0]["min_smooth_bpc"] == 28.5 / (10 * math.log(2))
    assert rows[0]["final_val_bpc"] == 2.0 and rows[0]["best_val_bpc"] == 2.0
    ranked, metric = sm.settings(sweep, rows)
    assert metric == "final_val_bpc"
    assert [s.label for s in ranked] == ["lr=0.1", "lr=0.2", "lr=0.05"]
    best, mid, worst = (s.stats[metric] for s in ranked)
    assert (best.n, mid.n, worst.n) == (3, 2, 3)
    assert best.mean == pytest.approx(1.1) and best.std == pytest.approx(0.1)
    assert mid.mean == pytest.approx(1.15) and mid.std == pytest.approx(
        statistics.stdev([1.05, 1.25])
    )
    assert ranked[1].counts == {"finished": 2, "diverged": 1}
    se = math.sqrt(mid.std**2 / 2 + 0.01 / 3)
    assert ranked[1].delta == pytest.approx(0.05) and ranked[1].se == pytest.approx(se)
    assert ranked[1].clear is False  # 0.05 < 2 SE: within the seed spread
    assert ranked[2].delta == pytest.approx(1.0) and ranked[2].clear is True
    assert ranked[0].clear is None and math.isnan(ranked[0].delta)


def test_known_rows_are_not_read_again(sweep_dir):
    sweep, out = sweep_dir
    first, third = sweep.runs[0].name, sweep.runs[2].name
    known = {first: sm.run_row(sf.run_folder(out, first), first, 10)}
    (sf.run_folder(out, first) / rundir.METRICS).unlink()  # its task returned the row
    rows = sm.collect(sweep, out, failed={third: "its worker died"}, known=known)
    assert rows[0] == {"lr": 0.05, "seed": 0, "setting": "lr=0.05", **known[first]}
    assert rows[0]["final_val_bpc"] == 2.0 and rows[0]["updates"] == 3
    assert rows[2]["status"] == "failed" and rows[2]["message"] == "its worker died"
    assert rows[2]["final_val_bpc"] == 2.2  # read from its folder
    assert sm.collect(sweep, out)[0]["updates"] == 0  # read: the metrics are gone


def test_one_seed_cannot_tell(write_spec, base, tmp_path):
    sweep = load_spec(write_spec(base + "[grid]\nlr = [0.05, 0.1]\n"))
    out = tmp_path / "one"
    sf.prepare(out, sweep, b"spec")
    for r, final in zip(sweep.runs, (2.0, 1.0)):
        fake_run(sf.run_folder(out, r.name), final, 0)
    ranked, _ = sm.settings(sweep, sm.collect(sweep, out))
    assert [s.label for s in ranked] == ["lr=0.1", "lr=0.05"]
    assert ranked[1].delta == pytest.approx(1.0) and ranked[1].clear is None
    assert math.isnan(ranked[0].stats["final_val_bpc"].std)


def test_settings_on_other_texts_are_not_called_worse(write_spec, base, tmp_path):
    """Settings that differ in val_fraction hold out different texts: the
    ranking says so, and calls no one "clearly worse" than the best."""
    sweep = load_spec(write_spec("seed = [0, 1]\n" + base + "[grid]\nval_fraction = [0.05, 0.2]\n"))
    out = tmp_path / "vf"
    sf.prepare(out, sweep, b"spec")
    finals = {(0.05, 0): 2.0, (0.05, 1): 2.01, (0.2, 0): 1.0, (0.2, 1): 1.01}
    for r in sweep.runs:
        fake_run(sf.run_folder(out, r.name), finals[(r.config.val_fraction, r.config.seed)], 0)
    ranked, _ = sm.settings(sweep, sm.collect(sweep, out))
    assert ranked[1].other_text and ranked[1].clear is None
    assert ranked[1].delta == pytest.approx(1.0)  # shown, but not judged
    assert "differ in val_fraction" in sm.text_warning(sweep)
    html = sm.write_summary(sweep, sm.collect(sweep, out), out).read_text()
    assert (
        "on another text: not comparable" in html
        and "clearly worse" not in html.split("A Δ larger than 2 SE is marked clearly worse")[1]
    )
    lr_sweep = load_spec(write_spec("seed = [0, 1]\n" + base + "[grid]\nlr = [0.1, 0.2]\n"))
    assert sm.text_warning(lr_sweep) is None


def test_a_finished_run_worse_than_uniform_is_named(tmp_path):
    """Finished is not learned: a run whose final validation is worse than
    uniform guessing (an optimizer step too large to diverge by the smoothed
    loss) is named in the overview."""
    from charnn.report.render import Para
    from charnn.report.sweep import SweepPage, overview

    row = {"name": "lr=1-s0", "status": "finished", "final_val_bpc": 13.2, "uniform_bpc": 5.93}
    ok = {**row, "name": "lr=0.01-s0", "final_val_bpc": 3.1}
    page = SweepPage(tmp_path, [0], {"lr": [1, 0.01]}, {}, {}, "final_val_bpc", [], {}, [row, ok])
    texts = [b.text for b in overview(page).blocks if isinstance(b, Para)]
    assert any("lr=1-s0: finished, but its final validation (13.2000" in t for t in texts)
    assert not any("lr=0.01-s0: finished" in t for t in texts)


def test_curves_band(sweep_dir):
    sweep, out = sweep_dir
    bands = sm.curves(sweep, out, sm.collect(sweep, out))
    xs, mean, lo, hi = bands["lr=0.1"]["val"]
    assert xs == [0, 3]
    assert mean == pytest.approx([4.0, 1.1]) and lo == [4.0, 1.0] and hi == [4.0, 1.2]
    xs, mean, _, _ = bands["lr=0.2"]["smooth"]  # the diverged run is left out
    assert xs == [1, 2, 3] and mean[0] == pytest.approx((29.5 - 1.0) / (10 * math.log(2)))


def test_summary_files(sweep_dir):
    sweep, out = sweep_dir
    html = sm.write_summary(sweep, sm.collect(sweep, out), out)
    with open(out / "summary.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 9
    assert list(table[0]) == ["lr", *sm.CSV_TAIL]
    assert table[4] == {
        "lr": "0.1",
        "seed": "1",
        "status": "finished",
        "updates": "3",
        "final_val_bpc": "1.1",
        "best_val_bpc": "1.1",
        "min_smooth_bpc": repr(27.5 / (10 * math.log(2))),
        "wall_time_s": "1.5",
        "name": "lr-0.1_seed-1",
    }
    # a diverged run has no final model; its one validation, of the untrained model, is no result
    assert table[7]["status"] == "diverged"
    assert table[7]["final_val_bpc"] == table[7]["best_val_bpc"] == ""
    md = (out / "summary.md").read_text(encoding="utf-8")
    assert "| **1** | **lr=0.1** | **3 finished** | **1.1000 ± 0.1000** |" in md
    assert "| 2 | lr=0.2 | 2 finished, 1 diverged | 1.1500 ± 0.1414 |" in md
    assert "+0.0500 | 0.1155 | within the seed spread |" in md
    assert "+1.0000 | 0.0816 | clearly worse |" in md
    assert "![validation bits per character" in md and (out / "summary.png").stat().st_size > 0
    page = html.read_text(encoding="utf-8")
    assert "clearly worse" in page and "data:image/png;base64," in page


def test_without_validation_settings_of_different_lengths_rank_by_bits_per_char(
    write_spec, base, tmp_path
):
    """The smoothed loss is logged per sequence: 40 nats over 40 characters
    is better than 20 over 10. Ranked and shown per character, it is."""
    no_val = base.replace("[base]\n", "[base]\nval_fraction = 0\n")
    sweep = load_spec(write_spec("seed = [0, 1]\n" + no_val + "[grid]\nseq_length = [10, 40]\n"))
    out = tmp_path / "out"
    sf.prepare(out, sweep, b"spec")
    for r in sweep.runs:
        folder = sf.run_folder(out, r.name)
        folder.mkdir(parents=True)
        per_seq = 20.0 if r.config.seq_length == 10 else 40.0
        rows = [{"update": 1, "epoch": 0, "loss": per_seq, "smooth_loss": per_seq + r.config.seed}]
        rundir.append_metrics(folder, rows)
        sf.write_status(folder, "finished")
    rows = sm.collect(sweep, out)
    ranked, metric = sm.settings(sweep, rows)
    assert metric == "min_smooth_bpc"
    assert [s.label for s in ranked] == ["seq_length=40", "seq_length=10"]
    assert ranked[0].stats[metric].mean == pytest.approx((40.5 / 40) / math.log(2))
    assert ranked[1].stats[metric].mean == pytest.approx((20.5 / 10) / math.log(2))


def test_a_sweep_whose_runs_all_failed_ranks_nothing(sweep_dir):
    """No setting is called best without a finished run, and the basis stays
    the validation the spec holds out (it switched to the smoothed loss)."""
    sweep, out = sweep_dir
    failed = {r.name: "its worker died" for r in sweep.runs}
    ranked, metric = sm.settings(sweep, sm.collect(sweep, out, failed=failed))
    assert metric == "final_val_bpc"
    assert all(s.rank == 0 for s in ranked)
    from charnn.cli.sweep import ranking_lines
    from charnn.report.sweep import verdict

    assert {verdict(s) for s in ranked} == {"no finished run"}
    text = ranking_lines(sweep, sm.collect(sweep, out, failed=failed))
    assert "best" not in text.split("\n", 1)[1] and "no finished run" in text


def test_settings_with_and_without_validation_rank_by_what_all_have(write_spec, base, tmp_path):
    """One setting holding out no text has no validation figure: the ranking
    uses the smoothed training loss, which every run has (it called such a
    setting 'no finished run')."""
    sweep = load_spec(write_spec("seed = [0]\n" + base + "[grid]\nval_fraction = [0.0, 0.1]\n"))
    out = tmp_path / "out"
    sf.prepare(out, sweep, b"spec")
    for r in sweep.runs:
        fake_run(sf.run_folder(out, r.name), 1.5 if r.config.val_fraction else None, 0)
        sf.write_status(sf.run_folder(out, r.name), "finished")
    ranked, metric = sm.settings(sweep, sm.collect(sweep, out))
    assert metric == "min_smooth_bpc" and [s.rank for s in ranked] == [1, 2]

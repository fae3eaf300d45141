"""The command line in-process: every promised file, and one clear line for
every bad input (the README's troubleshooting table mirrors BAD_INPUTS)."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from charnn import cli
from charnn.run import loop, rundir
from checkpoint_files import npy_bytes, rewrite

SMALL = [
    "--hidden",
    "8",
    "--seq-length",
    "10",
    "--updates",
    "40",
    "--eval-every",
    "20",
    "--sample-every",
    "20",
    "--sample-length",
    "30",
    "--checkpoint-every",
    "20",
    "--engine",
    "reference",
    "--quiet",
]


@pytest.fixture
def run(tmp_path, text_file, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", str(text_file), "--out", str(out), *SMALL]) == 0
    capsys.readouterr()
    return out


def one_error_line(capsys, rc, code=2):
    err = capsys.readouterr().err
    assert rc == code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_train_writes_run_and_prints_summary(tmp_path, text_file, capsys):
    out = tmp_path / "r"
    rc = cli.main(["train", str(text_file), "--out", str(out), *SMALL[:-1]])
    printed = capsys.readouterr().out
    assert rc == 0
    assert "--- sample after 20 updates" in printed and "--- the best model" in printed
    assert "done: 40 updates" in printed
    for name in (
        "config.json",
        "checkpoint.npz",
        "best.npz",
        "metrics.csv",
        "samples.jsonl",
        "best_200.txt",
        "best_1000.txt",
        "loss.png",
    ):
        assert (out / name).stat().st_size > 0, name
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_signal_once_the_run_is_complete_lets_its_plot_and_timing_be_written(
    tmp_path, text_file, capsys, monkeypatch
):
    """outcome.json is written: the run is complete, and a Ctrl-C then (while
    the plot and timing.json are written, a fraction of a second) no longer
    ends the command as interrupted with timing.json missing."""
    import os
    import signal

    from charnn.cli import train

    write = train.rundir.write_json

    def ctrl_c_first(path, obj):
        if path.name == rundir.TIMING:
            os.kill(os.getpid(), signal.SIGINT)
        write(path, obj)

    monkeypatch.setattr(train.rundir, "write_json", ctrl_c_first)
    out = tmp_path / "r"
    assert cli.main(["train", str(text_file), "--out", str(out), *SMALL]) == 0
    assert "done: " in capsys.readouterr().out
    assert (out / rundir.TIMING).exists() and (out / "loss.png").exists()


def test_timing_json_is_only_that_of_the_last_process_if_it_finished(run, capsys):
    """A resume that trains further drops the old process's timing.json: a
    stop or a kill before the new end leaves none, not a split of another
    process; a complete run resumed keeps its own."""
    timing = (run / rundir.TIMING).read_bytes()
    assert cli.main(["train", "--resume", str(run), "--quiet"]) == 0  # nothing to do
    assert (run / rundir.TIMING).read_bytes() == timing
    loop.Run.resume(run, {"updates": 60}).close()  # as if killed once started
    assert not (run / rundir.TIMING).exists()
    assert cli.main(["train", "--resume", str(run), "--updates", "60", "--quiet"]) == 0
    assert json.loads((run / rundir.TIMING).read_text())["updates"] == 20


def test_resume_extends_and_complete_run_is_left_alone(run, capsys):
    assert cli.main(["train", "--resume", str(run), "--updates", "60", "--quiet"]) == 0
    assert "done: 60 updates" in capsys.readouterr().out
    before = (run / "best_1000.txt").read_text()
    assert cli.main(["train", "--resume", str(run), "--quiet"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert (run / "best_1000.txt").read_text() == before


def test_gradcheck_table(text_file, capsys):
    assert cli.main(["gradcheck", str(text_file), "--hidden", "4", "--seq-length", "6"]) == 0
    out = capsys.readouterr().out
    for name in ("W", "U", "V", "b", "c", "h0"):
        assert f"\n{name} " in out
    assert out.count("  pass\n") == 6 and "all gradients pass" in out
    assert "relative error |a - n| / max(|a| + |n|, 0.0001 s)" in out


def test_gradcheck_says_which_gradients_are_too_small_to_judge(capsys):
    args = ["gradcheck", "--cell", "lstm", "--layers", "3", "--sig", "0.01", "--seq-length", "2"]
    assert cli.main([*args, "--max-entries", "60"]) == 0
    out = capsys.readouterr().out
    assert "  unresolved\n" in out and "FAIL" not in out
    assert "no gradient fails: " in out and "unresolved: they differ" in out
    assert "a larger --sig" in out


def test_evaluate_json(run, text_file, tmp_path, capsys):
    other = tmp_path / "other.txt"
    other.write_text("the sea of troubles§§", encoding="utf-8")
    assert cli.main(["evaluate", str(run), str(other), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["skipped"] == 2 and res["characters"] == 18
    assert res["bits_per_char"] == pytest.approx(res["nats_per_char"] / np.log(2))


def test_a_model_whose_finite_weights_overflow(run, text_file, capsys):
    """Finite weights whose logits overflow: evaluate's loss is not finite
    and --json writes null (with the warning), not NaN; sample stops with
    one line instead of drawing the first character over and over."""
    best = np.load(run / "best.npz")
    change = {"p_V": 1e308, "p_W": 0.0, "p_b": 1.0}  # h > 0 at every step: V h = inf
    arrays = {f"{k}.npy": npy_bytes(np.full_like(best[k], v)) for k, v in change.items()}
    rewrite(run / "best.npz", change_arrays=arrays)
    assert cli.main(["sample", str(run), "--length", "20"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err  # the model's name, then the error
    assert "error: the model's output is not finite (its weights" in err.splitlines()[-1]
    assert cli.main(["evaluate", str(run), str(text_file), "--json"]) == 0
    out = capsys.readouterr().out
    res = json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} in {out}"))
    assert res["bits_per_char"] is None and res["nats_per_char"] is None
    assert "not finite" in res["warning"]


def test_plot_command(run, capsys):
    (run / "loss.png").unlink()
    assert cli.main(["plot", str(run)]) == 0
    assert (run / "loss.png").exists()


def corpus_cases(tmp_path):
    files = {
        "empty": b"",
        "utf8": b"ok\xc3\x28text",
        "nul": b"abc\x00def",
        "short": b"abcdef",
        "single": b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    }
    for name, data in files.items():
        (tmp_path / f"{name}.txt").write_bytes(data)
    return [
        (tmp_path / "missing.txt", "not found"),
        (tmp_path, "is a directory"),
        (tmp_path / "empty.txt", "empty"),
        (tmp_path / "utf8.txt", "not valid UTF-8: bad byte 0xc3 at offset 2"),
        (tmp_path / "nul.txt", "NUL byte at offset 3"),
        (tmp_path / "short.txt", "at least 11 are needed"),
        (tmp_path / "single.txt", "single distinct character"),
        ("no-such-corpus", "unknown corpus"),
    ]


def test_bad_corpora(tmp_path, capsys):
    for path, message in corpus_cases(tmp_path):
        rc = cli.main(["train", str(path), "--out", str(tmp_path / "o"), "--seq-length", "10"])
        assert message in one_error_line(capsys, rc), path
        assert not (tmp_path / "o").exists()


BAD_FLAGS = [
    ("--hidden", "0", "positive integer"),
    ("--hidden", "x", "invalid int"),
    ("--seq-length", "-1", "positive integer"),
    ("--lr", "0", "> 0"),
    ("--lr", "nan", "finite"),
    ("--lr", "abc", "invalid float"),
    ("--eps=-1e-8", None, "> 0"),
    ("--clip", "-5", ">= 0"),
    ("--updates", "-3", ">= 0"),
    ("--epochs", "-1", ">= 0"),
    ("--sample-length", "-2", ">= 0"),
    ("--sample-every", "0", "positive integer"),
    ("--eval-every", "0", "positive integer"),
    ("--checkpoint-every", "0", "positive integer"),
    ("--batch-size", "0", "positive integer"),
    ("--val-fraction", "1", "[0, 1)"),
    ("--val-fraction", "-0.1", "[0, 1)"),
    ("--optimizer", "sgdx", "choose from 'adagrad', 'rmsprop', 'adam'"),
    ("--dtype", "float16", "choose from 'float64', 'float32'"),
    ("--sig", "-1", "--sig must be in [0, 10]"),
    ("--sig", "1e300", "--sig must be in [0, 10]"),
    ("--hidden", "1000000", "(K = 27) would need 52,157 GiB of memory"),
    ("--sample-length", "10000000000000", "--sample-length 10,000,000,000,000 would need"),
    ("--beta1", "1.0", "[0, 1)"),
    ("--updates", "0", "nothing to do"),
    ("--batch-size", "1000", "too short"),
]


@pytest.mark.parametrize("flag, value, message", BAD_FLAGS)
def test_bad_train_flags(tmp_path, text_file, capsys, flag, value, message):
    rc = cli.main(
        ["train", str(text_file), "--out", str(tmp_path / "o"), "--seq-length", "10", flag]
        + ([value] if value is not None else [])
    )
    assert message in one_error_line(capsys, rc)
    assert not (tmp_path / "o" / "config.json").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--temperature", "-1"], "--temperature must be a finite number >= 0"),
        (["--temperature", "inf"], "--temperature must be a finite number >= 0"),
        (["--temperature", "nan"], "--temperature must be a finite number >= 0"),
        (["--top-k", "-1"], "--top-k must be an integer >= 0"),
        (["--top-k", str(10**30)], "--top-k must be an integer >= 0 and below 2**63"),
        (["--top-p", "0"], "--top-p must be in (0, 1]"),
        (["--top-p", "1.5"], "--top-p must be in (0, 1]"),
        (["--top-p", "nan"], "--top-p must be in (0, 1]"),
        (["--length", "-1"], "--length must be an integer >= 0"),
        (["--length", "10000000000000"], "--length 10,000,000,000,000 would need 223,517 GiB"),
        (["--seed", "-1"], "--seed must be an integer >= 0"),
        (["--prime", "Zebra\u2603"], "not in the model's vocabulary: 'Z', '\u2603'"),
        (["--prime", "ab\udcff"], "--prime holds byte 0xff, which is not UTF-8 text"),
        (["--checkpoint", "newest"], "invalid choice"),
    ],
)
def test_bad_sample_options(run, capsys, args, message):
    assert message in one_error_line(capsys, cli.main(["sample", str(run), *args]))


def test_out_targets(tmp_path, text_file, run, capsys):
    before = (run / "checkpoint.npz").read_bytes()
    rc = cli.main(["train", str(text_file), "--out", str(run), *SMALL])
    assert "already holds a run" in one_error_line(capsys, rc)
    assert (run / "checkpoint.npz").read_bytes() == before
    rc = cli.main(["train", str(text_file), "--out", str(text_file), *SMALL])
    assert "is a file" in one_error_line(capsys, rc)
    rc = cli.main(["train", str(text_file), "--out", str(text_file / "sub"), *SMALL])
    assert "cannot write" in one_error_line(capsys, rc)
    rc = cli.main(["train", str(text_file), *SMALL])
    assert "give --out" in one_error_line(capsys, rc)


def test_a_new_run_does_not_adopt_the_logs_of_another(tmp_path, text_file, run, capsys):
    """A folder with a run's logs but neither config.json nor checkpoint.npz
    (a run half deleted, or a user's files under those names) is refused: a
    new run would append its rows to the old metrics.csv and samples."""
    stale = tmp_path / "stale"
    shutil.copytree(run, stale)
    for name in ("config.json", "checkpoint.npz", "best.npz", "best_val.npz"):
        (stale / name).unlink(missing_ok=True)
    metrics = (stale / "metrics.csv").read_bytes()
    rc = cli.main(["train", str(text_file), "--out", str(stale), *SMALL])
    line = one_error_line(capsys, rc)
    assert "holds files a run writes (" in line and "metrics.csv" in line and "--force" in line
    assert (stale / "metrics.csv").read_bytes() == metrics
    assert cli.main(["train", str(text_file), "--out", str(stale), *SMALL, "--force"]) == 0
    capsys.readouterr()  # --force replaced the logs: the new run's alone, as in a fresh folder
    assert (stale / "metrics.csv").read_bytes().count(b"\n") == metrics.count(b"\n")


def test_bad_resumes(tmp_path, run, capsys):
    rc = cli.main(["train", "--resume", str(tmp_path / "empty-dir")])
    assert "has no run to resume" in one_error_line(capsys, rc)
    ck = run / rundir.CHECKPOINT
    good = ck.read_bytes()
    cases = [
        (lambda: ck.write_bytes(good[: len(good) // 2]), "corrupted or truncated"),
        (lambda: rewrite(ck, lambda m: m.update(format_version=7)), "newer charnn"),
        (lambda: rewrite(ck, change_arrays={"p_V.npy": npy_bytes(np.zeros((2, 2)))}), "has shape"),
    ]
    for damage, message in cases:
        ck.write_bytes(good)
        damage()
        rc = cli.main(["train", "--resume", str(run), "--updates", "80"])
        assert message in one_error_line(capsys, rc)
    ck.write_bytes(good)
    rc = cli.main(["train", "--resume", str(run), "--lr", "0.3"])
    assert "differs from the run's" in one_error_line(capsys, rc)


def test_evaluate_without_known_characters(run, tmp_path, capsys):
    p = tmp_path / "greek.txt"
    p.write_text("αβγδε", encoding="utf-8")
    rc = cli.main(["evaluate", str(run), str(p)])
    assert "no two characters from the model's vocabulary" in one_error_line(capsys, rc)


def test_not_a_run(tmp_path, capsys):
    for argv in (
        ["sample", str(tmp_path)],
        ["plot", str(tmp_path)],
        ["evaluate", str(tmp_path), str(tmp_path / "x.txt")],
    ):
        assert one_error_line(capsys, cli.main(argv)).startswith(f"charnn {argv[0]}: error:")


def test_disk_full_while_training(run, monkeypatch, capsys):
    before = (run / "checkpoint.npz").read_bytes()

    def disk_full(f, **arrays):
        f.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    rc = cli.main(["train", "--resume", str(run), "--updates", "60", "--quiet"])
    assert "No space left on device" in one_error_line(capsys, rc)
    assert (run / "checkpoint.npz").read_bytes() == before
    monkeypatch.undo()
    assert cli.main(["train", "--resume", str(run), "--updates", "60", "--quiet"]) == 0


def test_disk_full_while_logging(run, monkeypatch, capsys):
    def disk_full(*a, **k):
        raise OSError(28, "No space left on device", str(run / "metrics.csv"))

    monkeypatch.setattr(rundir, "append_metrics", disk_full)
    rc = cli.main(["train", "--resume", str(run), "--updates", "60", "--quiet"])
    assert "No space left on device" in one_error_line(capsys, rc)


def test_the_program_exits_quickly_with_everything_written(tmp_path, text_file):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "charnn", "train", str(text_file), "--out", str(out), *SMALL]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith("done: 40 updates")
    rows = rundir.read_metrics(out)
    assert [r["update"] for r in rows if r["loss"] is not None] == list(range(1, 41))
    assert json.loads((out / "record.json").read_text())["gradcheck"]["rows"]
    assert (out / "loss.png").stat().st_size > 0 and not list(out.glob(".*.tmp-*"))
    charnn = [sys.executable, "-m", "charnn"]
    sample = [*charnn, "sample", str(out), "--length", "20000", "--seed", "1"]
    text = subprocess.run(sample, capture_output=True, text=True, check=True).stdout
    assert len(text) == 20001  # every character and the newline, flushed before the exit
    bad = subprocess.run([*charnn, "plot", str(tmp_path / "none")], capture_output=True)
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1


@pytest.mark.parametrize("lost", ["outcome.json", "best_1000.txt", "best.npz"])
def test_a_run_stopped_after_its_last_checkpoint_is_finished_by_resume(run, capsys, lost):
    """A process killed after writing its final checkpoint.npz, before best.npz
    or the end of the run (best texts, then outcome.json): --resume writes
    what is missing, the same as the run would have, instead of calling the
    run complete."""
    from charnn.run import snapshot

    ends = ("outcome.json", "sampling.json", "best_200.txt", "best_1000.txt")
    before = {name: (run / name).read_bytes() for name in ends}
    best = snapshot.load_best(run / "best.npz")
    gone = ends if lost in ("outcome.json", "best.npz") else ends[ends.index(lost) :]
    for name in (*gone, "outcome.json", *([lost] if lost == "best.npz" else [])):
        (run / name).unlink(missing_ok=True)
    rows = (run / "metrics.csv").read_bytes()
    assert cli.main(["train", "--resume", str(run), "--quiet"]) == 0
    assert "nothing to do" not in capsys.readouterr().out
    assert {name: (run / name).read_bytes() for name in ends} == before
    assert (run / "metrics.csv").read_bytes() == rows
    again = snapshot.load_best(run / "best.npz")
    assert again[0] == best[0] and np.array_equal(again[2], best[2])
    assert all(np.array_equal(again[1][k], best[1][k]) for k in best[1])
    assert cli.main(["train", "--resume", str(run), "--quiet"]) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_resume_completes_the_record_a_kill_left_short(run, capsys):
    """Killed before the gradient check was added to record.json (it runs
    beside the first updates), or before record.json was written at all (a
    run with no checkpoint resumes from its start): --resume writes it."""
    rec = (run / "record.json").read_text()
    short = {k: v for k, v in json.loads(rec).items() if k != "gradcheck"}
    (run / "record.json").write_text(json.dumps(short))
    assert cli.main(["train", "--resume", str(run), "--quiet"]) == 0
    assert json.loads((run / "record.json").read_text()) == json.loads(rec)
    for path in run.iterdir():
        if path.name != "config.json":
            path.unlink()
    assert cli.main(["train", "--resume", str(run), "--quiet"]) == 0
    assert json.loads((run / "record.json").read_text()) == json.loads(rec)


def _files(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.mark.parametrize("updates", ["40", "45"])
def test_a_complete_run_resumed_is_left_exactly_as_it_was(tmp_path, text_file, capsys, updates):
    """'nothing to do' touches no file: not the final validation's row of a
    run that ended off the --eval-every grid (45), nor config.json."""
    out = tmp_path / "run"
    args = [*SMALL[:5], updates, *SMALL[6:]]
    assert cli.main(["train", str(text_file), "--out", str(out), *args]) == 0
    before = _files(out)
    assert cli.main(["train", "--resume", str(out), "--quiet"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert _files(out) == before


def test_a_complete_run_resumed_writes_a_lost_config_again(tmp_path, text_file, capsys):
    """The advice for a damaged config.json (remove it, and --resume writes it
    again from the checkpoint) holds for a complete run too."""
    out = tmp_path / "run"
    assert cli.main(["train", str(text_file), "--out", str(out), *SMALL]) == 0
    config = json.loads((out / "config.json").read_text())
    meta = json.loads(np.load(out / "checkpoint.npz")["meta"].tobytes())
    assert meta["run"]["created"] == config["created"]
    began = "2026-01-02T03:04:05+0000"  # the time the checkpoint records, told apart from now
    rewrite(out / "checkpoint.npz", lambda meta: meta["run"].update(created=began))
    (out / "config.json").unlink()
    assert cli.main(["train", "--resume", str(out), "--quiet"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    again = json.loads((out / "config.json").read_text())
    assert again["config"] == config["config"] and again["vocab"] == config["vocab"]
    assert again["run"]["id"] == config["run"]["id"]
    assert again["created"] == began  # when the run began, from its checkpoint
    assert cli.main(["report", str(out)]) == 0
    # a checkpoint from before runs recorded it: the time is left out, not made up
    rewrite(out / "checkpoint.npz", lambda meta: meta["run"].pop("created"))
    (out / "config.json").unlink()
    assert cli.main(["train", "--resume", str(out), "--quiet"]) == 0
    assert "created" not in json.loads((out / "config.json").read_text())
    assert cli.main(["report", str(out)]) == 0


def test_a_complete_run_resumed_with_another_best_by_ends_as_if_made_so(
    tmp_path, text_file, capsys
):
    args = [*SMALL[:5], "45", *SMALL[6:]]
    smooth, val = tmp_path / "smooth", tmp_path / "val"
    assert cli.main(["train", str(text_file), "--out", str(smooth), *args]) == 0
    assert cli.main(["train", str(text_file), "--out", str(val), *args, "--best-by", "val"]) == 0
    assert cli.main(["train", "--resume", str(smooth), "--best-by", "val", "--quiet"]) == 0
    assert "nothing to do" not in capsys.readouterr().out
    a, b = _files(smooth), _files(val)
    for name in ("outcome.json", "sampling.json", "best_200.txt", "best_1000.txt"):
        assert a[name] == b[name], name
    keep = ("update", "loss", "smooth_loss", "val_nats", "val_bpc")
    rows = [[[r[k] for k in keep] for r in rundir.read_metrics(d)] for d in (smooth, val)]
    assert rows[0] == rows[1]
    assert json.loads(a["config.json"])["config"]["best_by"] == "val"


def test_a_complete_run_missing_its_plot_gets_it_on_resume(run, capsys):
    (run / "loss.png").unlink()  # stopped after outcome.json, before the plot was saved
    assert cli.main(["train", "--resume", str(run), "--quiet"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert (run / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("lost", ["best_200.txt", "sampling.json", "best.npz"])
def test_a_complete_run_that_lost_a_file_of_its_end_gets_it_back_on_resume(run, capsys, lost):
    """A file of the run's end deleted after outcome.json was written: the
    report and sample say so and name the way back, and --resume writes the
    end again, byte for byte, instead of calling the run complete (and
    timing.json stays the split of the process that trained it)."""
    ends = ("outcome.json", "sampling.json", "best_200.txt", "best_1000.txt", "best.npz")
    ends += ("timing.json",)
    before = {name: (run / name).read_bytes() for name in ends}
    (run / lost).unlink()
    assert cli.main(["report", str(run)]) == 0
    capsys.readouterr()
    page = (run / "report.md").read_text(encoding="utf-8")
    shown = lost.replace("_", "\\_")  # as Markdown writes it
    assert f"trained to its end, 40 updates, but {shown} is missing" in page
    if lost == "sampling.json":
        assert "sampling.json is missing: the run's end is not written" in page
    if lost == "best.npz":
        line = one_error_line(capsys, cli.main(["sample", str(run), "--length", "5"]))
        assert "charnn train --resume" in line and "--checkpoint latest" in line
    assert cli.main(["train", "--resume", str(run), "--quiet"]) == 0
    assert "nothing to do" not in capsys.readouterr().out
    after = {name: (run / name).read_bytes() for name in ends}
    assert after == before
    assert cli.main(["train", "--resume", str(run), "--quiet"]) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_the_model_best_by_validation_is_the_runs_own(tmp_path, text_file, capsys):
    """best_val.npz carries the run's identity: sample and evaluate take it,
    by name and as the default model of a --best-by val run."""
    out = tmp_path / "run"
    assert cli.main(["train", str(text_file), "--out", str(out), *SMALL, "--best-by", "val"]) == 0
    capsys.readouterr()
    for extra in (["--checkpoint", "best-val"], []):
        assert cli.main(["sample", str(out), "--length", "20", *extra]) == 0
        assert len(capsys.readouterr().out) >= 20
        assert cli.main(["evaluate", str(out), str(text_file), *extra]) == 0
        assert "bits" in capsys.readouterr().out


def test_an_extension_stopped_early_is_not_left_complete(tmp_path, text_file, capsys):
    """A resume that trains further or changes --best-by removes outcome.json
    before it changes any file: stopped at once (killed before its first
    checkpoint), the run is not complete, and a plain resume carries out the
    change config.json records, as the extension uninterrupted does."""
    made = tmp_path / "made"
    args = [*SMALL[:5], "45", *SMALL[6:]]
    assert cli.main(["train", str(text_file), "--out", str(made), *args, "--report"]) == 0
    assert (made / "report.html").exists() and (made / "report.md").exists()
    for change in (["--updates", "60"], ["--best-by", "val"]):
        whole, cut = tmp_path / "whole", tmp_path / "cut"
        for d in (whole, cut):
            shutil.rmtree(d, ignore_errors=True)
            shutil.copytree(made, d)
        assert cli.main(["train", "--resume", str(whole), *change, "--quiet"]) == 0
        run = loop.Run.resume(cut, {change[0][2:].replace("-", "_"): _typed(change[1])})
        run.close()  # stopped before it trained or wrote its end
        # nothing left that describes the old end: no outcome, no stale report
        assert not any((cut / n).exists() for n in ("outcome.json", "report.html", "report.md"))
        assert cli.main(["train", "--resume", str(cut), "--quiet"]) == 0
        assert "nothing to do" not in capsys.readouterr().out
        for name in ("outcome.json", "sampling.json", "best_1000.txt", "best_val.npz"):
            assert (cut / name).read_bytes() == (whole / name).read_bytes(), (change, name)


def _typed(value):
    return int(value) if value.isdigit() else value

"""The command line against a hostile user: odd files, odd values, consoles
that cannot print, pipes that close, a full disk, runs mixed up or damaged.
Each case is one line on stderr and the documented exit code."""

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

from charnn import cli
from charnn.cli import train as train_command
from charnn.run import rundir, snapshot

SMALL = ["--hidden", "8", "--seq-length", "10", "--updates", "40", "--eval-every", "20"]
SMALL += ["--sample-every", "20", "--sample-length", "30", "--checkpoint-every", "20"]
SMALL += ["--engine", "reference"]
SNOW = "Snow \u2603 falls on the caf\u00e9 \u2603 and the r\u00f4le \u2603 of winter. " * 12


def one_error_line(capsys, rc, code=2):
    err = capsys.readouterr().err
    assert rc == code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def charnn(*args, env=None, stdout=subprocess.PIPE):
    return subprocess.run(
        [sys.executable, "-m", "charnn", *map(str, args)],
        stdout=stdout,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


@pytest.fixture
def snow_run(tmp_path, capsys):
    corpus = tmp_path / "snow.txt"
    corpus.write_text(SNOW, encoding="utf-8")
    out = tmp_path / "snow"
    assert cli.main(["train", str(corpus), "--out", str(out), *SMALL, "--quiet"]) == 0
    capsys.readouterr()
    return out


# -- inputs ------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv, message",
    [
        (["gradcheck", "--seed", "-1"], "--seed must be an integer >= 0, got -1"),
        (["gradcheck", "--max-entries", str(2**64)], "--max-entries must be a positive integer"),
        (["gradcheck", "--sig", "nan"], "--sig must be in [0, 10], got nan"),
        (["gradcheck", "--sig", "1e300"], "--sig must be in [0, 10]"),
        (["gradcheck", "--hidden", "0"], "--hidden must be a positive integer"),
        (["gradcheck", "--max-entries", "-5"], "--max-entries must be a positive integer"),
        (["gradcheck", "--seq-length", "0"], "--seq-length must be a positive integer"),
        (["sample", "--untrained", "--hidden", "0"], "--hidden must be a positive integer"),
        (["sample", "--untrained", "--seed", "-3"], "--seed must be an integer >= 0"),
    ],
)
def test_numeric_options_of_every_subcommand(capsys, argv, message):
    assert message in one_error_line(capsys, cli.main(argv))


def test_a_seed_of_any_size_is_taken_by_sample_as_by_train(snow_run, capsys):
    """Every seed goes to NumPy's SeedSequence; a run trained with a seed of
    2**64 can be sampled with it too, and the same seed gives the same text."""
    argv = ["sample", str(snow_run), "--seed", str(2**64 + 1), "--length", "40"]
    texts = []
    for _ in range(2):
        assert cli.main(argv) == 0
        texts.append(capsys.readouterr().out)
    assert texts[0] == texts[1] and len(texts[0]) >= 40


def test_huge_sizes_are_refused_before_allocating(tmp_path, text_file, capsys):
    rc = cli.main(["gradcheck", str(text_file), "--hidden", "10000000"])
    assert "--hidden 10000000 would need" in one_error_line(capsys, rc)
    rc = cli.main(["sample", "--untrained", str(text_file), "--hidden", "10000000"])
    assert "GiB of memory, more than the" in one_error_line(capsys, rc)


def test_every_numeric_option_has_a_rule():
    from charnn.cli import validate
    from charnn.cli.parser import build_parser
    from charnn.run.options import OPTIONS

    train_options = {o.name for o in OPTIONS}
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for name, parser in sub.choices.items():
        for action in parser._actions:
            if action.type in (int, float):
                covered = validate.RULES.get(name, {}).get(action.dest) or (
                    name == "train" and action.dest in train_options
                )
                assert covered, f"{name} {action.option_strings}"


@pytest.mark.parametrize("which", ["fifo", "/dev/zero", "/dev/null"])
def test_corpus_that_is_not_a_regular_file(tmp_path, capsys, which):
    path = tmp_path / "fifo"
    if which == "fifo":
        os.mkfifo(path)
    else:
        path = which
    for argv in (
        ["train", str(path), "--out", str(tmp_path / "o")],
        ["gradcheck", str(path)],
    ):
        assert "not a regular file" in one_error_line(capsys, cli.main(argv))
    assert not (tmp_path / "o").exists()


def test_a_corpus_that_is_one_of_the_run_s_own_files_is_refused(snow_run, capsys):
    """Training on its own best_1000.txt with --force would delete the corpus
    (a run file), then write it anew: a run no resume could continue."""
    corpus = snow_run / "best_1000.txt"
    text = corpus.read_bytes()
    argv = ["train", str(corpus), "--out", str(snow_run), "--force", *SMALL]
    assert "is a file the run in" in one_error_line(capsys, cli.main(argv))
    assert corpus.read_bytes() == text and (snow_run / rundir.CHECKPOINT).exists()


def test_odd_things_in_a_run_s_place_are_named(tmp_path, snow_run, text_file, capsys):
    dangling = tmp_path / "link"
    dangling.symlink_to(tmp_path / "nowhere")
    rc = cli.main(["train", str(text_file), "--out", str(dangling), *SMALL])
    assert "is a symbolic link to a missing place" in one_error_line(capsys, rc)
    (snow_run / rundir.CONFIG).unlink()
    (snow_run / rundir.CONFIG).mkdir()
    for argv in (["report", str(snow_run)], ["train", "--resume", str(snow_run)]):
        assert "config.json is not a plain file" in one_error_line(capsys, cli.main(argv))


@pytest.mark.parametrize("delay", [0.15, 0.3, 0.45])
def test_sigterm_during_start_up_is_one_line_and_143(tmp_path, text_file, delay):
    """Before train takes the signal over, SIGTERM stops the command as
    Ctrl-C does (one line), with 143; later, train's own stop says where."""
    import time

    p = subprocess.Popen(
        [sys.executable, "-m", "charnn", "train", str(text_file), "--out", str(tmp_path / "r")]
        + [*SMALL, "--updates", "100000", "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    time.sleep(delay)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=120)
    lines = err.decode().strip().splitlines()
    assert p.returncode == 143 and "Traceback" not in err.decode(), err
    assert len(lines) == 1 and ("terminated" in lines[0] or "stopped by signal 15" in lines[0])


def test_a_path_with_a_line_break_is_one_line(tmp_path, capsys):
    missing = tmp_path / "a\nb" / "x.txt"
    line = one_error_line(capsys, cli.main(["train", str(missing), "--out", str(tmp_path / "o")]))
    assert "a\\nb" in line


def test_corpus_file_name_that_is_not_utf8(tmp_path, text_file, capsys):
    odd = os.fsdecode(bytes(tmp_path) + b"/caf\xe9-latin1.txt")
    shutil.copy(text_file, odd)
    out = tmp_path / "odd"
    assert cli.main(["train", odd, "--out", str(out), *SMALL, "--quiet"]) == 0
    info = rundir.read_config(out)
    assert info["config"]["corpus"] == odd and info["corpus"]["path"] == odd
    assert cli.main(["train", "--resume", str(out), "--updates", "60", "--quiet"]) == 0
    assert cli.main(["report", str(out)]) == 0
    assert "caf⟨U+DCE9⟩-latin1.txt" in (out / "report.md").read_text(encoding="utf-8")


# -- the run identity from the command line ----------------------------------
def test_foreign_checkpoints_are_refused_by_every_reader(tmp_path, snow_run, text_file, capsys):
    other = tmp_path / "other"
    assert cli.main(["train", str(text_file), "--out", str(other), *SMALL, "--quiet"]) == 0
    for name in (rundir.CHECKPOINT, rundir.BEST):
        shutil.copy(other / name, snow_run / name)
    for argv in (
        ["train", "--resume", str(snow_run), "--updates", "60"],
        ["sample", str(snow_run)],
        ["sample", str(snow_run), "--checkpoint", "latest"],
        ["evaluate", str(snow_run), str(text_file)],
        ["report", str(snow_run)],
    ):
        assert "belongs to another run" in one_error_line(capsys, cli.main(argv)), argv


@pytest.mark.parametrize("name", [rundir.BEST_VAL, rundir.BEST_VAL_GRID])
def test_a_foreign_best_by_validation_is_refused_by_resume(
    tmp_path, snow_run, text_file, capsys, name
):
    """A resume writes the best model's texts from best_val.npz (--best-by
    val): one copied from another run would put that run's text under this
    one's name."""
    other = tmp_path / "other"
    assert cli.main(["train", str(text_file), "--out", str(other), *SMALL, "--quiet"]) == 0
    shutil.copy(other / rundir.BEST_VAL, snow_run / name)
    before = {p.name: p.read_bytes() for p in snow_run.iterdir() if p.is_file()}
    argv = ["train", "--resume", str(snow_run), "--best-by", "val"]
    line = one_error_line(capsys, cli.main(argv))
    assert f"{name} belongs to another run" in line
    after = {p.name: p.read_bytes() for p in snow_run.iterdir() if p.is_file()}
    assert after == before  # nothing written from the other run's model


def test_a_config_that_lies_about_the_model_is_refused_by_every_reader(
    tmp_path, snow_run, text_file, capsys
):
    """config.json edited to another cell and size would make the report name
    a model the checkpoints do not hold, and compare see two models in one."""
    other = tmp_path / "other"
    assert cli.main(["train", str(text_file), "--out", str(other), *SMALL, "--quiet"]) == 0
    path = snow_run / rundir.CONFIG
    info = json.loads(path.read_text(encoding="utf-8"))
    info["config"].update(cell="lstm", hidden=64)
    path.write_text(json.dumps(info), encoding="utf-8")
    for argv in (
        ["train", "--resume", str(snow_run), "--updates", "60"],
        ["sample", str(snow_run)],
        ["evaluate", str(snow_run), str(text_file)],
        ["report", str(snow_run)],
        ["compare", str(snow_run), str(other), "--out", str(tmp_path / "cmp")],
    ):
        line = one_error_line(capsys, cli.main(argv))
        assert "config.json does not describe the model in" in line, argv
        assert "(cell, hidden differ)" in line, argv


def test_corrupt_best_model_points_to_the_latest(snow_run, capsys):
    best = snow_run / rundir.BEST
    best.write_bytes(best.read_bytes()[:300])
    line = one_error_line(capsys, cli.main(["sample", str(snow_run)]))
    assert "corrupted or truncated" in line and "--checkpoint latest" in line
    assert cli.main(["sample", str(snow_run), "--checkpoint", "latest", "--length", "5"]) == 0


def test_moved_corpus_from_the_command_line(tmp_path, snow_run, capsys):
    corpus = tmp_path / "snow.txt"
    moved = tmp_path / "moved.txt"
    corpus.rename(moved)
    rc = cli.main(["train", "--resume", str(snow_run), "--updates", "60"])
    assert "give its new path" in one_error_line(capsys, rc)
    rc = cli.main(["train", str(moved), "--resume", str(snow_run), "--updates", "60", "--quiet"])
    assert rc == 0
    assert rundir.read_config(snow_run)["config"]["corpus"] == str(moved.resolve())


def test_interrupt_during_the_first_compile_leaves_a_resumable_run(
    tmp_path, text_file, capsys, monkeypatch
):
    def interrupted(cfg, quiet):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_command, "_warm_engine", interrupted)
    out = tmp_path / "r"
    rc = cli.main(["train", str(text_file), "--out", str(out), *SMALL, "--quiet"])
    assert "interrupted" in one_error_line(capsys, rc, 130)
    assert not (out / rundir.CHECKPOINT).exists()
    monkeypatch.undo()
    assert cli.main(["train", "--resume", str(out), "--quiet"]) == 0
    assert snapshot.load_train(out / rundir.CHECKPOINT)[3].update == 40


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_inside_an_import_s_class_body_is_one_line(
    snow_run, capsys, monkeypatch, signum
):
    """Ctrl-C while matplotlib's classes are being made: Python 3.11 wraps
    the KeyboardInterrupt raised in a __set_name__ in a RuntimeError, which
    is still an interrupt (130; SIGTERM 143), not a traceback."""
    import importlib

    from charnn.report import plot

    cli_main = importlib.import_module("charnn.cli.main")  # the module, not its main()
    stop = KeyboardInterrupt if signum == signal.SIGINT else cli_main.Terminated

    class Stops:
        def __set_name__(self, owner, name):
            raise stop

    def figure():
        type("Importing", (), {"attr": Stops()})

    monkeypatch.setattr(plot, "figure", figure)
    line = one_error_line(capsys, cli.main(["plot", str(snow_run)]), 128 + signum)
    assert line.endswith("interrupted" if signum == signal.SIGINT else "terminated")


def test_a_runtime_error_that_is_no_interrupt_is_not_taken_for_one(monkeypatch, snow_run):
    from charnn.report import plot

    def figure():
        raise RuntimeError("a bug")

    monkeypatch.setattr(plot, "figure", figure)
    with pytest.raises(RuntimeError, match="a bug"):
        cli.main(["plot", str(snow_run)])


def test_damaged_logs_from_the_command_line(snow_run, capsys):
    with open(snow_run / rundir.METRICS, "a") as f:
        f.write("12,zero,,,\n")
    for cmd in ("plot", "report"):
        line = one_error_line(capsys, cli.main([cmd, str(snow_run)]))
        assert "metrics.csv line" in line and "is damaged" in line
    (snow_run / rundir.SAMPLES).write_text('{"update": 0}\n')
    assert cli.main(["train", "--resume", str(snow_run), "--updates", "60", "--quiet"]) == 0
    assert cli.main(["report", str(snow_run)]) == 0


def test_cache_dir_that_is_a_file(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "cache-file"
    blocker.write_text("")
    monkeypatch.setenv("CHARNN_CACHE_DIR", str(blocker))
    line = one_error_line(capsys, cli.main(["gradcheck", "tragedies"]))
    assert f"$CHARNN_CACHE_DIR ({blocker}) is a file" in line


def test_no_folder_to_cache_the_kernels_in(tmp_path, text_file):
    """numba raises at import when no cache folder is writable (NUMBA_CACHE_DIR,
    the sources' __pycache__ and the user-wide folder all read-only); here
    its list of places is emptied, which it reads the same way."""
    code = (
        "import sys, numba.core.caching as c; c.CacheImpl._locator_classes = []; "
        "from charnn.cli.main import main; sys.exit(main(sys.argv[1:]))"
    )
    args = ["train", str(text_file), "--out", str(tmp_path / "r"), "--updates", "1"]
    res = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    assert res.returncode == 2, res.stderr
    assert res.stderr.splitlines() == [
        "charnn train: error: numba finds no writable folder to keep the compiled kernels in; "
        "set NUMBA_CACHE_DIR to a writable folder"
    ]
    assert not (tmp_path / "r" / "checkpoint.npz").exists()


# -- outputs -----------------------------------------------------------------
@pytest.mark.parametrize("encoding", ["latin-1", "ascii"])
def test_console_that_cannot_encode_the_text(tmp_path, snow_run, encoding):
    env = {"PYTHONIOENCODING": encoding}
    res = charnn("sample", snow_run, "--length", "400", "--seed", "1", env=env)
    # stderr holds only the line saying which model, state and seed the text comes from
    assert res.returncode == 0, res.stderr
    assert res.stderr == b"charnn sample: best.npz, from its carried state; seed 1\n", res.stderr
    assert b"\\u2603" in res.stdout
    train = [tmp_path / "snow.txt", "--out", tmp_path / "t", *SMALL]
    res = charnn("train", *train, env=env)
    assert res.returncode == 0 and b"Traceback" not in res.stderr, res.stderr
    assert b"--- sample after 0 updates" in res.stdout


def test_closed_pipe_ends_sample_quietly(snow_run):
    proc = subprocess.Popen(
        [sys.executable, "-m", "charnn", "sample", str(snow_run), "--length", "3000000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert len(proc.stdout.read(100)) == 100
    proc.stdout.close()  # as `| head -c 100` does
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 128 + signal.SIGPIPE, err
    # only the line naming the model, state and seed; no error after the pipe closed
    assert err.startswith(b"charnn sample: best.npz") and err.count(b"\n") == 1, err


def test_closed_pipe_stops_train_with_its_work_saved(tmp_path, text_file):
    out = tmp_path / "r"
    argv = ["train", str(text_file), "--out", str(out), *SMALL, "--updates", "100000"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "charnn", *argv, "--sample-every", "100"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout.readline()  # training is under way
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 128 + signal.SIGPIPE, err
    # progress lines may come first, depending on when the reader went away
    lines = [x for x in err.strip().splitlines() if not x.startswith("update ")]
    assert len(lines) == 1 and "standard output was closed" in lines[0], err
    stopped = snapshot.load_train(out / rundir.CHECKPOINT)[3].update
    assert f"stopped at update {stopped}" in err  # at the first print that failed
    res = charnn("train", "--resume", out, "--updates", stopped + 10, "--quiet")
    assert res.returncode == 0, res.stderr


def test_full_disk_on_stdout_is_not_a_failed_checkpoint(tmp_path, snow_run):
    with open("/dev/full", "w") as full:
        res = charnn("sample", snow_run, stdout=full)
        assert res.returncode == 2
        # the line naming model, state and seed, then the one error line
        assert res.stderr.decode().strip().splitlines()[-1] == (
            "charnn sample: error: cannot write to standard output (No space left on device)"
        )
        out = tmp_path / "t"
        res = charnn("train", tmp_path / "snow.txt", "--out", out, *SMALL, stdout=full)
    err = res.stderr.decode()
    assert res.returncode == 2 and len(err.strip().splitlines()) == 1, err
    assert "cannot write to standard output (No space left on device)" in err
    assert "checkpoint saved" in err and "could not write checkpoint" not in err
    assert snapshot.load_train(out / rundir.CHECKPOINT)[3].update == 0  # the first print failed


def test_out_of_memory_is_one_line(monkeypatch, capsys):
    """Past the memory budget's estimate (a lower ulimit -v, other processes),
    an allocation fails: one line, not a MemoryError traceback."""
    from charnn.cli import commands

    def short_of_memory(args):
        raise MemoryError("Allocation failed (probably too large).")

    monkeypatch.setattr(commands, "gradcheck", short_of_memory)
    line = one_error_line(capsys, cli.main(["gradcheck"]))
    assert line.startswith("charnn gradcheck: error: out of memory; use a smaller --hidden")

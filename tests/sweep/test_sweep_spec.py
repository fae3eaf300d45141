"""The sweep spec: expansion into runs, names, and every bad input refused
with one line before anything starts."""

import pytest

from charnn.cli import main
from charnn.errors import CheckpointError, ConfigError
from charnn.sweep import load_spec


def test_grid_times_zip_times_seeds(write_spec, spec_dir, base):
    sweep = load_spec(
        write_spec(
            "seed = [3, 4]\n" + base + "[grid]\nlr = [0.05, 0.1]\n"
            "[zip]\nhidden = [8, 12, 16]\nseq-length = [5, 10, 15]\n"
        )
    )
    assert len(sweep.runs) == 2 * 3 * 2
    assert sweep.varied_keys == ["lr", "hidden", "seq_length"]
    first = sweep.runs[0]
    assert first.name == "lr-0.05_hidden-8_seq_length-5_seed-3"
    assert first.setting == "lr=0.05, hidden=8, seq_length=5"
    assert (first.config.lr, first.config.hidden, first.config.seq_length, first.config.seed) == (
        0.05,
        8,
        5,
        3,
    )
    assert first.config.corpus == str((spec_dir / "text.txt").resolve())
    assert [(r.config.hidden, r.config.seq_length) for r in sweep.runs[:6:2]] == [
        (8, 5),
        (12, 10),
        (16, 15),
    ]  # zipped lists move together
    assert [r.config.seed for r in sweep.runs[:4]] == [3, 4, 3, 4]
    assert len({r.name for r in sweep.runs}) == 12
    assert sweep.settings[1] == "lr=0.05, hidden=12, seq_length=10"
    assert all(r.config.updates == 300 for r in sweep.runs)
    assert "hidden" not in sweep.base  # the zipped values override [base]


def test_integers_become_floats_and_epochs_alone_lift_the_update_limit(write_spec):
    sweep = load_spec(
        write_spec(
            '[base]\ncorpus = "text.txt"\nseq_length = 10\nepochs = 2\nsig = 1\n'
            "[grid]\nlr = [1, 2]\n"
        )
    )
    assert [r.config.lr for r in sweep.runs] == [1.0, 2.0]
    assert isinstance(sweep.runs[0].config.lr, float)
    assert isinstance(sweep.runs[0].config.sig, float) and sweep.runs[0].config.sig == 1.0
    assert sweep.runs[0].config.updates == 0 and sweep.runs[0].config.epochs == 2
    assert [r.name for r in sweep.runs] == ["lr-1.0_seed-0", "lr-2.0_seed-0"]


def test_cells_can_be_varied(write_spec, base):
    grid = '[grid]\ncell = ["rnn", "gru", "lstm"]\nlayers = [1, 2]\n'
    sweep = load_spec(write_spec(base + 'engine = "reference"\n' + grid))
    assert [(r.config.cell, r.config.layers) for r in sweep.runs[:3]] == [
        ("rnn", 1),
        ("rnn", 2),
        ("gru", 1),
    ]
    assert sweep.runs[5].name == "cell-lstm_layers-2_seed-0"


def test_names_are_filesystem_safe_and_unique(write_spec, spec_dir):
    (spec_dir / "a b").mkdir()
    (spec_dir / "a b" / "text.txt").write_text((spec_dir / "text.txt").read_text())
    sweep = load_spec(
        write_spec(
            '[base]\nseq_length = 10\nupdates = 10\n[grid]\ncorpus = ["text.txt", "a b/text.txt"]\n'
        )
    )
    names = [r.name for r in sweep.runs]
    assert names == ["corpus-text_seed-0", "corpus-text_seed-0~2"]  # as sweep folders have them
    assert sweep.runs[1].config.corpus.endswith("a b/text.txt")
    # two corpora are two settings, never averaged together as if seeds
    assert [r.setting for r in sweep.runs] == ["corpus=text", "corpus=a b/text"]


def test_corpus_files_of_one_name_are_told_apart(write_spec, spec_dir):
    for folder in ("a", "b"):
        (spec_dir / folder).mkdir()
        (spec_dir / folder / "c.txt").write_text((spec_dir / "text.txt").read_text())
    (spec_dir / "a" / "c.md").write_text((spec_dir / "text.txt").read_text())
    corpora = '["a/c.txt", "b/c.txt", "a/c.md", "tragedies"]'
    sweep = load_spec(
        write_spec(f"[base]\nseq_length = 10\nupdates = 10\n[grid]\ncorpus = {corpora}\n")
    )
    assert [r.setting for r in sweep.runs] == [
        "corpus=a/c.txt",
        "corpus=b/c.txt",
        "corpus=a/c.md",
        "corpus=tragedies",
    ]
    assert [r.name for r in sweep.runs] == [
        "corpus-c_seed-0",
        "corpus-c_seed-0~2",
        "corpus-c_seed-0~3",
        "corpus-tragedies_seed-0",
    ]


BAD = [
    ("seed = [0]\n[base]\nhiden = 3\n", "unknown option 'hiden' in [base]"),
    ("[grid]\nlr = []\n", "grid.lr is an empty list"),
    ("[grid]\nlr = 0.1\n", "grid.lr must be a list of values"),
    ("[grid]\nlr = [0.1, 0.1]\n", "grid.lr repeats a value"),
    ("[base]\nlr = [0.1]\n", "base.lr must be a single value"),
    ("[base]\nlr = -1\n", "--lr must be > 0, got -1.0"),
    ("[base]\nhidden = 1.5\n", "--hidden must be a positive integer, got 1.5"),
    ("[grid]\nhidden = [8, 0]\n", "run hidden-0_seed-0: --hidden must be a positive integer"),
    ('[base]\noptimizer = "sgd"\n', "--optimizer must be one of adagrad, rmsprop, adam"),
    ('[grid]\ncell = ["rnn", "tanh"]\n', "run cell-tanh_seed-0: --cell must be one of"),
    ('[base]\nlr = "fast"\n', "--lr must be a finite number, got 'fast'"),
    ("[base]\nupdates = 0\n", "nothing to do"),
    ("seed = [0, 0]\n", "seed repeats a value"),
    ("seed = []\n", "seed must be a non-empty list"),
    ("seed = 3\n", "seed must be a non-empty list"),
    ("seed = [-1]\n", "seed values must be integers >= 0"),
    ("seed = [1.5]\n", "seed values must be integers >= 0"),
    ("[base]\nseed = 1\n", "give seeds as the top-level list"),
    ("seeds = [1]\n", "unknown key 'seeds'"),
    ("base = 3\n", "[base] must be a table of options"),
    ("[grid]\nlr = [0.1]\n[zip]\nlr = [0.2]\n", "option lr is in both [grid] and [zip]"),
    ("[zip]\nlr = [0.1, 0.2]\nhidden = [4]\n", "the lists in [zip] must have the same length"),
    ("[base]\nseq_length = 10\nseq-length = 12\n", "option seq_length is given twice"),
    ('[base]\ncorpus = "missing.txt"\n', "corpus file not found"),
    ("[base]\ncorpus = 3\n", "corpus must be a name or a path, got 3"),
    ("[base]\nseq_length = 5000\n", "has 2,064 characters; at least 5,001 are needed"),
    ("[base]\nbatch_size = 300\n", "too short for --batch-size 300"),
    ('[base]\nengine = "reference"\ndtype = "float32"\n', "reference engine runs in float64"),
    ("[grid\nlr = [1]\n", "is not valid TOML"),
]


@pytest.mark.parametrize("body", ["", "# a comment alone\n", "[base]\n", "[grid]\n[zip]\n"])
def test_an_empty_spec_is_refused(write_spec, spec_dir, capsys, body):
    """A spec that holds nothing would sweep one default run (100,000 updates
    of the default corpus) per default seed: refused, in one line."""
    code = main(["sweep", str(write_spec(body)), "--out", str(spec_dir / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "it holds nothing; give options in [base], settings to try in [grid]" in err
    assert not (spec_dir / "out").exists()


@pytest.mark.parametrize("body, message", BAD, ids=[m for _, m in BAD])
def test_bad_spec_is_one_line_and_exit_2(write_spec, spec_dir, capsys, body, message):
    if "[base]" in body and "corpus" not in body:
        body = body.replace("[base]\n", '[base]\ncorpus = "text.txt"\n')
    elif "base" not in body:
        body += '[base]\ncorpus = "text.txt"\n'
    path = write_spec(body)
    with pytest.raises(ConfigError, match=None) as info:
        load_spec(path)
    assert message in str(info.value)
    code = main(["sweep", str(path), "--out", str(spec_dir / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("charnn sweep: error: sweep spec ")
    assert message in err
    assert not (spec_dir / "out").exists()  # refused before anything starts


def test_unreadable_specs(spec_dir, capsys):
    (spec_dir / "bad.toml").write_bytes(b"\xff\xfe")
    cases = [
        (spec_dir / "nope.toml", "sweep spec not found"),
        (spec_dir, "is a directory"),
        (spec_dir / "bad.toml", "is not UTF-8 text"),
    ]
    for path, message in cases:
        assert main(["sweep", str(path), "--out", str(spec_dir / "out")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err


def test_missing_dask_is_one_line(write_spec, spec_dir, capsys, monkeypatch, base):
    monkeypatch.setitem(__import__("sys").modules, "distributed", None)
    code = main(["sweep", str(write_spec(base)), "--out", str(spec_dir / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "pip install 'charnn[sweep]'" in err


def test_a_sweep_folder_labelled_the_old_way_is_continued(write_spec, spec_dir, tmp_path):
    """Folders made when two corpus files of one name shared the setting label
    'corpus=c' hold the same runs: they are continued, not refused."""
    import json

    from charnn.sweep import folder as sf

    for folder in ("a", "b"):
        (spec_dir / folder).mkdir()
        (spec_dir / folder / "c.txt").write_text((spec_dir / "text.txt").read_text())
    spec = '[base]\nseq_length = 10\nupdates = 10\n[grid]\ncorpus = ["a/c.txt", "b/c.txt"]\n'
    sweep, out = load_spec(write_spec(spec)), tmp_path / "out"
    token = sf.prepare(out, sweep, b"spec")
    info = json.loads((out / sf.SWEEP_JSON).read_text())
    for run in info["sweep"]["runs"]:
        run["setting"] = "corpus=c"
    (out / sf.SWEEP_JSON).write_text(json.dumps(info))
    assert sf.prepare(out, sweep, b"spec") == token
    info["sweep"]["runs"][0]["config"]["lr"] = 0.3  # a real difference is still refused
    (out / sf.SWEEP_JSON).write_text(json.dumps(info))
    with pytest.raises(CheckpointError, match="made from another spec"):
        sf.prepare(out, sweep, b"spec")


def test_one_corpus_spelled_twice_is_refused(write_spec, spec_dir):
    """'a/c.txt' and './a/c.txt' are one corpus: two settings would train the
    same runs twice and average them as seeds."""
    (spec_dir / "a").mkdir()
    (spec_dir / "a" / "c.txt").write_text((spec_dir / "text.txt").read_text())
    spec = '[base]\nseq_length = 10\nupdates = 10\n[grid]\ncorpus = ["a/c.txt", "./a/c.txt"]\n'
    with pytest.raises(ConfigError, match="grid.corpus names one corpus twice"):
        load_spec(write_spec(spec))

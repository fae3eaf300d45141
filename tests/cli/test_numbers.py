"""The numbers the CLI shows: the evaluation state, the uniform-guessing
warning, bits per character, one update numbering, --best-by, resume records,
sample's options, compare's checks and the help of every option."""

import argparse
import json
import math
import re

import numpy as np

from charnn import cli
from charnn.cli.parser import build_parser
from charnn.run import bestval, rundir, snapshot
from charnn.run.evaluation import score, uniform_warning

SMALL = ["--hidden", "8", "--seq-length", "10", "--eval-every", "20", "--engine", "reference"]
SMALL += ["--sample-every", "20", "--sample-length", "30", "--checkpoint-every", "20"]


def train(tmp_path, text_file, name="run", *extra):
    out = tmp_path / name
    assert cli.main(["train", str(text_file), "--out", str(out), *SMALL, *extra]) == 0
    return out


def test_log_lines_at_multiples_of_log_every_in_bits_per_char(tmp_path, text_file, capsys):
    train(tmp_path, text_file, "run", "--updates", "45", "--log-every", "15")
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("update ")]
    assert [ln.split()[1] for ln in lines] == ["15/45", "30/45", "45/45"]
    assert all("bits/char" in ln and "nats/sequence" in ln for ln in lines)
    assert "epoch 0." in lines[0]  # fractional epochs


def test_done_line_uses_updates_done(tmp_path, text_file, capsys):
    run = train(tmp_path, text_file, "run", "--updates", "40", "--quiet")
    done = capsys.readouterr().out
    rows = [r for r in rundir.read_metrics(run) if r["loss"] is not None]
    best = min(rows, key=lambda r: r["smooth_loss"])
    assert f"at update {int(best['update'])};" in done
    assert f"{best['smooth_bpc']:.4f} bits/char" in done


def test_validation_starts_from_the_carried_state_even_at_an_epoch_end(tmp_path, text_file):
    run = train(tmp_path, text_file, "run", "--epochs", "1", "--quiet")
    _, cfg, vocab, state, _ = snapshot.load_train(run / rundir.CHECKPOINT)
    assert not state.h.any()  # the epoch ended: the training state is zero
    _, _, params, carried, _ = snapshot.load_model(run / rundir.CHECKPOINT)
    assert np.abs(carried).max() > 0.01
    from charnn.nn import rnn
    from charnn.run.split import prepare_data

    val = prepare_data(cfg, vocab).val
    last = [r for r in rundir.read_metrics(run) if r["val_bpc"] is not None][-1]
    assert last["val_bpc"] == score(rnn.text_loss, params, val, carried)[1]


def test_uniform_warning():
    assert uniform_warning(5.9, 64) == ""
    w = uniform_warning(24.7, 68)
    assert w.startswith("WARNING: 24.7000 bits/char is worse than") and "6.0875" in w
    assert "not finite" in uniform_warning(math.nan, 68)


def test_evaluate_warns_when_worse_than_uniform(tmp_path, text_file, capsys):
    run = train(tmp_path, text_file, "run", "--updates", "20", "--quiet")
    cfg, vocab, params, h, x = snapshot.load_model(run / rundir.BEST)
    params["c"][...] = -50.0
    params["c"][vocab.index["q"]] = 50.0  # certain of a character the text rarely has
    model = bestval.Model(params, h, x, 20, 1.0)
    bestval.save(tmp_path / "bad.npz", cfg, vocab, model, math.nan, None)
    capsys.readouterr()
    assert cli.main(["evaluate", str(tmp_path / "bad.npz"), str(text_file)]) == 0
    out = capsys.readouterr().out
    assert "WARNING" in out and "worse than guessing uniformly" in out
    assert "the text is unlike the model's training text, or the model starts in a state" in out
    assert cli.main(["evaluate", str(tmp_path / "bad.npz"), str(text_file), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["bits_per_char"] > res["uniform_bits_per_char"] and res["warning"]
    assert res["start"] == "carried"


def test_best_by_val_keeps_the_lowest_validation(tmp_path, text_file, capsys):
    run = train(tmp_path, text_file, "run", "--updates", "60", "--best-by", "val", "--quiet")
    val = [r for r in rundir.read_metrics(run) if r["val_bpc"] is not None]
    low = min(val, key=lambda r: r["val_bpc"])
    c, params, h = snapshot.load_best(run / rundir.BEST_VAL)
    assert c["best_update"] == low["update"] and c["val_bpc"] == low["val_bpc"]
    assert bestval.model_file(run, "best") == run / rundir.BEST_VAL
    out = json.loads((run / bestval.OUTCOME).read_text())
    assert out["best_val"]["val_bpc"] == low["val_bpc"] and "val_bpc" in out["best_smooth"]
    assert (run / "best_200.txt").exists()


def test_a_validation_too_small_names_its_characters_right(tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text("to be or not to be " * 80, encoding="utf-8")  # 1,520 characters
    args = ["train", str(corpus), "--out", str(tmp_path / "r"), "--updates", "20"]
    assert cli.main([*args, "--val-fraction", "0.001"]) == 2
    err = capsys.readouterr().err
    assert "holds out 1 character of 1,520;" in err and len(err.splitlines()) == 1


def test_best_by_val_without_validation_is_refused(tmp_path, text_file, capsys):
    args = ["train", str(text_file), "--out", str(tmp_path / "r"), "--updates", "20"]
    assert cli.main([*args, "--best-by", "val", "--val-fraction", "0"]) == 2
    err = capsys.readouterr().err
    assert "--val-fraction 0 holds out no text" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "r" / "config.json").exists()


def test_resume_rewrites_config_and_best_texts(tmp_path, text_file, capsys):
    run = train(tmp_path, text_file, "run", "--updates", "40", "--quiet")
    before = (run / "best_1000.txt").read_text()
    assert cli.main(["train", "--resume", str(run), "--updates", "80", "--quiet"]) == 0
    info = rundir.read_config(run)
    assert info["config"]["updates"] == 80 and info["resumed"][0]["update"] == 40
    out = json.loads((run / bestval.OUTCOME).read_text())
    assert out["updates"] == 80
    assert (run / "best_1000.txt").read_text() != before


def test_sample_seed_state_num_samples_and_prime_file(tmp_path, text_file, capsys):
    run = train(tmp_path, text_file, "run", "--updates", "20", "--quiet")
    capsys.readouterr()
    prime = tmp_path / "prime.txt"
    prime.write_text("To be", encoding="utf-8")
    args = ["sample", str(run), "--length", "12", "--num-samples", "3", "--prime-file", str(prime)]
    assert cli.main(args) == 0
    res = capsys.readouterr()
    seed = int(res.err.split("seed ")[1].split()[0])
    assert "from its carried state" in res.err and "chosen" in res.err
    assert res.out.count("=== sample ") == 3 and res.out.count("To be") == 3
    assert cli.main([*args, "--seed", str(seed)]) == 0  # the printed seed repeats it
    assert capsys.readouterr().out == res.out
    assert cli.main(["sample", str(run), "--start", "zero", "--seed", "1"]) == 0
    assert "from h = 0" in capsys.readouterr().err


def test_compare_refuses_one_run_or_the_same_twice(tmp_path, text_file, capsys):
    a = train(tmp_path, text_file, "a", "--updates", "20", "--quiet")
    assert cli.main(["compare", str(a), "--out", str(tmp_path / "c")]) == 2
    assert "needs two or more" in capsys.readouterr().err
    other = tmp_path / "x" / ".." / "a"  # the same folder by another name
    assert cli.main(["compare", str(a), str(other), "--out", str(tmp_path / "c")]) == 2
    assert f"{other} and {a} are the same run" in capsys.readouterr().err


def test_compare_prints_a_table_and_warns_on_other_lengths(tmp_path, text_file, capsys):
    a = train(tmp_path, text_file, "a", "--updates", "20", "--quiet")
    b = train(tmp_path, text_file, "b", "--updates", "20", "--quiet", "--seq-length", "12")
    capsys.readouterr()
    assert cli.main(["compare", str(a), str(b), "--out", str(tmp_path / "c")]) == 0
    res = capsys.readouterr()
    assert "min smoothed training bits/char" in res.out and "written:" in res.out
    assert "differ in sequence length (10, 12)" in res.err


def test_every_option_and_positional_has_help_and_bare_charnn_lists_commands(capsys):
    parser = build_parser()
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in subs.choices.items():
        for action in sub._actions:
            assert action.help and action.help != argparse.SUPPRESS, (name, action.dest)
    assert cli.main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: charnn") and all(c in err for c in subs.choices)


def test_small_cli_slips(tmp_path, text_file, capsys):
    """An empty path is refused (it meant '.'); --prime-file's errors name it,
    not a corpus; gradcheck's help names its default once."""
    assert cli.main(["train", str(text_file), "--out", ""]) == 2
    assert "argument --out: an empty path" in capsys.readouterr().err
    run = train(tmp_path, text_file, "run", "--updates", "20", "--quiet")
    assert cli.main(["sample", str(run), "--prime-file", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert "--prime-file file not found" in err and "corpus" not in err
    commands = build_parser()._subparsers._group_actions[0].choices
    helptext = commands["gradcheck"].format_help()
    assert helptext.count("(default: tragedies)") == 1
    for name, command in commands.items():  # no help says "(default: None)", nor twice
        helptext = " ".join(command.format_help().split())
        assert not re.search(r"default:?\s+None", helptext), name
        assert not re.search(r"\(([^()]+)\) \(default \1\)", helptext), name


def test_sampling_a_diverged_run_says_so(tmp_path, text_file, capsys):
    run = tmp_path / "dv"
    args = ["train", str(text_file), "--out", str(run), "--updates", "400", "--lr", "1e6"]
    assert cli.main([*args, "--clip", "0", "--checkpoint-every", "1", "--quiet"]) == 1
    capsys.readouterr()
    update = rundir.read_diverged(run)["update"]
    rc = cli.main(["sample", str(run), "--length", "10", "--seed", "1"])
    err = capsys.readouterr().err
    if (run / rundir.BEST).exists():
        assert rc == 0 and f"WARNING: {run} diverged at update {update:,}" in err
    else:
        assert rc == 2 and f"diverged at update {update:,} before it wrote best.npz" in err
        if (run / rundir.BEST_VAL).exists():  # the model it has is named
            assert "use --checkpoint best-val" in err
            assert cli.main(["sample", str(run), "--checkpoint", "best-val", "--length", "5"]) == 0


def test_every_reader_of_a_diverged_run_s_models_warns(tmp_path, text_file, capsys):
    """sample and evaluate, of the run or of a checkpoint file inside it, in
    plain and document mode: the models are from before the divergence."""
    plain = train(tmp_path, text_file, "plain", "--updates", "20", "--quiet")
    docs = train(tmp_path, text_file, "docs", "--updates", "20", "--documents", "lines", "--quiet")
    for run in (plain, docs):
        rundir.write_json(run / rundir.DIVERGED, {"update": 17, "message": "loss is nan"})
    capsys.readouterr()
    text = str(text_file)
    for argv in (
        ["sample", str(plain), "--length", "10", "--seed", "1"],
        ["sample", str(plain / rundir.CHECKPOINT), "--length", "10", "--seed", "1"],
        ["evaluate", str(plain), text],
        ["evaluate", str(plain / rundir.BEST), text],
        ["sample", str(docs / rundir.BEST), "--documents", "2", "--seed", "1"],
        ["evaluate", str(docs), text, "--documents", "lines"],
    ):
        assert cli.main(argv) == 0, argv
        run = plain if str(plain) in argv[1] else docs
        warned = f"charnn {argv[0]}: WARNING: {run} diverged at update 17"
        assert warned in capsys.readouterr().err, argv


def test_best_val_of_a_run_without_validation_says_why(tmp_path, text_file, capsys):
    run = train(tmp_path, text_file, "vf0", "--updates", "20", "--val-fraction", "0", "--quiet")
    assert cli.main(["sample", str(run), "--checkpoint", "best-val"]) == 2
    assert "held out no validation text (--val-fraction 0)" in capsys.readouterr().err


def test_train_refuses_a_sweep_folder_as_out(tmp_path, text_file, capsys):
    (tmp_path / "sw" / "runs" / "seed-1").mkdir(parents=True)
    (tmp_path / "sw" / "sweep.json").write_text("{}", encoding="utf-8")
    argv = ["train", str(text_file), "--updates", "20", "--force", "--out"]
    assert cli.main([*argv, str(tmp_path / "sw")]) == 2
    assert "is a sweep folder" in capsys.readouterr().err
    for inside in ("runs", "runs/seed-1", "runs/seed-2"):
        assert cli.main([*argv, str(tmp_path / "sw" / inside)]) == 2
        assert "is inside the sweep" in capsys.readouterr().err
    assert not list((tmp_path / "sw").rglob("config.json"))
    assert cli.main(["sample", "--untrained", "", "--length", "5"]) == 2
    assert "argument --untrained: an empty value" in capsys.readouterr().err


def test_counts_of_one_are_singular():
    from charnn.words import counted

    assert counted(1, "update") == "1 update" and counted(0, "update") == "0 updates"
    assert counted(12345, "character") == "12,345 characters"
    assert counted(2, "child", "children") == "2 children"
    from charnn.report.summary import fmt_count

    assert fmt_count(1, "update") == "1 update" and fmt_count(None, "update") == ""

"""Gated cells and stacked layers through a whole run: train, resume exactly,
sample, evaluate, gradient-check, with the options checked."""

import json

import numpy as np
import pytest

from charnn import cli
from charnn.errors import ConfigError
from charnn.nn import arch, stack
from charnn.run import loop, rundir, snapshot
from charnn.run.options import BY_NAME
from runs import compare_runs, config, run_to_end


def test_the_options_table_knows_every_cell():
    assert BY_NAME["cell"].choices == tuple(arch.CELLS)


@pytest.mark.parametrize("cell, layers, dropout", [("gru", 2, 0.0), ("lstm", 2, 0.3)])
def test_gated_run_resumes_bit_exact(tmp_path, text_file, cell, layers, dropout):
    cfg = config(
        text_file,
        cell=cell,
        layers=layers,
        dropout=dropout,
        hidden=6,
        batch_size=2,
        updates=30,
        checkpoint_every=7,
        optimizer="adam",
        lr=0.01,
    )
    whole, _ = run_to_end(tmp_path / "whole", cfg)
    S = arch.Arch(cell, layers, whole.data.vocab.size, 6).state_size
    assert whole.state.h.shape == (2, S) and whole.state.best_h.shape == (S,)
    assert whole.cfg.sig == pytest.approx(1 / np.sqrt(6))  # the gated cells' default
    part = loop.Run.start(tmp_path / "parts", cfg.__class__(**{**cfg.to_dict(), "updates": 11}))
    part.train(lambda e: None)
    loop.Run.resume(tmp_path / "parts", {"updates": 30}).train(lambda e: None)
    compare_runs(tmp_path / "whole", tmp_path / "parts")
    saved = json.loads((tmp_path / "whole" / rundir.CONFIG).read_text())["config"]
    assert (saved["cell"], saved["layers"], saved["dropout"]) == (cell, layers, dropout)


def test_gated_run_learns(tmp_path, text_file):
    cfg = config(text_file, cell="lstm", hidden=16, updates=150, optimizer="adam", lr=0.02)
    r, _ = run_to_end(tmp_path / "r", cfg)
    losses = [row["loss"] for row in rundir.read_metrics(tmp_path / "r") if row["loss"]]
    assert np.mean(losses[-20:]) < 0.6 * np.mean(losses[:5])


def test_sample_and_evaluate_a_gated_run(tmp_path, text_file, capsys):
    cfg = config(text_file, cell="gru", layers=2, hidden=6, updates=20)
    run_to_end(tmp_path / "r", cfg)
    _, vocab, params, h, x = snapshot.load_model(tmp_path / "r" / rundir.BEST)
    assert stack.describe(params) == arch.Arch("gru", 2, vocab.size, 6)
    assert cli.main(["sample", str(tmp_path / "r"), "--length", "40", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert len(out.rstrip("\n")) == 40 and set(out.rstrip("\n")) <= set(vocab.chars)
    assert cli.main(["evaluate", str(tmp_path / "r"), str(text_file), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert 0 < result["bits_per_char"] < np.log2(vocab.size) + 1


@pytest.mark.parametrize("cell, layers", [("lstm", 2), ("gru", 1), ("rnn", 1)])
def test_priming_runs_compiled_and_agrees_with_the_spec(tmp_path, text_file, cell, layers):
    from charnn import engine
    from charnn.nn import sampling
    from charnn.run.backend import for_model

    cfg = config(text_file, cell=cell, layers=layers, hidden=6, updates=5)
    run_to_end(tmp_path / "r", cfg)
    _, vocab, params, h, _ = snapshot.load_model(tmp_path / "r" / rundir.BEST)
    assert for_model(cfg).prime is engine.prime
    ids = vocab.encode(text_file.read_text()[:300])
    got_h, got_x = for_model(cfg).prime(params, h, ids)
    ref_h, ref_x = sampling.prime(params, h, ids)
    assert got_x == ref_x and np.abs(got_h - ref_h).max() < 1e-12


def test_gradcheck_command_for_a_stacked_lstm(text_file, capsys):
    argv = ["gradcheck", str(text_file), "--cell", "lstm", "--layers", "2", "--hidden", "3"]
    assert cli.main(argv + ["--seq-length", "6", "--max-entries", "40"]) == 0
    out = capsys.readouterr().out
    assert "lstm, 2 layer(s)" in out and "all gradients pass" in out
    names = {line.split()[0] for line in out.splitlines()[2:-1]}
    assert {"W", "U", "W1", "U1", "V", "b", "b1", "c", "h0", "c0", "h0_1", "c0_1"} <= names


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"dropout": 0.5}, "--layers 2 or more"),
        ({"dropout": 1.0, "layers": 2}, "--dropout must be in [0, 1)"),
        ({"layers": 0}, "--layers must be a positive integer"),
        ({"layers": 2, "engine": "fast"}, "the fast engine runs one rnn layer"),
        ({"cell": "gru", "layers": 2, "dropout": 0.2, "engine": "fast"}, "--engine reference"),
    ],
)
def test_bad_cell_options(text_file, kw, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace(")", r"\)")):
        config(text_file, **kw).validate()


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_fast_engine_runs_gated_stacks_like_the_reference(tmp_path, text_file, cell):
    """Per step the engine equals the spec; over 12 updates of Adam the runs stay
    within round-off (a trajectory under AdaGrad's first steps would not)."""
    kw = dict(cell=cell, layers=2, hidden=6, batch_size=2, updates=12, optimizer="adam", lr=0.01)
    fast, _ = run_to_end(tmp_path / "fast", config(text_file, engine="fast", **kw))
    ref, _ = run_to_end(tmp_path / "ref", config(text_file, engine="reference", **kw))
    for k in ref.state.params:
        np.testing.assert_allclose(fast.state.params[k], ref.state.params[k], rtol=0, atol=1e-9)
    a = [r["loss"] for r in rundir.read_metrics(tmp_path / "fast") if r["loss"] is not None]
    b = [r["loss"] for r in rundir.read_metrics(tmp_path / "ref") if r["loss"] is not None]
    np.testing.assert_allclose(a, b, rtol=1e-9)

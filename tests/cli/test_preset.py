"""--preset: a named recipe fills the options a new run does not give, and
config.json records the values used."""

import json

from charnn import cli
from charnn.run.options import BY_NAME, PRESETS


def test_presets_name_real_options_with_valid_values():
    for preset in PRESETS.values():
        for name, value in preset.items():
            option = BY_NAME[name]
            assert isinstance(value, option.type), name
            assert option.choices is None or value in option.choices, name


def test_preset_fills_what_is_not_given(tmp_path, text_file, capsys):
    out = tmp_path / "r"
    args = ["train", str(text_file), "--out", str(out), "--preset", "quality-5min"]
    args += ["--hidden", "8", "--layers", "1", "--seq-length", "10", "--batch-size", "2"]
    args += ["--max-time", "30", "--updates", "3", "--val-fraction", "0.1", "--quiet"]
    assert cli.main(args) == 0
    cfg = json.loads((out / "config.json").read_text())["config"]
    given = dict(hidden=8, layers=1, seq_length=10, batch_size=2, max_time=30.0, updates=3)
    assert {k: cfg[k] for k in given} == given
    preset = PRESETS["quality-5min"]
    for name in ("cell", "optimizer", "lr", "dtype", "anneal", "eval_every"):
        assert cfg[name] == preset[name], name


def test_preset_with_resume_is_refused(tmp_path, text_file, capsys):
    rc = cli.main(["train", "--resume", str(tmp_path), "--preset", "quality-5min"])
    err = capsys.readouterr().err
    assert rc == 2 and "--preset applies to new runs" in err and "Traceback" not in err

"""Document mode on the command line: train, sample --documents, evaluate
--documents, the report, and one clear line for each bad input."""

import json
import re

import pytest

from charnn import cli
from charnn.data.documents import END, END_MARK

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
    "--quiet",
]
TWEETS = [{"id": i, "full_text": t} for i, t in enumerate(["hello world", "good night", "hi"] * 8)]


@pytest.fixture
def tweets(tmp_path):
    path = tmp_path / "tweets.json"
    path.write_text(json.dumps(TWEETS), encoding="utf-8")
    return path


@pytest.fixture
def run(tmp_path, tweets, capsys):
    out = tmp_path / "run"
    args = ["train", str(tweets), "--documents", "json:full_text", "--out", str(out), *SMALL]
    assert cli.main(args) == 0
    capsys.readouterr()
    return out


def one_error_line(capsys, rc):
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_sample_documents_never_hold_the_end_symbol(run, capsys):
    rc = cli.main(["sample", str(run), "--documents", "50", "--seed", "1", "--json"])
    out = capsys.readouterr()
    assert rc == 0
    rows = [json.loads(line) for line in out.out.splitlines()]
    assert len(rows) == 50 and all(set(r) == {"text", "ended"} for r in rows)
    assert all(END not in r["text"] and len(r["text"]) <= 280 for r in rows)
    cut = [str(i + 1) for i, r in enumerate(rows) if not r["ended"]]
    assert (f"number {', '.join(cut[:20])}" in out.err) == bool(cut)


def test_sample_documents_one_per_line_with_a_limit_and_a_primer(run, capsys):
    rc = cli.main(
        ["sample", str(run), "--documents", "6", "--seed", "2", "--max-length", "4"]
        + ["--prime", "go", "--temperature", "0.5"]
    )
    out = capsys.readouterr()
    lines = out.out.rstrip("\n").split("\n")
    assert rc == 0 and len(lines) == 6
    assert all(line.startswith("go") and len(line) <= 4 for line in lines)
    assert "reached --max-length 4 before the end symbol" in out.err


def test_plain_sample_of_a_document_run_shows_the_end_symbol(run, capsys):
    assert cli.main(["sample", str(run), "--length", "300", "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert END not in out and END_MARK in out


def test_plain_evaluate_of_a_document_run_is_refused(run, tmp_path, capsys):
    """Read as plain text, the documents would lose their ends and resets,
    and characters the model never saw between them: another text scored."""
    path = tmp_path / "names.txt"
    path.write_text("hello\nhi\n", encoding="utf-8")
    rc = cli.main(["evaluate", str(run), str(path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1
    assert "was trained on documents (--documents json:full_text)" in err[0]


def test_evaluate_documents_refuses_a_start_state_and_names_its_model(run, tmp_path, capsys):
    path = tmp_path / "names.txt"
    path.write_text("hello\nhi\n", encoding="utf-8")
    rc = cli.main(["evaluate", str(run), str(path), "--documents", "lines", "--start", "zero"])
    assert "--start does not apply to --documents" in one_error_line(capsys, rc)
    rc = cli.main(["evaluate", str(run), str(path), "--documents", "lines", "--json"])
    assert rc == 0 and json.loads(capsys.readouterr().out)["model"] == "best.npz"


def test_evaluate_documents_counts_the_end_symbols(run, tmp_path, capsys):
    path = tmp_path / "names.txt"
    path.write_text("hello\n\nhi\nwho?\n", encoding="utf-8")
    rc = cli.main(["evaluate", str(run), str(path), "--documents", "lines", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert result["documents"] == 3 and result["characters"] == 5 + 2 + 3 + 3
    assert result["skipped"] == 1 and result["unknown"] == ["?"]
    assert result["bits_per_char"] == pytest.approx(result["nats_per_char"] / 0.6931471805599453)
    assert result["skipped_documents"] == 0 and not result["warning"]


def test_evaluate_documents_names_what_it_left_out_and_warns_when_worse_than_uniform(
    run, tmp_path, capsys
):
    """A document of unknown characters only is left out, and said so; text
    unlike the training documents scores worse than uniform guessing, and
    gets the same warning as plain evaluation, naming the likely cause."""
    path = tmp_path / "odd.txt"
    path.write_text("tgtgtgtgwdwdwd\n???\nrrrrrrrrrrrrrrrrrrrrrrr\n", encoding="utf-8")
    rc = cli.main(["evaluate", str(run), str(path), "--documents", "lines", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert rc == 0 and result["documents"] == 2 and result["skipped_documents"] == 1
    assert result["bits_per_char"] > result["uniform_bits_per_char"] > 0
    assert "worse than guessing uniformly" in result["warning"]
    assert cli.main(["evaluate", str(run), str(path), "--documents", "lines"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert (
        "over 2 documents" in out[0]
        and "(1 document of unknown characters only left out)" in out[0]
    )
    assert out[1].startswith("WARNING: ") and "unlike the model's training documents" in out[1]


def test_report_of_a_document_run(run, capsys):
    assert cli.main(["report", str(run)]) == 0
    md = (run / "report.md").read_text(encoding="utf-8")
    assert "| training documents | 23 |" in md and "| validation documents" in md
    assert "generated document" in md and END not in md and END_MARK in md
    # the streams' sizes are said to count the ends, and the one the parts share
    info = json.loads((run / "config.json").read_text(encoding="utf-8"))["corpus"]
    assert info["train_chars"] + info["val_chars"] == info["chars"] + 1
    assert f"| training symbols | {info['train_chars']:,} |" in md
    assert "the two parts each repeat the ⟨end⟩ at their border" in md


def test_resume_keeps_the_documents_mode(run, capsys):
    rc = cli.main(["train", "--resume", str(run), "--documents", "lines"])
    assert "--documents lines differs from the run's json:full_text" in one_error_line(capsys, rc)


@pytest.mark.parametrize(
    "content, mode, message",
    [
        ('{"text": "a"}\nnot json\n', "jsonl", "line 2 is not valid JSON"),
        ('{"text": "a"}\n{"body": "b"}\n', "jsonl", "line 2: no field 'text'"),
        ('[{"text": "a"}, {"text": 3}]', "json", r"item \[1\]: field 'text' is int"),
        ('[{"text": "a\\u0000"}]', "json", "contains the character U\\+0000"),
        ("\n\n", "lines", "holds no document"),
        ("a\nb\n", "csv", "--documents must be lines, paragraphs"),
    ],
)
def test_bad_documents_give_one_line(tmp_path, capsys, content, mode, message):
    path = tmp_path / "bad.txt"
    path.write_text(content, encoding="utf-8")
    rc = cli.main(["train", str(path), "--documents", mode, "--out", str(tmp_path / "r")])
    assert re.search(message, one_error_line(capsys, rc))
    assert not (tmp_path / "r" / "config.json").exists()


def test_document_commands_on_a_plain_run_are_refused(tmp_path, text_file, capsys):
    out = tmp_path / "plain"
    assert cli.main(["train", str(text_file), "--out", str(out), *SMALL]) == 0
    capsys.readouterr()
    rc = cli.main(["sample", str(out), "--documents", "3"])
    assert "trained on plain text, not on documents" in one_error_line(capsys, rc)
    (tmp_path / "p.txt").write_text("a", encoding="utf-8")  # an error not about the prime
    rc = cli.main(["sample", str(out), "--documents", "3", "--prime-file", str(tmp_path / "p.txt")])
    assert one_error_line(capsys, rc).startswith(f"charnn sample: error: {out} was trained on")
    rc = cli.main(["evaluate", str(out), str(text_file), "--documents", "lines"])
    assert "trained on plain text, not on documents" in one_error_line(capsys, rc)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--documents", "0"], "--documents must be a positive integer"),
        (["--documents", "2", "--max-length", "0"], "--max-length must be a positive integer"),
        (["--documents", "2", "--prime", "hello world!!"], "--prime has 13 characters"),
        (["--documents", "2", "--max-length", "4", "--prime", "hello"], "--prime has 5"),
        (["--documents", "2", "--prime", "Z"], "characters not in the model's vocabulary: 'Z'"),
        (["--documents", "2", "--length", "50"], "--length does not apply to --documents"),
        (["--documents", "2", "--num-samples", "3", "--start", "zero"], "--start do not apply"),
        (["--documents", "2", "--prime-file", "/nonexistent"], "/nonexistent"),
        (
            ["--documents", "2", "--prime", "a", "--prime-file", "x"],
            "error: give --prime TEXT or --prime-file PATH, not both",
        ),
        (["--max-length", "50"], "--max-length does not apply without --documents"),
        (["--json"], "--json does not apply without --documents"),
        (["--hidden", "5"], "--hidden does not apply to a trained model"),
        (["--untrained"], "not both"),
    ],
)
def test_bad_sample_documents_options(run, capsys, extra, message):
    if "--prime has 13" in message:
        extra = [*extra, "--max-length", "10"]
    rc = cli.main(["sample", str(run), *extra])
    assert message in one_error_line(capsys, rc)


def test_sample_documents_prints_the_seed_it_chose_and_takes_a_prime_file(run, tmp_path, capsys):
    assert cli.main(["sample", str(run), "--documents", "3"]) == 0
    err = capsys.readouterr().err
    seed = int(re.search(r"seed (\d+) \(chosen; give --seed to repeat\)", err).group(1))
    first = capsys.readouterr()
    assert cli.main(["sample", str(run), "--documents", "3", "--seed", str(seed)]) == 0
    again = capsys.readouterr()
    assert cli.main(["sample", str(run), "--documents", "3", "--seed", str(seed)]) == 0
    assert capsys.readouterr().out == again.out and first.err == ""
    vocab = json.loads((run / "config.json").read_text(encoding="utf-8"))["vocab"]
    letter = next(ch for ch in vocab if ch.isalpha())
    (tmp_path / "p.txt").write_text(letter, encoding="utf-8")
    argv = ["sample", str(run), "--documents", "4", "--seed", "1", "--json"]
    assert cli.main([*argv, "--prime-file", str(tmp_path / "p.txt")]) == 0
    docs = [json.loads(line)["text"] for line in capsys.readouterr().out.splitlines()]
    assert len(docs) == 4 and all(d.startswith(letter) for d in docs)


def test_a_prime_file_in_document_mode(run, tmp_path, capsys):
    """An editor's final line break is not part of the prime; errors name
    --prime-file; a prime of exactly --max-length characters is a document."""
    vocab = json.loads((run / "config.json").read_text(encoding="utf-8"))["vocab"]
    letter = next(ch for ch in vocab if ch.isalpha())
    (tmp_path / "p.txt").write_text(letter * 3 + "\n", encoding="utf-8")
    argv = ["sample", str(run), "--documents", "3", "--seed", "1", "--json"]
    assert cli.main([*argv, "--prime-file", str(tmp_path / "p.txt")]) == 0
    docs = [json.loads(line)["text"] for line in capsys.readouterr().out.splitlines()]
    assert all(d.startswith(letter * 3) for d in docs)
    rc = cli.main([*argv, "--prime-file", str(tmp_path / "p.txt"), "--max-length", "2"])
    assert "--prime-file has 3 characters" in one_error_line(capsys, rc)

    assert cli.main([*argv, "--prime-file", str(tmp_path / "p.txt"), "--max-length", "3"]) == 0
    docs = [json.loads(line)["text"] for line in capsys.readouterr().out.splitlines()]
    assert docs == [letter * 3] * 3


def test_a_prime_file_of_a_line_break_alone_is_empty_once(run, tmp_path, capsys):
    (tmp_path / "nl.txt").write_text("\n", encoding="utf-8")
    argv = ["sample", str(run), "--documents", "2", "--prime-file", str(tmp_path / "nl.txt")]
    line = one_error_line(capsys, cli.main(argv))
    assert line.endswith(f"error: --prime-file {tmp_path / 'nl.txt'} is empty")


def test_sampling_json_of_a_document_run_restarts_after_each_end(run):
    """The report's samples at several settings read documents as the model
    was trained to and as `charnn sample` does: from h = 0 after each ⟨end⟩."""
    import numpy as np

    from charnn.nn import sampling
    from charnn.run import docgen, snapshot

    smp = json.loads((run / "sampling.json").read_text(encoding="utf-8"))
    cfg, vocab, params, h, x = snapshot.load_model(run / "best.npz")
    rng = np.random.default_rng([cfg.seed, 2])
    for row in smp["samples"]:
        options = {k: row[k] for k in ("temperature", "top_k", "top_p")}
        ids = docgen.stream(sampling.synthesize, params, h, x, smp["length"], rng, **options)
        assert vocab.decode(ids) == row["text"], row["label"]
    assert sum(row["text"].count(END) for row in smp["samples"]) >= 6  # restarts were drawn
    assert cli.main(["report", str(run)]) == 0
    md = (run / "report.md").read_text(encoding="utf-8")
    assert "from h = 0 again after every ⟨end⟩" in md and "carried state" not in md

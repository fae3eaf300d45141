"""The report and the comparison: every section present, numbers equal to the
run's files, texts escaped exactly, hostile corpora inert, nothing loaded from
outside, images that are real PNGs, and the CLI's report subcommand."""

import base64
import html
import json
import math
import os
import re
import shlex
import shutil
import struct
import subprocess
import sys
import warnings
from html.parser import HTMLParser
from pathlib import Path

import pytest

from charnn import cli
from charnn.errors import CheckpointError, DivergenceError
from charnn.report import compare, single
from charnn.report.render import fence, visible
from charnn.run import rundir
from charnn.run.config import TrainConfig
from charnn.run.loop import Interrupted, Run

SECTIONS = (
    "summary",
    "data",
    "config",
    "untrained",
    "gradcheck",
    "loss",
    "evolution",
    "best",
    "sampling",
    "outcome",
)
MD_TITLES = (
    "Summary",
    "1. The data",
    "2. Configuration",
    "3. Text from the randomly initialized network",
    "4. Gradient check",
    "5. Training and validation loss",
    "6. Text evolution",
    "7. Text from the best model",
    "8. Sampling: temperature, top-k and nucleus",
    "9. Validation and throughput",
)
HOSTILE = (
    "<script>alert(1)</script> &amp; \"q\" 'a' ``` x\x07y\rz\tw caf\u00e9 \U0001f600 "
    "\u202eRTL</pre><img src=x onerror=alert(2)>\n"
)


def make_run(folder, corpus_file, **changes):
    opts = dict(
        corpus=str(corpus_file),
        hidden=8,
        seq_length=10,
        updates=60,
        eval_every=20,
        sample_every=20,
        sample_length=40,
        checkpoint_every=20,
        engine="reference",
    )
    Run.start(folder, TrainConfig(**{**opts, **changes})).train(lambda e: None)
    return folder


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    from conftest import TEXT

    base = tmp_path_factory.mktemp("clean")
    (base / "text.txt").write_text(TEXT, encoding="utf-8")
    run = make_run(base / "run", base / "text.txt")
    return run, single.write_report(run)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    from conftest import TEXT

    base = tmp_path_factory.mktemp("hostile")
    path = base / "evil.txt"
    path.write_bytes(((HOSTILE + TEXT[:200]) * 6).encode("utf-8"))
    run = make_run(base / "run", path)
    return run, single.write_report(run)


class Page(HTMLParser):
    """Collects tags, section ids, <pre> texts, table cells and image sources."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.sections, self.pres, self.images = [], [], [], []
        self.tables, self.captions = {}, []
        self._pre = self._cell = None
        self._table = self._p = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "section":
            self.sections.append(a.get("id"))
        elif tag == "pre":
            self._pre = []
        elif tag == "img":
            self.images.append(a["src"])
        elif tag == "table":
            self._table = self.tables.setdefault(a.get("id", ""), [])
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []
        elif tag == "p":
            self._p = []

    def handle_endtag(self, tag):
        if tag == "pre":
            self.pres.append("".join(self._pre))
            self._pre = None
        elif tag in ("td", "th") and self._cell is not None:
            self._table[-1].append("".join(self._cell))
            self._cell = None
        elif tag == "table":
            self._table = None
        elif tag == "p" and self._p is not None:
            self.captions.append("".join(self._p))
            self._p = None

    def handle_data(self, data):
        for part in (self._pre, self._cell, self._p):
            if part is not None:
                part.append(data)

    def row(self, table, label):
        return next(r[1:] for r in self.tables[table] if r and r[0] == label)


def parse(path):
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


def png_size(src: str) -> tuple[int, int]:
    """Width and height of a PNG data URI, checked by its signature and IHDR."""
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix)
    data = base64.b64decode(src[len(prefix) :], validate=True)
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def train_rows(run):
    return [r for r in rundir.read_metrics(run) if r["loss"] is not None]


def test_every_section_and_a_real_plot(clean):
    run, path = clean
    assert path == run / "report.html" and (run / "report.md").exists()
    page = parse(path)
    assert page.sections == list(SECTIONS)
    assert len(page.images) == 1
    w, h = png_size(page.images[0])
    assert w > 300 and h > 200
    assert any(t == "meta" and a.get("name") == "viewport" for t, a in page.tags)


def test_numbers_equal_the_metrics(clean):
    run, path = clean
    page = parse(path)
    rows = train_rows(run)
    best = min(rows, key=lambda r: r["smooth_loss"])
    bpc = best["smooth_loss"] / (10 * math.log(2))
    assert best["smooth_bpc"] == pytest.approx(bpc, rel=1e-12)
    assert page.row("loss-table", "minimum smoothed loss") == [
        f"{bpc:.4f} bits/char ({best['smooth_loss']:.2f} nats/seq)"
    ]
    assert page.row("loss-table", "reached at update") == [str(int(best["update"]))]
    n = int(best["update"]) - 1
    assert page.row("loss-table", "best model (by smoothed loss)") == [
        f"the parameters after {n} updates (those update {n + 1} computed its loss with)"
    ]
    out = json.loads((run / "outcome.json").read_text(encoding="utf-8"))
    assert out["best_smooth"]["update"] == best["update"] - 1  # one numbering: updates done
    val = [r for r in rundir.read_metrics(run) if r["val_bpc"] is not None]
    assert val[-1]["update"] == 60 and out["final_val_bpc"] == val[-1]["val_bpc"]
    low = min(val, key=lambda r: r["val_bpc"])
    assert (out["best_val"]["update"], out["best_val"]["val_bpc"]) == (
        low["update"],
        low["val_bpc"],
    )
    final = f"{val[-1]['val_bpc']:.4f} bits/char"
    assert page.row("summary-table", "validation, final model") == [final]
    assert page.row("outcome-table", "validation, best by validation") == [
        f"{low['val_bpc']:.4f} bits/char (parameters after {int(low['update'])} updates)"
    ]
    smooth_val = out["best_smooth"]["val_bpc"]
    assert page.row("summary-table", "validation, best by smoothed loss") == [
        f"{smooth_val:.4f} bits/char (parameters after {int(best['update']) - 1} updates)"
    ]
    rate = 60 / rows[-1]["elapsed_s"]
    assert page.row("outcome-table", "updates per second (whole run)") == [f"{rate:,.1f}"]
    assert page.row("outcome-table", "characters per second (whole run)") == [f"{rate * 10:,.0f}"]
    assert page.row("config-table", "hidden") == ["8"]
    assert page.row("data-table", "vocabulary size K") == [
        str(len(rundir.read_config(run)["vocab"]))
    ]


def test_best_model_row_says_what_best_npz_holds_after_a_kill(tmp_path, text_file):
    """Killed after logging past its last checkpoint, a run's log has a lower
    smoothed loss than the best model saved: the report names the saved one."""
    opts = dict(corpus=str(text_file), hidden=8, seq_length=10, updates=60, engine="reference")
    opts.update(eval_every=20, sample_every=20, checkpoint_every=20)
    straight = tmp_path / "straight"
    Run.start(straight, TrainConfig(**opts)).train(lambda e: None)
    killed = tmp_path / "killed"
    with pytest.raises(Interrupted):
        Run.start(killed, TrainConfig(**opts)).train(lambda e: None, stop_at_second_boundary())
    # what the process would have logged before a kill -9 at update 60
    shutil.copy(straight / "metrics.csv", killed / "metrics.csv")
    saved = single.file_counters(killed / rundir.BEST)["best_update"]
    logged = int(min(train_rows(killed), key=lambda r: r["smooth_loss"])["update"])
    assert saved < int(train_rows(killed)[-1]["update"]) and saved != logged - 1
    row = parse(single.write_report(killed)).row("loss-table", "best model (by smoothed loss)")
    assert row == [
        f"the parameters after {saved} updates (those update {saved + 1} computed its loss "
        f"with), as saved in best.npz at the run's last checkpoint; the lowest smoothed loss "
        f"in the log, at update {logged}, came after it and was not saved"
    ]


def test_every_sample_appears_with_its_update(clean):
    run, path = clean
    page, raw = parse(path), path.read_text(encoding="utf-8")
    samples = rundir.read_samples(run)
    assert [s["update"] for s in samples] == [0, 20, 40, 60]
    for s in samples:
        assert f'<pre class="text">{html.escape(s["text"], quote=True)}</pre>' in raw
        loss = (
            "before the first update"
            if s["smooth_loss"] is None
            else f"smoothed loss {s['smooth_loss'] / (10 * math.log(2)):.3f} bits/char"
        )
        assert f"After {s['update']} updates ({loss}):" in page.captions
    for n in (200, 1000):
        assert (run / f"best_{n}.txt").read_text(encoding="utf-8") in page.pres


def test_untrained_samples_and_gradient_check(clean):
    run, path = clean
    page = parse(path)
    untrained = [c for c in page.captions if c.startswith("Untrained sample")]
    assert len(untrained) == 3
    grads = page.tables["gradcheck-table"]
    assert [r[0] for r in grads[1:]] == ["W", "U", "V", "b", "c", "h0"]
    assert all(r[-1] == "pass" and float(r[4]) < 1e-6 for r in grads[1:])
    # Read from the record, so a second report is byte-identical.
    first = path.read_bytes()
    assert single.write_report(run).read_bytes() == first


@pytest.mark.parametrize("changes", [{}, {"documents": "lines", "batch_size": 3}])
def test_most_frequent_characters_count_the_whole_corpus(tmp_path, changes):
    """The table sits under the corpus's character count and counts the same
    characters: all of them, and in document mode with every stream's."""
    from collections import Counter

    text = "".join(f"line {i} {'ab' * (i % 7)} z\n" for i in range(300))
    (tmp_path / "t.txt").write_text(text, encoding="utf-8")
    run = make_run(tmp_path / "run", tmp_path / "t.txt", updates=20, **changes)
    info = rundir.read_config(run)
    rec = json.loads((run / "record.json").read_text(encoding="utf-8"))["corpus"]
    assert rec["counted_chars"] == info["corpus"]["chars"]
    counts = Counter(text if not changes else text.replace("\n", ""))
    for ch, k in rec["top_chars"]:
        if ch in counts:
            assert k == counts[ch], ch
        else:  # the end symbol: before the first document and after each
            assert changes and k == 301


def test_hostile_corpus_is_inert(hostile):
    run, path = hostile
    raw = path.read_text(encoding="utf-8")
    assert "<script" not in raw.lower()
    assert not re.search(r"<img(?![^>]*src=\"data:image/png;base64,)", raw)
    assert "&amp;amp;" in raw and "&lt;script&gt;" in raw
    bad = [
        hex(ord(c))
        for c in set(raw)
        if (ord(c) < 32 and c not in "\n\t") or ord(c) in (0x7F, 0x202E)
    ]
    assert bad == []
    page = parse(path)
    assert [t for t, _ in page.tags].count("img") == 1
    assert all(not k.startswith("on") for _, attrs in page.tags for k in attrs)
    assert visible(rundir.read_samples(run)[1]["text"]) in page.pres
    assert "\u27e8U+0007\u27e9" in raw and "\u27e8U+202E\u27e9" in raw


def test_no_external_resources(clean, hostile):
    for _, path in (clean, hostile):
        raw = path.read_text(encoding="utf-8")
        assert not re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:)?//", raw, re.I)
        assert "@import" not in raw and "url(" not in raw
        page = parse(path)
        assert all(not t == "link" and not t == "script" for t, _ in page.tags)
        assert all(src.startswith("data:image/png;base64,") for src in page.images)


def test_markdown_has_sections_and_fenced_texts(clean, hostile):
    for run, _ in (clean, hostile):
        md = (run / "report.md").read_text(encoding="utf-8")
        assert [line[3:] for line in md.splitlines() if line.startswith("## ")] == list(MD_TITLES)
        assert (
            "![training and validation bits per character against updates](loss.png)" in md
            and (run / "loss.png").exists()
        )
        for s in rundir.read_samples(run):
            assert fence(visible(s["text"])) in md
        assert fence(visible((run / "best_1000.txt").read_text(encoding="utf-8"))) in md
        assert "\x07" not in md and "\r" not in md


def test_fence_outgrows_backtick_runs():
    assert fence("a ``` b").startswith("````text\n")
    assert fence("plain") == "```text\nplain\n```"


def test_missing_run_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="holds no run"):
        single.write_report(tmp_path)
    with pytest.raises(CheckpointError, match="holds no run"):
        compare.write_compare([tmp_path, tmp_path / "x"], tmp_path / "out")
    with pytest.raises(CheckpointError, match="no run folder at"):
        single.write_report(tmp_path / "x")
    (tmp_path / "f.txt").write_text("text")
    with pytest.raises(CheckpointError, match="f.txt is a file, not a run folder"):
        single.write_report(tmp_path / "f.txt")
    (tmp_path / "sweep.json").write_text("{}")  # the advice is not to train into a sweep
    with pytest.raises(CheckpointError, match="is a sweep folder: give one of its runs"):
        single.write_report(tmp_path)


def test_report_is_rendered_from_the_folder_alone(tmp_path, text_file):
    run = make_run(tmp_path / "run", text_file, updates=20)
    first = single.write_report(run).read_bytes()
    text_file.unlink()  # the corpus is gone: the report does not change
    assert single.write_report(run).read_bytes() == first
    page = parse(run / "report.html")
    assert len(page.tables["gradcheck-table"]) == 7
    from conftest import TEXT

    assert TEXT[:300] in page.pres


def test_compare_two_learning_rates(tmp_path, clean, text_file):
    other = make_run(tmp_path / "slow", text_file, lr=0.05)
    out = compare.write_compare([clean[0], other], tmp_path / "cmp")
    assert out == tmp_path / "cmp" / "compare.html"
    page = parse(out)
    lr = next(r for r in page.tables["config-compare"] if r[0] == "lr")
    assert lr[1:] == ["0.1", "0.05"]
    marked = re.search(r'<tr class="marked"><th>lr</th>', out.read_text(encoding="utf-8"))
    assert marked
    w, h = png_size(page.images[0])
    assert (w, h) == struct.unpack(">II", (tmp_path / "cmp" / "compare.png").read_bytes()[16:24])
    mins = next(r for r in page.tables["outcome-compare"] if r[0].endswith("(nats/sequence)"))[1:]
    expect = [min(r["smooth_loss"] for r in train_rows(d)) for d in (clean[0], other)]
    assert mins == [f"{v:.2f}" for v in expect]
    # differing options first (the two corpus files are distinct files)
    assert {r[0] for r in page.tables["config-compare"][1:3]} == {"corpus", "lr"}
    md = (tmp_path / "cmp" / "compare.md").read_text(encoding="utf-8")
    assert "| **lr** | **0.1** | **0.05** |" in md and "![" in md and "compare.png" in md


def test_cli_report(clean, tmp_path, capsys):
    run, _ = clean
    assert cli.main(["report", str(run)]) == 0
    assert capsys.readouterr().out.strip() == str(run / "report.html")
    rc = cli.main(["report", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "holds no run" in err


def test_cli_compare_rejects_a_folder_without_a_run(clean, tmp_path, capsys):
    rc = cli.main(["compare", str(clean[0]), str(tmp_path), "--out", str(tmp_path / "c")])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and str(tmp_path) in err


def test_malformed_samples_are_a_clear_error(tmp_path, text_file):
    run = make_run(tmp_path / "run", text_file, updates=20)
    (run / rundir.SAMPLES).write_text("{not json\n", encoding="utf-8")
    with pytest.raises(CheckpointError, match="malformed"):
        single.write_report(run)


def _edit_json(name, key, value):
    def edit(run):
        path = run / name
        info = json.loads(path.read_text(encoding="utf-8"))
        top = key.startswith("/")  # a key of the file itself, not of its "config"
        target = info["config"] if name == "config.json" and not top else info
        target[key.lstrip("/")] = value
        path.write_text(json.dumps(info), encoding="utf-8")

    return edit


def _edit_metrics(column, value):
    def edit(run):
        path = run / rundir.METRICS
        lines = path.read_text(encoding="utf-8").splitlines()
        cells = lines[-1].split(",")
        cells[rundir.METRIC_FIELDS.index(column)] = value
        path.write_text("\n".join(lines[:-1] + [",".join(cells)]) + "\n", encoding="utf-8")

    return edit


@pytest.mark.parametrize(
    "edit",
    [
        _edit_json("config.json", "epochs", "0.5"),
        _edit_json("config.json", "epochs", math.inf),
        _edit_json("config.json", "updates", 60.5),
        _edit_json("config.json", "batch_size", "4"),
        _edit_json("config.json", "seq_length", 0),
        _edit_json("config.json", "max_time", -5),
        _edit_json("config.json", "/vocab", []),
        _edit_json("config.json", "/corpus", [1]),
        _edit_json("config.json", "updates", 10**400),
        _edit_json("config.json", "/corpus", {"chars": "abc"}),
        _edit_metrics("update", "inf"),
        _edit_metrics("epoch", "nan"),
    ],
)
def test_damaged_values_are_one_clear_error_in_report_and_compare(tmp_path, clean, edit):
    run = tmp_path / "run"
    shutil.copytree(clean[0], run)
    edit(run)
    with pytest.raises(CheckpointError, match="damaged|malformed"):
        single.write_report(run)
    with pytest.raises(CheckpointError, match="damaged|malformed"):
        compare.compare([clean[0], run], tmp_path / "cmp")


def _write(name, data: bytes):
    def edit(run):
        (run / name).write_bytes(data)

    return edit


def _drop_counted_chars(run):
    rec = json.loads((run / "record.json").read_text(encoding="utf-8"))
    del rec["corpus"]["counted_chars"]
    (run / "record.json").write_text(json.dumps(rec), encoding="utf-8")


@pytest.mark.parametrize(
    "edit, source",
    [
        (_drop_counted_chars, "record.json"),
        (_write("sampling.json", b'{"a": 1}'), "sampling.json"),
        (_write("best_200.txt", b"\xff\xfe not UTF-8"), "best_200.txt or best_1000.txt"),
        (_edit_json("config.json", "/resumed", [{}]), "config.json"),
        (_edit_json("config.json", "/versions", [1]), "config.json"),
    ],
)
def test_a_file_that_no_longer_holds_what_the_run_wrote_is_named(tmp_path, clean, edit, source):
    run = tmp_path / "run"
    shutil.copytree(clean[0], run)
    edit(run)
    with pytest.raises(CheckpointError, match=f"{re.escape(source)} does not hold what the run"):
        single.write_report(run)


def test_a_metrics_csv_with_its_header_alone_reports_no_updates_quietly(tmp_path, clean):
    run = tmp_path / "run"
    shutil.copytree(clean[0], run)
    header = (run / rundir.METRICS).read_text(encoding="utf-8").splitlines()[0]
    (run / rundir.METRICS).write_text(header + "\n", encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        page = parse(single.write_report(run))
    assert page.row("summary-table", "updates") == ["0"]


def test_a_run_killed_before_its_last_checkpoint_is_said_to_resume_from_there(tmp_path, clean):
    """Killed after logging its last updates, before their checkpoint: the
    status says where a resume trains from, not that the run trained to its end."""
    from checkpoint_files import rewrite

    run = tmp_path / "run"
    shutil.copytree(clean[0], run)
    (run / "outcome.json").unlink()
    rewrite(run / rundir.CHECKPOINT, lambda meta: meta["counters"].update(update=40))
    page = parse(single.write_report(run))
    assert page.row("summary-table", "status") == [
        "unfinished (logged to its end, 60 updates, but its last checkpoint is at update 40: "
        "a resume trains again from there)"
    ]


@pytest.mark.parametrize(
    "outcome",
    [
        [1],
        {"updates": "60"},
        {"updates": 60},
        {"updates": 60, "best_smooth": []},
        {"updates": 60, "best_smooth": {"update": 1}, "best_val": 5},
        {"updates": 60, "best_smooth": {"update": True}},
    ],
)
def test_an_outcome_json_that_is_not_one_leaves_the_run_unfinished(tmp_path, clean, outcome):
    run = tmp_path / "run"
    shutil.copytree(clean[0], run)
    (run / "outcome.json").write_text(json.dumps(outcome), encoding="utf-8")
    page = parse(single.write_report(run))
    assert page.row("summary-table", "status") == [
        "unfinished (trained to its end, 60 updates, but that end is not written)"
    ]
    # its final validation's figures were well formed: now read as none
    good = json.loads((clean[0] / "outcome.json").read_text(encoding="utf-8"))
    good["best_val"]["val_bpc"] = "low"
    (run / "outcome.json").write_text(json.dumps(good), encoding="utf-8")
    assert (
        parse(single.write_report(run)).row("summary-table", "status")[0].startswith("unfinished")
    )


def stop_at_second_boundary():
    calls = iter(range(1))
    return lambda: 0 if next(calls, None) is not None else 2


def test_an_unfinished_run_is_marked_in_its_report_and_in_compare(tmp_path, clean, text_file):
    """A run stopped early, or one whose end was never written, never shows
    its figures as a finished run's: a status row, and a warning."""
    opts = dict(corpus=str(text_file), hidden=8, seq_length=10, updates=60, engine="reference")
    opts.update(eval_every=20, sample_every=20, checkpoint_every=20, log_every=20)
    stopped = tmp_path / "stopped"
    with pytest.raises(Interrupted):
        Run.start(stopped, TrainConfig(**opts)).train(lambda e: None, stop_at_second_boundary())
    done = int(train_rows(stopped)[-1]["update"])
    assert 0 < done < 60
    page = parse(single.write_report(stopped))
    assert page.row("summary-table", "status") == [f"unfinished ({done:,} of 60 updates)"]
    text = (stopped / "report.html").read_text(encoding="utf-8")
    assert "WARNING: this run has not finished" in text and f"--resume {stopped} " in text
    last = page.row("summary-table", "validation, last")[0]
    assert last.endswith(f"bits/char (after {done:,} updates)")

    # its end never written: a process killed after the last checkpoint
    unwritten = tmp_path / "unwritten"
    shutil.copytree(clean[0], unwritten)
    (unwritten / "outcome.json").unlink()
    page = parse(single.write_report(unwritten))
    assert page.row("summary-table", "status") == [
        "unfinished (trained to its end, 60 updates, but that end is not written)"
    ]
    assert parse(clean[1]).row("summary-table", "status") == ["complete"]

    # a time budget, beside the update limit
    timed = tmp_path / "timed"
    with pytest.raises(Interrupted):
        Run.start(timed, TrainConfig(**{**opts, "max_time": 600})).train(
            lambda e: None, stop_at_second_boundary()
        )
    page = parse(single.write_report(timed))
    assert re.fullmatch(
        r"unfinished \(\d+ of 60 updates, [\d.]+ s of its 600\.0 s\)",
        page.row("summary-table", "status")[0],
    )

    _, table, warned = compare.compare([clean[0], stopped, unwritten], tmp_path / "cmp")
    status = next(line for line in table.splitlines() if line.startswith("status"))
    assert status.split()[1] == "complete" and status.count("unfinished") == 2
    cut = [w.split()[1] for w in warned if "has not finished" in w]
    assert cut == ["stopped", "unwritten"]
    page = parse(tmp_path / "cmp" / "compare.html")
    assert page.row("outcome-compare", "status") == [
        "complete",
        f"unfinished ({done:,} of 60 updates)",
        "unfinished (trained to its end, 60 updates, but that end is not written)",
    ]
    assert page.row("outcome-compare", "last validation: update") == ["60", f"{done:,}", "60"]


def test_a_report_written_while_the_run_writes_its_end_shows_that_end(tmp_path, clean, monkeypatch):
    """The end is written (and reports removed) while a report renders: the
    report reads outcome.json again and renders the finished run."""
    run = tmp_path / "run"
    shutil.copytree(clean[0], run)
    end = (run / "outcome.json").read_bytes()
    (run / "outcome.json").unlink()
    build = single.build
    calls = []

    def racing_build(folder):
        doc = build(folder)
        if not calls:
            (folder / "outcome.json").write_bytes(end)  # the run's end, meanwhile
        calls.append(folder)
        return doc

    monkeypatch.setattr(single, "build", racing_build)
    page = parse(single.write_report(run))
    assert len(calls) == 2 and page.row("summary-table", "status") == ["complete"]


def test_the_resume_advice_can_be_pasted(tmp_path, text_file, monkeypatch):
    opts = dict(corpus=str(text_file), hidden=8, seq_length=10, updates=60, engine="reference")
    opts.update(eval_every=20, sample_every=20, checkpoint_every=20, log_every=20)
    monkeypatch.chdir(tmp_path)
    for name in ("-dash", "two words"):
        with pytest.raises(Interrupted):
            Run.start(Path(name), TrainConfig(**opts)).train(
                lambda e: None, stop_at_second_boundary()
            )
        single.write_report(Path(name))
        text = html.unescape((Path(name) / "report.html").read_text(encoding="utf-8"))
        hint = re.search(r"charnn train --resume (.+?) continues it", text).group(1)
        assert shlex.split(hint) == ["./-dash" if name == "-dash" else name]


def test_a_lock_file_that_is_not_a_file_neither_hangs_nor_passes(tmp_path, clean):
    run = tmp_path / "run"
    shutil.copytree(clean[0], run)
    (run / ".lock").unlink(missing_ok=True)
    os.mkfifo(run / ".lock")
    page = parse(single.write_report(run))  # returns: the lock is not opened
    assert page.row("summary-table", "status") == ["complete"]
    with pytest.raises(CheckpointError, match="is not a plain file"):
        Run.resume(run)


def test_a_diverged_run_is_marked_and_not_offered_a_resume(tmp_path, text_file):
    opts = dict(corpus=str(text_file), hidden=8, seq_length=10, updates=400, engine="reference")
    run = tmp_path / "dv"
    with pytest.raises(DivergenceError):
        Run.start(run, TrainConfig(**opts, lr=1e6, clip=0)).train(lambda e: None)
    assert rundir.read_diverged(run)["update"] > 0
    page = parse(single.write_report(run))
    (status,) = page.row("summary-table", "status")
    assert status == f"diverged (at update {rundir.read_diverged(run)['update']:,})"
    text = (run / "report.md").read_text(encoding="utf-8")
    assert "WARNING: this run diverged" in text and "--resume" not in text
    # a resume goes on from the last checkpoint: no longer diverged until it is again
    rundir.read_config(run)
    reopened = Run.resume(run)
    assert not (run / rundir.DIVERGED).exists()
    reopened.close()


def test_a_run_in_training_is_named_so_and_its_stale_report_goes_at_its_end(tmp_path, text_file):
    opts = dict(corpus=str(text_file), hidden=8, seq_length=10, updates=60, engine="reference")
    opts.update(eval_every=20, sample_every=20, checkpoint_every=20, log_every=20)
    run = tmp_path / "live"
    with pytest.raises(Interrupted):
        Run.start(run, TrainConfig(**opts)).train(lambda e: None, stop_at_second_boundary())
    # a copy of the run, made while another process holds its lock, is not in training
    (run / ".lock").write_text("1\n", encoding="ascii")  # a pid alive, not holding it
    assert parse(single.write_report(run)).row("summary-table", "status") == [
        "unfinished (20 of 60 updates)"
    ]
    # another process holds the run's lock
    hold = "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR); "
    hold += "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)"
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, str(run / ".lock")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        page = parse(single.write_report(run))
        (status,) = page.row("summary-table", "status")
        assert status == f"unfinished (20 of 60 updates; pid {holder.pid} is training it now)"
        text = (run / "report.md").read_text(encoding="utf-8")
        assert "is being trained now" in text and "--resume" not in text
    finally:
        holder.kill()
        holder.wait()
    page = parse(single.write_report(run))  # that process is gone
    assert page.row("summary-table", "status") == ["unfinished (20 of 60 updates)"]
    Run.resume(run).train(lambda e: None)
    assert not any((run / name).exists() for name in rundir.REPORTS)
    assert parse(single.write_report(run)).row("summary-table", "status") == ["complete"]


def test_a_run_folder_whose_name_is_not_utf8_is_drawn_and_reported(tmp_path, clean, text_file):
    from charnn.report.plot import plot_run

    run = make_run(tmp_path / os.fsdecode(b"run\xff"), text_file, updates=20)
    assert plot_run(run).exists()
    html_text = single.write_report(run).read_text(encoding="utf-8")
    assert "<title>charnn report: run\ufffd</title>" in html_text
    _, table, _ = compare.compare([clean[0], run], tmp_path / "cmp")
    assert "run\ufffd" in table.splitlines()[0]


def test_compare_shows_the_best_by_validation_its_run_scored(tmp_path, clean):
    """A complete run's best by validation is outcome.json's (the best model by
    smoothed loss, scored at the end, is a candidate), not the lowest row."""
    run = tmp_path / "run"
    shutil.copytree(clean[0], run)
    out = json.loads((run / "outcome.json").read_text(encoding="utf-8"))
    rows = [r["val_bpc"] for r in rundir.read_metrics(run) if r["val_bpc"] is not None]
    out["best_val"] = {"update": 57, "val_bpc": min(rows) - 0.25}  # as if the smooth model won
    (run / "outcome.json").write_text(json.dumps(out), encoding="utf-8")
    page = parse(compare.write_compare([clean[0], run], tmp_path / "cmp"))
    best = page.row("outcome-compare", "best validation bits/char")
    assert best[1] == f"{min(rows) - 0.25:.4f}" and best[0] != best[1]
    assert page.row("outcome-compare", "best validation: parameters after (updates)")[1] == "57"


def test_a_run_of_thousands_of_epochs_marks_a_dozen(tmp_path):
    """A tiny corpus makes an epoch every few updates: drawing and labelling
    every start took most of such a run's time, for a plot nobody can read."""
    from charnn.report.plot import MAX_EPOCH_MARKS, epoch_marks

    assert epoch_marks([5, 9]) == ([(0, 5), (1, 9)], 1)
    starts = list(range(3, 100_000, 3))
    marks, step = epoch_marks(starts)
    assert len(marks) <= MAX_EPOCH_MARKS and step == math.ceil(len(starts) / MAX_EPOCH_MARKS)
    assert marks[0] == (0, 3) and all(b[0] - a[0] == step for a, b in zip(marks, marks[1:]))
    (tmp_path / "t.txt").write_text("ab\n" * 12, encoding="utf-8")
    run = make_run(tmp_path / "run", tmp_path / "t.txt", seq_length=2, updates=3000, val_fraction=0)
    from charnn.report.plot import column_series, plot_run

    epochs = column_series(rundir.read_metric_columns(run), 2)["epochs"]
    assert len(epochs) > 10 * MAX_EPOCH_MARKS
    assert plot_run(run).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "cfg, name",
    [
        ({"cell": "rnn", "layers": 1}, "vanilla RNN"),
        ({"cell": "gru", "layers": 2}, "2-layer GRU"),
        ({"cell": "lstm", "layers": 1}, "LSTM"),
        ({"hidden": 8}, "vanilla RNN"),  # a config written before cells and layers
    ],
)
def test_the_report_names_the_network_it_trained(cfg, name):
    assert single.network(cfg) == name


@pytest.mark.parametrize("dangling", [True, False])
def test_a_linked_run_file_is_refused_by_report_and_compare(tmp_path, clean, capsys, dangling):
    """train refuses a run whose files are links; report showed such a run as
    one of 0 updates and advised a resume that train then refused."""
    run = tmp_path / "linked"
    shutil.copytree(clean[0], run)
    for name in rundir.REPORTS:
        (run / name).unlink(missing_ok=True)
    target = tmp_path / ("missing.csv" if dangling else "elsewhere.csv")
    if not dangling:
        shutil.copy(run / "metrics.csv", target)
    (run / "metrics.csv").unlink()
    (run / "metrics.csv").symlink_to(target)
    for argv in (["report", str(run)], ["compare", str(clean[0]), str(run)]):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "metrics.csv is a symbolic link" in err
    assert not (run / "report.html").exists()


def test_a_report_of_a_run_replaced_meanwhile_leaves_nothing(tmp_path, text_file, monkeypatch):
    """train --force replacing the run while its report is written: the
    report would show the old run in the new one's folder; it is removed."""
    run = make_run(tmp_path / "run", text_file)
    build = single.build

    def racing(folder):
        doc = build(folder)
        info = json.loads((folder / rundir.CONFIG).read_text(encoding="utf-8"))
        info["run"]["id"] = "f" * 32  # what a new run's config.json now says
        (folder / rundir.CONFIG).write_text(json.dumps(info), encoding="utf-8")
        return doc

    monkeypatch.setattr(single, "build", racing)
    with pytest.raises(CheckpointError, match="was replaced by another run while its report"):
        single.write_report(run)
    assert not any((run / name).exists() for name in (*rundir.REPORTS, rundir.PLOT))


def test_an_untrained_best_by_validation_is_named_not_blamed_on_its_state():
    info = {"vocab": ["a", "b"], "config": {"documents": None}}
    out = {"best_val": {"update": 0, "val_bpc": 1.0009}, "best_smooth": {"update": 9}}
    said = single.warnings(info, out, {})
    assert said == [
        "WARNING: the best model by validation is the untrained one (update 0): "
        "training never improved on it on the held-out text"
    ]


def test_shares_of_a_whole_are_rounded_down():
    """An unfinished amount never reads as the whole: 7,589 updates of 759 an
    epoch are 9.99 epochs, 2.9939 s of a 3 s budget is 2.9 s."""
    from charnn.report.summary import fmt_down

    assert fmt_down(7589 / 759) == "9.99" and fmt_down(7590 / 759) == "10.00"
    assert fmt_down(2.9939, 1) == "2.9" and fmt_down(3.0, 1) == "3.0"
    assert fmt_down(4.35) == "4.35" and fmt_down(0.07) == "0.07"  # not 4.34, 0.06


def test_validation_worse_than_uniform_stays_in_view():
    """The cap at uniform guessing that keeps the untrained start from
    flattening the curve never hides a validation point: one far above
    uniform, after training, is what the plot must show."""
    from charnn.report.plot import y_range

    lo, hi = y_range([0.9, 0.95, 1.0], uniform=1.0, keep=[5.17, 5.54])
    assert lo < 0.9 and hi > 5.54
    assert y_range([0.9, 5.0], uniform=1.0)[1] < 1.2  # the training curve alone stays capped


def test_the_y_range_is_never_upside_down():
    """Capped at uniform guessing where the learning is below it; a diverged
    run, all above it, is shown whole (the cap inverted its axis)."""
    from charnn.report.plot import y_range

    lo, hi = y_range([1e3, 1.75e5], uniform=6.0)
    assert lo < 1e3 and hi > 1.75e5
    lo, hi = y_range([2.0, 3.0, 1.75e5], uniform=6.0)
    assert lo < 2.0 and 6.0 < hi < 7.0
    lo, hi = y_range([2.0, 3.0])
    assert lo < 2.0 < 3.0 < hi


def test_compare_tells_corpora_apart_by_their_content(tmp_path):
    """Two paths to the same bytes are one corpus; a file changed between two
    runs is two; the same corpus held out differently is warned of too."""
    from conftest import TEXT

    x, y = tmp_path / "x.txt", tmp_path / "y.txt"
    x.write_text(TEXT, encoding="utf-8")
    y.write_text(TEXT, encoding="utf-8")
    a = make_run(tmp_path / "a", x, updates=20)
    b = make_run(tmp_path / "b", y, updates=20)
    c = make_run(tmp_path / "c", x, updates=20, val_fraction=0.2)
    x.write_text(TEXT[::-1], encoding="utf-8")
    d = make_run(tmp_path / "d", x, updates=20)

    def warned(*runs):
        return " ".join(compare.compare(list(runs), tmp_path / "cmp")[2])

    assert "WARNING" not in warned(a, b)
    assert "different corpora" in warned(a, d)
    assert "hold out different parts" in warned(a, c) and "different corpora" not in warned(a, c)


def test_the_gradient_check_paragraph_states_the_floor_its_record_used():
    from charnn.report.recorded import gradcheck_section

    def paragraph(g):
        return gradcheck_section({"gradcheck": g}, 60, 4).blocks[0].text

    row = {"name": "W", "shape": [5, 5], "checked": 25, "max_abs": 1e-14, "max_rel": 1e-9}
    g = {"m": 5, "T": 25, "step": 1e-3, "rows": [{**row, "passed": True}]}
    old, new = paragraph(g), paragraph({**g, "scale_floor": 1e-4})
    assert "max(|a| + |n|, 1e-30)" in old and "largest |a| + |n|" not in old
    assert "max(|a| + |n|, 0.0001 s), s the largest |a| + |n|" in new


def test_a_document_run_says_its_gradient_check_leaves_the_resets_out():
    from charnn.report.recorded import gradcheck_section

    row = {"name": "W", "shape": [5, 5], "checked": 25, "max_abs": 1e-14, "max_rel": 1e-9}
    g = {"gradcheck": {"m": 5, "T": 25, "step": 1e-3, "rows": [{**row, "passed": True}]}}
    plain = gradcheck_section(g, 60, 4).blocks[0].text
    documents = gradcheck_section(g, 60, 4, documents=True).blocks[0].text
    assert "reset" not in plain
    assert documents.startswith(plain) and "reset of the state" in documents


def test_the_gradient_check_verdict_tells_unresolved_arrays_from_failed_ones():
    from charnn.report.recorded import gradcheck_section

    def verdict(rows, noise=None):
        g = {"m": 5, "T": 25, "step": 1e-3, "scale_floor": 1e-4, "rows": rows, "noise": noise}
        return gradcheck_section({"gradcheck": g}, 60, 4).blocks[-1].text

    row = {"name": "W", "shape": [5, 5], "checked": 25, "max_abs": 1e-21, "max_rel": 1e-4}
    low = {**row, "passed": False, "result": "unresolved"}
    fine = {**row, "name": "V", "max_rel": 1e-9, "passed": True, "result": "pass"}
    said = verdict([low, fine], 3e-19)
    assert "W could not be judged" in said and "about 3.0e-19" in said and "FAIL" not in said
    assert verdict([{**low, "result": "FAIL"}, fine]).startswith("Some gradients FAIL the check: W")
    # a record made before the check had a third verdict: 'passed' alone
    assert verdict([{**row, "passed": False}, fine]).startswith("Some gradients FAIL")
    assert verdict([{**fine, "result": None}]) == "All gradients pass."


def test_one_sample_is_not_called_samples():
    from charnn.report.recorded import untrained_section
    from charnn.report.single import evolution_section

    one = [{"update": 0, "text": "abc", "smooth_loss": 100.0}]
    assert ", 1 sample;" in evolution_section(one, 25, False).blocks[0].text
    assert ", 2 samples;" in evolution_section(one * 2, 25, False).blocks[0].text
    rec = {"untrained": {"first": "a", "length": 3, "texts": ["abc"]}}
    assert untrained_section(rec, 2).blocks[0].text.startswith("1 sample of 3 characters")

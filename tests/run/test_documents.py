"""Training on documents: the split by documents, resets in the loop,
generated documents, resume bit for bit, and the engine against the reference."""

import json

import numpy as np
import pytest

import runs
from charnn.data import documents as docs
from charnn.nn import rnn, sampling
from charnn.run import docgen, loop, rundir, split
from charnn.run.config import TrainConfig
from runs import compare_runs, run_to_end

# short documents (shorter than T = 10) and long ones (several sequences)
NAMES = ["ann", "bob", "eve", "ida", "max", "zoe", "jo", "liv", "sam", "tom"]
LONG = "the quick brown fox jumps over the lazy dog and then it sleeps"


@pytest.fixture
def docs_file(tmp_path):
    lines = []
    for i in range(30):
        lines += [NAMES[i % 10], "", LONG[: 12 + 3 * (i % 17)]]
    path = tmp_path / "docs.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def config(path, **kw):
    """The shared small run, on documents, one line each."""
    return runs.config(path, **{"documents": "lines", "hidden": 10, **kw})


def test_validation_holds_out_the_last_documents(docs_file):
    data = split.prepare_data(config(docs_file, batch_size=2))
    all_docs = docs.split(docs_file.read_text(), docs.Mode("lines")).docs
    assert len(all_docs) == 60
    v = data.vocab
    assert v.chars[0] == docs.END
    np.testing.assert_array_equal(data.val, docs.stream(all_docs[54:], v))
    stream = docs.stream(all_docs[:54], v)
    L = stream.size // 2
    np.testing.assert_array_equal(data.train, stream[: 2 * L].reshape(2, L))
    d = data.documents
    assert (d["train_documents"], d["val_documents"], d["skipped_empty"]) == (54, 6, 30)
    assert d["lengths"]["min"] == 2 and d["lengths"]["max"] == 12 + 3 * 16


def test_too_few_documents_to_hold_out(docs_file):
    from charnn.errors import CorpusError

    docs_file.write_text("one document\nand another\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="holds out no document of the 2"):
        split.prepare_data(config(docs_file, val_fraction=0.1))


def test_run_resets_at_every_document_and_samples_documents(tmp_path, docs_file):
    r, events = run_to_end(tmp_path / "r", config(docs_file))
    info = json.loads((tmp_path / "r" / "config.json").read_text(encoding="utf-8"))
    assert info["documents"]["mode"] == "lines" and info["documents"]["end"] == 0
    assert info["vocab"][0] == docs.END and info["config"]["documents"] == "lines"
    samples = rundir.read_samples(tmp_path / "r")
    assert [s["update"] for s in samples] == [0, 25, 50]
    for s in samples:
        assert docs.END not in s["text"] and len(s["documents"]) == len(s["ended"])
        assert sum(map(len, s["documents"])) >= 30
        assert s["text"] == "\n".join(s["documents"])
    best = (tmp_path / "r" / "best_200.txt").read_text(encoding="utf-8")
    assert docs.END not in best and len(best) >= 200
    # validation: the sum over the held-out documents, each from a zero state
    val = docs.split(docs_file.read_text(), docs.Mode("lines")).docs[54:]
    per_doc = [rnn.text_loss(r.state.params, docs.stream([d], r.data.vocab))[0] for d in val]
    rows = [x for x in rundir.read_metrics(tmp_path / "r") if x["val_nats"] is not None]
    chars = sum(len(d) + 1 for d in val)
    assert rows[-1]["val_nats"] == pytest.approx(sum(per_doc) / chars, rel=1e-12)
    # outcome.json scores both best models and the final one the same way
    out = json.loads((tmp_path / "r" / "outcome.json").read_text(encoding="utf-8"))
    assert out["final_val_bpc"] == pytest.approx(rows[-1]["val_bpc"], rel=1e-12)
    best = [rnn.text_loss(r.state.best_params, docs.stream([d], r.data.vocab))[0] for d in val]
    bpc = sum(best) / chars / np.log(2)
    assert out["best_smooth"]["val_bpc"] == pytest.approx(bpc, rel=1e-12)


def test_losses_are_those_of_documents_read_from_a_zero_state(tmp_path, docs_file):
    """The first update's loss equals the summed losses of the document
    pieces in its window, each from a zero state."""
    cfg = config(docs_file, updates=1, val_fraction=0.0)
    r, _ = run_to_end(tmp_path / "r", cfg)
    first = rundir.read_metrics(tmp_path / "r")[0]["loss"]
    params = {k: v.copy() for k, v in r.state.best_params.items()}  # before update 1
    ids = r.data.train[0, :11]  # END ann END the quick ...
    ends = [i for i in range(10) if ids[i] == docs.END_ID]
    total = 0.0
    for a, b in zip(ends, [*ends[1:], 10]):
        cache = rnn.forward(params, ids[a:b], np.zeros(10))
        total += rnn.sequence_loss(cache["O"], ids[a + 1 : b + 1])
    assert first == pytest.approx(total, rel=1e-13)


@pytest.mark.parametrize("first", [17, 40])
def test_resume_is_bit_exact(tmp_path, docs_file, first):
    cfg = config(docs_file, batch_size=2, updates=70, checkpoint_every=9)
    run_to_end(tmp_path / "whole", cfg)
    part = loop.Run.start(tmp_path / "parts", TrainConfig(**{**cfg.to_dict(), "updates": first}))
    part.train(lambda e: None)
    loop.Run.resume(tmp_path / "parts", {"updates": 70}).train(lambda e: None)
    compare_runs(tmp_path / "whole", tmp_path / "parts")


def test_resume_refuses_another_documents_mode(tmp_path, docs_file):
    from charnn.errors import ConfigError

    run_to_end(tmp_path / "r", config(docs_file, updates=5))
    with pytest.raises(ConfigError, match="--documents paragraphs differs"):
        loop.Run.resume(tmp_path / "r", {"documents": "paragraphs", "updates": 10})


def test_fast_engine_reproduces_the_reference_document_run(tmp_path, docs_file):
    run_to_end(tmp_path / "ref", config(docs_file, updates=40, batch_size=3))
    run_to_end(tmp_path / "fast", config(docs_file, updates=40, batch_size=3, engine="fast"))
    ref, fast = rundir.read_metrics(tmp_path / "ref"), rundir.read_metrics(tmp_path / "fast")
    assert len(ref) == len(fast)
    for a, b in zip(ref, fast):
        for key in ("loss", "smooth_loss", "val_nats"):
            if a[key] is not None:
                assert b[key] == pytest.approx(a[key], rel=1e-9)
    texts = [s["documents"] for s in rundir.read_samples(tmp_path / "ref")]
    assert texts == [s["documents"] for s in rundir.read_samples(tmp_path / "fast")]


def test_generated_documents_end_or_stop_at_the_limit(rng):
    vocab = docs.vocab_of(["abc"])
    params = rnn.init_params(vocab.size, 6, rng, sig=1.0)
    params["c"][docs.END_ID] = 1.0
    out = docgen.generate(
        sampling.synthesize,
        params,
        vocab,
        np.random.default_rng(0),
        count=200,
        max_length=5,
        prime="a",
    )
    assert len(out) == 200
    assert all(d.text.startswith("a") and docs.END not in d.text for d in out)
    assert all(len(d.text) <= 5 for d in out) and all(len(d.text) == 5 for d in out if not d.ended)
    assert {d.ended for d in out} == {True, False}
    assert any(len(d.text) == 1 for d in out)  # END right after the primer


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_gated_cells_train_on_documents_and_resume_exactly(tmp_path, docs_file, cell):
    kw = dict(cell=cell, layers=2, hidden=6, updates=30, checkpoint_every=7, sample_every=15)
    run_to_end(tmp_path / "whole", config(docs_file, **kw))
    part = loop.Run.start(tmp_path / "parts", config(docs_file, **{**kw, "updates": 11}))
    part.train(lambda e: None)
    loop.Run.resume(tmp_path / "parts", {"updates": 30}).train(lambda e: None)
    compare_runs(tmp_path / "whole", tmp_path / "parts")
    samples = rundir.read_samples(tmp_path / "whole")
    assert samples and all(docs.END not in s["text"] and s["documents"] for s in samples)


def test_a_stretch_of_sampled_text_restarts_after_each_end():
    """Plain sampling of a document model: after each END drawn, the next
    document starts from h = 0 and input END, as the model trained."""
    calls = []
    drawn = iter([[5, 6, docs.END_ID], [7, docs.END_ID], [8, 9, 9, 9, 9, 9, 9]])

    def synthesize(params, h, x, n, rng, stop=None, **options):
        calls.append((h.copy(), x, n, stop, options))
        return np.array(next(drawn)[:n])

    h0 = np.full(4, 0.5)
    out = docgen.stream(synthesize, {}, h0, 3, 8, None, temperature=0.5)
    assert out.tolist() == [5, 6, docs.END_ID, 7, docs.END_ID, 8, 9, 9]
    assert [(c[1], c[2], c[3]) for c in calls] == [(3, 8, 0), (0, 5, 0), (0, 3, 0)]
    assert (calls[0][0] == 0.5).all() and all((c[0] == 0).all() for c in calls[1:])
    assert all(c[4] == {"temperature": 0.5} for c in calls)
    # a state whose last input was END starts from zero too
    drawn = iter([[5]])
    docgen.stream(synthesize, {}, h0, docs.END_ID, 1, None)
    assert (calls[-1][0] == 0).all()


def test_sample_of_a_document_run_restarts_after_each_end(tmp_path, docs_file, capsys):
    from charnn import cli
    from charnn.cli.parser import build_parser
    from charnn.cli.sample import _sample_model
    from charnn.run.backend import for_model

    run_to_end(tmp_path / "r", config(docs_file, engine="fast"))
    argv = ["sample", str(tmp_path / "r"), "--length", "400", "--seed", "3"]
    assert cli.main(argv) == 0
    text = capsys.readouterr().out.rstrip("\n")
    cfg, vocab, params, h, x, _ = _sample_model(build_parser().parse_args(argv), None)
    h = h.astype(cfg.dtype)
    synth = for_model(cfg).synthesize
    expect = docgen.stream(synth, params, h, x, 400, np.random.default_rng(3))
    assert text == vocab.decode(expect).replace(docs.END, docs.END_MARK)
    carried = synth(params, h, x, 400, np.random.default_rng(3))  # no restart: another text
    assert text.count(docs.END_MARK) >= 2 and expect.tolist() != carried.tolist()

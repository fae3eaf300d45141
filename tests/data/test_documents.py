"""Reading documents: the modes, the JSON errors, the stream and its vocabulary."""

import json

import numpy as np
import pytest

from charnn.data import documents as docs
from charnn.data import speeches
from charnn.errors import ConfigError, CorpusError


def split(text, spec):
    return docs.split(text, docs.parse_mode(spec), "f.txt")


@pytest.mark.parametrize(
    "spec, mode",
    [
        ("lines", docs.Mode("lines")),
        ("paragraphs", docs.Mode("paragraphs")),
        ("jsonl", docs.Mode("jsonl", "text")),
        ("json:full_text", docs.Mode("json", "full_text")),
        ("json:tweet.full_text", docs.Mode("json", "tweet.full_text")),
    ],
)
def test_modes_parse(spec, mode):
    assert docs.parse_mode(spec) == mode and str(mode) in (spec, f"{spec}:text")


@pytest.mark.parametrize("spec", ["csv", "", "lines:text", "jsonl:", "json:a..b", "LINES"])
def test_bad_modes_are_refused(spec):
    with pytest.raises(ConfigError, match="--documents"):
        docs.parse_mode(spec)


def test_lines_skip_and_count_empty_lines():
    s = split("alice\r\n\nbob\n   \ncarol\n", "lines")
    assert s.docs == ["alice", "bob", "carol"] and s.skipped == 2


def test_paragraphs_keep_their_lines():
    s = split("\n\nRoses are red,\nviolets blue.\n\n\n \nSecond\npoem\n", "paragraphs")
    assert s.docs == ["Roses are red,\nviolets blue.", "Second\npoem"]


def test_jsonl_reads_the_field_and_skips_blank_and_empty():
    text = '{"text": "hi"}\n\n{"text": "", "id": 2}\n{"id": 3, "text": "a\\nb"}\n'
    s = split(text, "jsonl")
    assert s.docs == ["hi", "a\nb"] and s.skipped == 2


def test_json_array_with_a_nested_field():
    items = [{"tweet": {"full_text": "first"}}, {"tweet": {"full_text": "second ☃"}}]
    s = split(json.dumps(items), "json:tweet.full_text")
    assert s.docs == ["first", "second ☃"] and s.skipped == 0


@pytest.mark.parametrize(
    "text, spec, message",
    [
        ('{"text": "a"}\n{"text": "b"\n', "jsonl", r"f\.txt line 2 is not valid JSON"),
        ('{"text": "a"}\n[1]\n', "jsonl", "line 2: expected a JSON object, got list"),
        ('{"text": "a"}\n{"body": "b"}\n', "jsonl", r"line 2: no field 'text' \(it has: body\)"),
        ('{"text": 5}\n', "jsonl", "line 1: field 'text' is int, not a string"),
        ('{"text": null}\n', "jsonl", "line 1: field 'text' is null"),
        ('{"text": "a\\u0000b"}\n', "jsonl", "line 1: field 'text' contains .* U\\+0000"),
        ('[{"text": "a"}, {"text": ["b"]}]', "json", r"item \[1\]: field 'text' is list"),
        ('{"text": "a"}', "json", "needs a JSON array of objects, got a dict"),
        ('[{"text": "a"},', "json", "is not valid JSON .* line 1 column 16"),
        ('[{"t": {"x": 1}}]', "json:t.y", r"item \[0\]: no field 't.y'"),
        ("\n \n\n", "lines", "holds no document in mode --documents lines \\(3 empty skipped\\)"),
        ('[{"text": " "}]', "json", "holds no document"),
        ("[" + "1" * 5000 + "]", "json", "holds an integer too long to read"),
        ('{"text": "a", "n": ' + "1" * 5000 + "}", "jsonl", "line 1 holds an integer too long"),
        ("[" * 100_000 + "]" * 100_000, "json", "nests arrays or objects too deeply"),
        ("[" * 100_000 + "]" * 100_000, "jsonl", "line 1 nests arrays or objects too deeply"),
        ('{"text": "ab\\ud800c"}', "jsonl", r"line 1: field 'text' holds an unpaired surrogate"),
    ],
)
def test_bad_documents_name_the_line_or_item(text, spec, message):
    with pytest.raises(CorpusError, match=message) as e:
        split(text, spec)
    assert "\n" not in str(e.value)


def test_stream_and_vocabulary():
    d = ["ab", "b", "ca"]
    vocab = docs.vocab_of(d)
    assert vocab.chars == (docs.END, "a", "b", "c") and vocab.index[docs.END] == docs.END_ID
    ids = docs.stream(d, vocab)
    assert ids.tolist() == [0, 1, 2, 0, 2, 0, 3, 1, 0]


def test_length_stats():
    s = docs.length_stats(["a" * n for n in (1, 2, 3, 4, 10)])
    assert (s["documents"], s["characters"], s["min"], s["max"]) == (5, 20, 1, 10)
    assert s["median"] == 3.0 and s["mean"] == 4.0
    assert s["p90"] == pytest.approx(np.percentile([1, 2, 3, 4, 10], 90))


def test_speeches_from_markdown():
    md = (
        "# A Play\n\n## ACT I\n\n_Enter A and B_\n\n**A**  \nHello there,  \nfriend.\n\n"
        "**B**  \n_\\[Aside]_ Who is  \n_Exit_\nthis\\? __Now__\n\n**A**  \n" + "long " * 80 + "\n"
    )
    assert speeches.speeches(md) == ["Hello there, friend.", "Who is this? Now"]
    assert speeches.corpus_text([md, md]).count("\n") == 4


def test_named_speeches_corpus_is_documents():
    from charnn.data import corpus

    c = corpus.load("speeches")
    s = split(c.text, "lines")
    assert len(s.docs) > 20_000 and s.skipped == 0
    assert max(map(len, s.docs)) <= 280
    assert not any(ch in c.text for ch in "[]_*")  # stage directions and markup removed

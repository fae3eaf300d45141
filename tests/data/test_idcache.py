"""Large corpora: streamed once into a cached id file that is memory-mapped."""

import hashlib
import os

import numpy as np
import pytest

from charnn.data import idcache
from charnn.data.vocab import Vocab
from charnn.errors import CorpusError


@pytest.fixture
def tiny_blocks(monkeypatch):
    """Make every file 'large' and blocks 7 bytes, so multi-byte characters
    straddle block boundaries."""
    monkeypatch.setattr(idcache, "LARGE", 0)
    monkeypatch.setattr(idcache, "BLOCK", 7)


TEXT = "Ça va? Très bien — 日本語 text, with emoji 🙂 and more.\n" * 5


def test_streamed_ids_equal_whole_file(tmp_path, tiny_blocks, cache_dir):
    p = tmp_path / "big.txt"
    p.write_text(TEXT, encoding="utf-8")
    c = idcache.load_ids(p)
    vocab = Vocab.from_text(TEXT)
    assert c.vocab == vocab and c.chars == len(TEXT)
    np.testing.assert_array_equal(np.asarray(c.ids), vocab.encode(TEXT))
    assert isinstance(c.ids, np.memmap) and c.head == TEXT[:4096]
    again = idcache.load_ids(p)  # from the cache
    assert again.ids.filename == c.ids.filename
    assert len(list((cache_dir / "ids").glob("*.npy"))) == 1


def test_edited_file_is_encoded_again(tmp_path, tiny_blocks):
    p = tmp_path / "big.txt"
    p.write_text(TEXT, encoding="utf-8")
    first = idcache.load_ids(p)
    p.write_text(TEXT + "XYZ", encoding="utf-8")
    second = idcache.load_ids(p)
    assert second.chars == len(TEXT) + 3 and second.vocab != first.vocab


@pytest.mark.parametrize(
    "data, message",
    [
        (b"ok text here" + b"\xff" + b"more", "bad byte 0xff at offset 12"),
        (b"abcdef\xc3(rest", "bad byte 0xc3 at offset 6"),  # cut by the block edge at 7
        (b"0123456789abc\x00", "NUL byte at offset 13"),
        (b"", "empty"),
        (b"z" * 40, "single distinct"),
        (b"abc", "at least 26"),
    ],
)
def test_large_path_errors(tmp_path, tiny_blocks, data, message):
    p = tmp_path / "bad.txt"
    p.write_bytes(data)
    with pytest.raises(CorpusError, match=message):
        idcache.load_ids(p, min_chars=26)


def test_small_files_are_read_whole(text_file):
    c = idcache.load_ids(text_file)
    assert not isinstance(c.ids, np.memmap) and c.ids.dtype == np.uint8


def test_edit_keeping_size_and_date_is_seen(tmp_path, tiny_blocks):
    p = tmp_path / "big.txt"
    p.write_text(TEXT, encoding="utf-8")
    st = p.stat()
    first = idcache.load_ids(p)
    p.write_text(TEXT.replace("Très", "Trés"), encoding="utf-8")  # same size
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))  # as cp -p or rsync -t leave it
    second = idcache.load_ids(p)
    assert second.fingerprint != first.fingerprint
    assert "Trés" in second.vocab.decode(np.asarray(second.ids[:40]))


@pytest.mark.parametrize("damage", ["truncate", "flip", "info"])
def test_damaged_cache_is_rebuilt(tmp_path, tiny_blocks, cache_dir, damage):
    p = tmp_path / "big.txt"
    p.write_text(TEXT, encoding="utf-8")
    first = idcache.load_ids(p)
    expected = np.asarray(first.ids).copy()
    del first
    npy = next((cache_dir / "ids").glob(f"{hashlib.sha256(p.read_bytes()).hexdigest()}.npy"))
    if damage == "truncate":
        npy.write_bytes(npy.read_bytes()[:100])
    elif damage == "flip":
        raw = bytearray(npy.read_bytes())
        raw[-1] ^= 1  # one id changed, the header still plausible
        npy.write_bytes(bytes(raw))
    else:
        npy.with_suffix(".json").write_text("{not json")
    again = idcache.load_ids(p)
    np.testing.assert_array_equal(np.asarray(again.ids), expected)


def test_cache_dir_not_writable(tmp_path, tiny_blocks, monkeypatch):
    f = tmp_path / "file"
    f.write_text("x")
    monkeypatch.setenv("CHARNN_CACHE_DIR", str(f))
    p = tmp_path / "big.txt"
    p.write_text(TEXT, encoding="utf-8")
    with pytest.raises(CorpusError, match="CHARNN_CACHE_DIR"):
        idcache.load_ids(p)


def test_large_file_with_bom(tmp_path, tiny_blocks):
    p = tmp_path / "bom.txt"
    p.write_bytes(b"\xef\xbb\xbf" + TEXT.encode())
    c = idcache.load_ids(p)
    assert c.chars == len(TEXT) and "\ufeff" not in c.vocab.chars
    p.write_bytes(b"\xef\xbb\xbf" + b"ok text here\xffmore")
    with pytest.raises(CorpusError, match="bad byte 0xff at offset 15"):
        idcache.load_ids(p)

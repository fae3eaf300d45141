"""Checkpoints: atomic writes, and hostile or broken files refused safely."""

import os

import numpy as np
import pytest

from charnn.errors import CheckpointError
from charnn.run import checkpoint, loop, rundir, snapshot
from charnn.run.config import TrainConfig
from checkpoint_files import npy_bytes, rewrite


@pytest.fixture
def run(tmp_path, text_file):
    cfg = TrainConfig(
        corpus=str(text_file),
        hidden=8,
        seq_length=10,
        updates=12,
        checkpoint_every=5,
        eval_every=5,
        sample_every=5,
        sample_length=10,
        engine="reference",
    )
    r = loop.Run.start(tmp_path / "run", cfg)
    r.train(lambda e: None)
    return tmp_path / "run"


def test_round_trip(run):
    meta, cfg, vocab, state, rng = snapshot.load_train(run / rundir.CHECKPOINT)
    assert state.update == 12 and cfg.hidden == 8 and meta["format_version"] == 2
    cfg2, vocab2, params, h, x = snapshot.load_model(run / rundir.BEST)
    assert vocab2 == vocab and params["W"].shape == (8, 8) and 0 <= x < vocab.size


def test_failed_write_keeps_previous(run, monkeypatch):
    path = run / rundir.CHECKPOINT
    before = path.read_bytes()

    def disk_full(f, **arrays):
        f.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    with pytest.raises(
        CheckpointError, match="No space left.*that file keeps its previous contents"
    ):
        checkpoint.save(path, {"kind": "train"}, {"a": np.zeros(3)})
    assert path.read_bytes() == before
    assert not [p for p in os.listdir(run) if ".tmp" in p]


def test_truncated(run):
    path = run / rundir.CHECKPOINT
    data = path.read_bytes()
    for cut in (10, len(data) // 2, len(data) - 30):
        path.write_bytes(data[:cut])
        with pytest.raises(CheckpointError):
            snapshot.load_train(path)


def test_corrupted_bytes(run):
    path = run / rundir.CHECKPOINT
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError):
        snapshot.load_train(path)


def test_newer_format(run):
    path = run / rundir.CHECKPOINT
    rewrite(path, lambda m: m.update(format_version=99))
    with pytest.raises(CheckpointError, match="newer charnn"):
        snapshot.load_train(path)


def test_wrong_shapes(run):
    path = run / rundir.CHECKPOINT
    rewrite(path, change_arrays={"p_W.npy": npy_bytes(np.zeros((3, 3)))})
    with pytest.raises(CheckpointError, match="'p_W' has shape"):
        snapshot.load_train(path)


def test_wrong_dtype_and_non_finite_values_are_named_apart(run):
    path = run / rundir.CHECKPOINT
    W = snapshot.load_train(path)[3].params["W"]
    rewrite(path, change_arrays={"p_W.npy": npy_bytes(W.astype(np.float32))})
    with pytest.raises(CheckpointError, match="'p_W' is float32, not the run's float64"):
        snapshot.load_train(path)
    bad = W.copy()
    bad[0, 0] = np.inf
    rewrite(path, change_arrays={"p_W.npy": npy_bytes(bad)})
    with pytest.raises(CheckpointError, match="'p_W' is not finite$"):
        snapshot.load_train(path)


def test_pickled_object_array_is_never_unpickled(run, tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    evil = np.empty(1, dtype=object)
    evil[0] = Evil()
    path = run / rundir.CHECKPOINT
    rewrite(path, change_arrays={"p_W.npy": npy_bytes(evil, allow_pickle=True)})
    with pytest.raises(CheckpointError, match="not allowed"):
        snapshot.load_train(path)
    assert not marker.exists()


def test_malicious_header_is_not_evaluated(run, tmp_path):
    marker = tmp_path / "pwned2"
    header = (
        f"{{'descr': __import__('os').system('touch {marker}'), 'fortran_order': False, "
        "'shape': (8, 8), }"
    )
    raw = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode()
    path = run / rundir.CHECKPOINT
    rewrite(path, change_arrays={"p_W.npy": raw})
    with pytest.raises(CheckpointError, match="bad array header"):
        snapshot.load_train(path)
    assert not marker.exists()


def test_oversized_declared_shape_allocates_nothing(run):
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (100000, 100000, 1000), }"
    header += " " * (63 - (len(header) + 10) % 64) + "\n"
    raw = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode()
    path = run / rundir.CHECKPOINT
    rewrite(path, change_arrays={"p_W.npy": raw})
    with pytest.raises(CheckpointError, match="shape"):
        snapshot.load_train(path)


def test_size_mismatch(run):
    good = npy_bytes(np.zeros((8, 8)))
    path = run / rundir.CHECKPOINT
    rewrite(path, change_arrays={"p_W.npy": good[:-16]})
    with pytest.raises(CheckpointError, match="truncated or padded"):
        snapshot.load_train(path)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda m: m.pop("counters"), "no counters"),
        (lambda m: m["counters"].update(update="ten"), "'update'"),
        (lambda m: m["counters"].update(best_x=10_000), "outside the vocabulary"),
        (lambda m: m["config"].update(hidden=-3), "invalid metadata"),
        (lambda m: m["config"].update(evil=1), "unknown configuration keys"),
        (lambda m: m.update(vocab=["b", "a"]), "invalid metadata"),
        (lambda m: m.update(kind="best"), "'best' checkpoint"),
        (lambda m: m.update(rng={"bit_generator": "Nope"}), "random generator"),
    ],
)
def test_metadata_schema(run, change, message):
    path = run / rundir.CHECKPOINT
    rewrite(path, change)
    with pytest.raises(CheckpointError, match=message):
        snapshot.load_train(path)


def test_not_a_zip(run):
    path = run / rundir.CHECKPOINT
    path.write_bytes(b"hello, this is not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupted or truncated"):
        snapshot.load_train(path)


def test_no_pickle_anywhere():
    import charnn

    src = os.path.dirname(charnn.__file__)
    for root, _, files in os.walk(src):
        for name in files:
            if name.endswith(".py"):
                text = open(os.path.join(root, name), encoding="utf-8").read()
                assert "import pickle" not in text and "allow_pickle=True" not in text, name


def test_format_1_checkpoint_still_loads(run):
    """A checkpoint written before cells and layers existed is the one-layer rnn."""
    path = run / rundir.CHECKPOINT
    _, _, _, before, _ = snapshot.load_train(path)

    def as_format_1(meta):
        meta["format_version"] = 1
        for key in ("cell", "layers", "dropout", "max_time"):
            del meta["config"][key]

    rewrite(path, change_meta=as_format_1)
    meta, cfg, _, state, _ = snapshot.load_train(path)
    assert meta["format_version"] == 1 and (cfg.cell, cfg.layers, cfg.dropout) == ("rnn", 1, 0.0)
    for k in before.params:
        assert np.array_equal(state.params[k], before.params[k])
    loop.Run.resume(run, {"updates": 14}).train(lambda e: None)
    assert snapshot.load_train(path)[3].update == 14

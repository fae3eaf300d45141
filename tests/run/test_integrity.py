"""A run folder that nothing can corrupt, mix up or strand: the lock, the run
identity, a run without checkpoint, a moved or edited corpus, damaged logs,
compressed checkpoint members and links out of the folder."""

import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from charnn.errors import CheckpointError, CorpusError
from charnn.fsio import atomic_write
from charnn.run import identity, lock, loop, rundir, snapshot
from charnn.run.config import TrainConfig
from checkpoint_files import npy_bytes, rewrite


def config(text_file, **kw):
    base = dict(
        corpus=str(text_file),
        hidden=10,
        seq_length=10,
        updates=60,
        eval_every=20,
        sample_every=25,
        sample_length=20,
        checkpoint_every=15,
        val_fraction=0.1,
        engine="reference",
        seed=4,
    )
    return TrainConfig(**{**base, **kw})


def trained(folder, cfg):
    loop.Run.start(folder, cfg).train(lambda e: None)
    return folder


def same_run(a, b):
    sa, sb = (snapshot.load_train(f / rundir.CHECKPOINT)[3] for f in (a, b))
    assert sa.update == sb.update
    for k in sa.params:
        assert np.array_equal(sa.params[k], sb.params[k]), k
    assert rundir.read_samples(a) == rundir.read_samples(b)
    cols = ("update", "epoch", "loss", "smooth_loss", "val_nats")
    ra, rb = rundir.read_metrics(a), rundir.read_metrics(b)
    assert [[r[c] for c in cols] for r in ra] == [[r[c] for c in cols] for r in rb]


# -- one writer --------------------------------------------------------------
def test_a_run_holds_its_folder_until_trained(tmp_path, text_file):
    folder = tmp_path / "r"
    r = loop.Run.start(folder, config(text_file))
    pid = f"pid {os.getpid()}"
    with pytest.raises(CheckpointError, match=f"in use by another charnn process \\({pid}\\)"):
        loop.Run.resume(folder)
    with pytest.raises(CheckpointError, match="in use by another charnn process"):
        loop.Run.start(folder, config(text_file), force=True)
    assert (folder / rundir.CONFIG).exists()  # force removed nothing while the run held it
    r.train(lambda e: None)
    loop.Run.resume(folder, {"updates": 75}).train(lambda e: None)
    assert (folder / lock.LOCK).read_text().strip() == str(os.getpid())


def test_lock_is_exclusive_and_given_back(tmp_path):
    a = lock.RunLock(tmp_path).acquire()
    with pytest.raises(CheckpointError, match="in use"):
        lock.RunLock(tmp_path).acquire()
    a.release()
    with lock.RunLock(tmp_path) as b:
        assert b.held
    assert not b.held


def test_the_lock_holds_when_its_file_is_deleted(tmp_path):
    """The folder itself is locked too: deleting .lock under a live run (it
    looks like litter) does not let a second writer in."""
    a = lock.RunLock(tmp_path).acquire()
    (tmp_path / lock.LOCK).unlink()
    with pytest.raises(CheckpointError, match="in use by another charnn process \\(a process"):
        lock.RunLock(tmp_path).acquire()
    a.release()
    with lock.RunLock(tmp_path) as b:  # and once given back, it is taken again
        assert b.held


def test_the_holder_is_found_through_the_folder_when_the_lock_file_is_gone(tmp_path):
    """What report says ("pid N is training it now") reads /proc/locks: the
    folder's own lock names a holder whose .lock was deleted."""
    import subprocess
    import sys
    import time

    from charnn.report.summary import training_pid

    code = "import sys,time; from charnn.run import lock; l = lock.RunLock(sys.argv[1]).acquire()"
    code += "; print('held', flush=True); time.sleep(30)"
    child = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE)
    try:
        assert child.stdout.readline().strip() == b"held"
        if not Path("/proc/locks").exists():
            pytest.skip("the system does not list its locks")
        assert training_pid(tmp_path) == child.pid
        (tmp_path / lock.LOCK).unlink()
        assert training_pid(tmp_path) == child.pid
    finally:
        child.kill()
        child.wait()
    time.sleep(0.05)
    assert training_pid(tmp_path) is None


def test_lock_file_that_is_a_link_is_refused(tmp_path):
    (tmp_path / lock.LOCK).symlink_to(tmp_path / "elsewhere")
    with pytest.raises(CheckpointError, match="symbolic link"):
        lock.RunLock(tmp_path).acquire()
    assert not (tmp_path / "elsewhere").exists()


# -- identity ----------------------------------------------------------------
def test_identity_is_recorded(tmp_path, text_file):
    folder = trained(tmp_path / "r", config(text_file))
    info = rundir.read_config(folder)
    run_id = info["run"]["id"]
    assert len(run_id) == 32
    assert info["corpus"]["bytes"] == text_file.stat().st_size
    for name in (rundir.CHECKPOINT, rundir.BEST):
        meta = identity.checkpoint_meta(folder / name)
        assert meta["run"]["id"] == run_id
        assert meta["run"]["corpus"]["sha256"] == info["corpus"]["sha256"]


@pytest.mark.parametrize("name", [rundir.CHECKPOINT, rundir.BEST])
def test_foreign_checkpoint_is_refused(tmp_path, text_file, name):
    mine = trained(tmp_path / "mine", config(text_file))
    other = trained(tmp_path / "other", config(text_file, hidden=12))
    shutil.copy(other / name, mine / name)
    with pytest.raises(CheckpointError, match="belongs to another run"):
        identity.check_folder(mine)
    if name == rundir.CHECKPOINT:
        with pytest.raises(CheckpointError, match="belongs to another run"):
            loop.Run.resume(mine, {"updates": 90})


def test_identical_settings_are_still_another_run(tmp_path, text_file):
    a = trained(tmp_path / "a", config(text_file))
    b = trained(tmp_path / "b", config(text_file))
    shutil.copy(b / rundir.CHECKPOINT, a / rundir.CHECKPOINT)
    with pytest.raises(CheckpointError, match="belongs to another run"):
        loop.Run.resume(a, {"updates": 90})


def strip_identity(folder):
    info = json.loads((folder / rundir.CONFIG).read_text())
    for key in ("run",):
        info.pop(key)
    for key in ("sha256", "bytes"):
        info["corpus"].pop(key)
    (folder / rundir.CONFIG).write_text(json.dumps(info))
    for name in (rundir.CHECKPOINT, rundir.BEST, rundir.BEST_VAL, rundir.BEST_VAL_GRID):
        if (folder / name).exists():
            rewrite(folder / name, lambda m: m.pop("run"))


def test_runs_without_identity_still_resume(tmp_path, text_file):
    cfg = config(text_file, updates=90)
    trained(tmp_path / "whole", cfg)
    old = trained(tmp_path / "old", config(text_file, updates=45))
    strip_identity(old)  # as a run made before identities existed
    loop.Run.resume(old, {"updates": 90}).train(lambda e: None)
    same_run(tmp_path / "whole", old)


def test_runs_without_identity_still_refuse_a_foreign_checkpoint(tmp_path, text_file):
    old = trained(tmp_path / "old", config(text_file))
    other = trained(tmp_path / "other", config(text_file, hidden=12))
    strip_identity(old)
    strip_identity(other)
    shutil.copy(other / rundir.CHECKPOINT, old / rundir.CHECKPOINT)
    with pytest.raises(CheckpointError, match="hidden differ from config.json"):
        loop.Run.resume(old, {"updates": 90})


# -- the corpus of a resumed run ---------------------------------------------
def test_edited_corpus_is_refused_saying_what_changed(tmp_path, text_file):
    folder = trained(tmp_path / "r", config(text_file, updates=30))
    text = text_file.read_text()
    text_file.write_text(text.replace("question", "questino"), encoding="utf-8")
    with pytest.raises(CorpusError, match="not the text .*same size, other content"):
        loop.Run.resume(folder, {"updates": 60})
    text_file.write_text(text[:-40], encoding="utf-8")
    with pytest.raises(CorpusError, match="1,376 bytes then, 1,336 bytes now"):
        loop.Run.resume(folder, {"updates": 60})


def test_moved_corpus_resumes_from_its_new_path(tmp_path, text_file):
    cfg = config(text_file, updates=60)
    trained(tmp_path / "whole", cfg)
    folder = trained(tmp_path / "r", config(text_file, updates=30))
    moved = tmp_path / "elsewhere" / "book.txt"
    moved.parent.mkdir()
    shutil.copy(text_file, moved)
    text_file.unlink()
    with pytest.raises(CorpusError, match="not found.*give its new path"):
        loop.Run.resume(folder, {"updates": 60})
    wrong = tmp_path / "wrong.txt"
    wrong.write_text(moved.read_text()[::-1], encoding="utf-8")
    with pytest.raises(CorpusError, match="not the text"):
        loop.Run.resume(folder, {"updates": 60}, corpus=str(wrong))
    loop.Run.resume(folder, {"updates": 60}, corpus=str(moved)).train(lambda e: None)
    assert rundir.read_config(folder)["config"]["corpus"] == str(moved)
    shutil.copy(moved, text_file)  # for the comparison's own checkpoint
    same_run(tmp_path / "whole", folder)
    loop.Run.resume(folder, {"updates": 70}).train(lambda e: None)  # the new path is kept


@pytest.mark.parametrize("first", [40, 41, 47])
def test_fast_engine_resumes_bit_exact_across_an_epoch(tmp_path, text_file, first):
    # 1238 training chars, T=10, B=3: 41 updates per epoch
    cfg = config(text_file, engine="fast", batch_size=3, updates=90, checkpoint_every=7)
    trained(tmp_path / "whole", cfg)
    trained(tmp_path / "parts", config(text_file, engine="fast", batch_size=3, updates=first))
    loop.Run.resume(tmp_path / "parts", {"updates": 90}).train(lambda e: None)
    same_run(tmp_path / "whole", tmp_path / "parts")


# -- never stranded ----------------------------------------------------------
def test_run_stopped_before_its_first_checkpoint_resumes(tmp_path, text_file):
    cfg = config(text_file)
    trained(tmp_path / "whole", cfg)
    folder = tmp_path / "cut"
    r = loop.Run.start(folder, cfg)
    r.events(lambda e: None)  # a sample and a validation logged, then the process dies
    r.close()
    assert not (folder / rundir.CHECKPOINT).exists()
    (folder / rundir.BEST).write_bytes(b"left by a crash")
    loop.Run.resume(folder).train(lambda e: None)
    same_run(tmp_path / "whole", folder)


def test_divergence_before_a_checkpoint_leaves_a_resumable_run(tmp_path, text_file):
    from charnn.errors import DivergenceError

    cfg = config(text_file, updates=200, lr=1e6, clip=0.0)
    with pytest.raises(DivergenceError, match="start a new run \\(--force\\) with a smaller --lr"):
        loop.Run.start(tmp_path / "r", cfg).train(lambda e: None)
    with pytest.raises(DivergenceError):  # resumable (it diverges again, as it must)
        loop.Run.resume(tmp_path / "r").train(lambda e: None)


def test_checkpoint_without_config_rewrites_it(tmp_path, text_file):
    folder = trained(tmp_path / "r", config(text_file, updates=30))
    before = rundir.read_config(folder)
    (folder / rundir.CONFIG).unlink()
    loop.Run.resume(folder, {"updates": 45}).train(lambda e: None)
    after = rundir.read_config(folder)
    assert after["run"] == before["run"] and after["corpus"] == before["corpus"]


# -- damaged logs ------------------------------------------------------------
def test_damaged_logs_are_named_and_repaired_on_resume(tmp_path, text_file):
    folder = trained(tmp_path / "r", config(text_file, updates=30))
    lines = (folder / rundir.METRICS).read_text().split("\n")
    lines[5] = "garbage,,x"
    (folder / rundir.METRICS).write_text("\n".join(lines))
    with pytest.raises(CheckpointError, match=r"metrics.csv line 6 is damaged"):
        rundir.read_metrics(folder)
    with open(folder / rundir.SAMPLES, "a") as f:
        f.write('[1, 2]\n{"update": "x", "text": 3}\n')
    with pytest.raises(CheckpointError, match=r"samples.jsonl line 3 is damaged"):
        rundir.read_samples(folder)
    loop.Run.resume(folder, {"updates": 45}).train(lambda e: None)
    rows = rundir.read_metrics(folder)
    assert [int(r["update"]) for r in rows if r["loss"] is not None] == [
        u
        for u in range(1, 46)
        if u != 4  # line 6: update 4, after the header and update 0
    ]
    assert [s["update"] for s in rundir.read_samples(folder)] == [0, 25]


def test_metrics_header_damaged(tmp_path, text_file):
    folder = trained(tmp_path / "r", config(text_file, updates=15))
    text = (folder / rundir.METRICS).read_text()
    (folder / rundir.METRICS).write_text("upd" + text[6:])
    with pytest.raises(CheckpointError, match="line 1 is damaged .*header"):
        rundir.read_metrics(folder)


# -- files: links, temporaries, compressed members ---------------------------
def test_dangling_link_in_a_run_folder_is_refused(tmp_path, text_file):
    folder = trained(tmp_path / "r", config(text_file, updates=15))
    outside = tmp_path / "outside" / "metrics.csv"
    (folder / rundir.METRICS).unlink()
    (folder / rundir.METRICS).symlink_to(outside)
    with pytest.raises(CheckpointError, match="metrics.csv is a symbolic link to a missing file"):
        loop.Run.resume(folder, {"updates": 30})
    with pytest.raises(CheckpointError, match="symbolic link"):
        loop.Run.start(folder, config(text_file), force=True)
    assert not outside.parent.exists()


def test_failed_atomic_write_names_the_real_file(tmp_path):
    target = tmp_path / "config.json"

    def disk_full(f):
        raise OSError(28, "No space left on device", f.name)

    with pytest.raises(OSError) as info:
        atomic_write(target, disk_full)
    assert info.value.filename == str(target) and info.value.errno == 28
    assert os.listdir(tmp_path) == []


def test_compressed_member_is_refused_before_it_is_inflated(tmp_path, text_file):
    folder = trained(tmp_path / "r", config(text_file, updates=15))
    best = folder / rundir.BEST
    m = 1500  # W alone would inflate to 18 MB from a few kB

    def huge(meta):
        meta["config"]["hidden"] = m
        meta["shapes"]["p_W"] = [m, m]

    rewrite(best, huge)
    with zipfile.ZipFile(best) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    members["p_W.npy"] = npy_bytes(np.zeros((m, m)))
    with zipfile.ZipFile(best, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    assert best.stat().st_size < 200_000
    with pytest.raises(CheckpointError, match="compressed"):
        snapshot.load_model(best)


def test_member_past_the_end_of_the_file(tmp_path, text_file):
    folder = trained(tmp_path / "r", config(text_file, updates=15))
    best = folder / rundir.BEST
    raw = bytearray(best.read_bytes())
    entry = raw.find(b"PK\x01\x02", raw.find(b"PK\x01\x02"))  # central directory
    while raw[entry + 46 : entry + 46 + 7] != b"p_W.npy":
        entry = raw.find(b"PK\x01\x02", entry + 4)
    huge = (1 << 31).to_bytes(4, "little")
    raw[entry + 20 : entry + 24] = huge  # compressed size
    raw[entry + 24 : entry + 28] = huge  # uncompressed size: 2 GiB in a file of kilobytes
    best.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="past the end of the file"):
        snapshot.load_model(best)


def test_document_runs_record_their_corpus_too(tmp_path, text_file):
    folder = trained(tmp_path / "r", config(text_file, documents="lines", updates=20))
    assert rundir.read_config(folder)["corpus"]["bytes"] == text_file.stat().st_size
    text_file.write_text(text_file.read_text().replace("slings", "sling,"), encoding="utf-8")
    with pytest.raises(CorpusError, match="same size, other content"):
        loop.Run.resume(folder, {"updates": 40})

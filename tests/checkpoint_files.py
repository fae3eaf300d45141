"""Helpers for tests that tamper with checkpoint files."""

import io
import json
import zipfile

import numpy as np


def rewrite(path, change_meta=None, change_arrays=None, extra_members=None):
    """Re-pack a checkpoint with altered metadata or arrays (bypassing save's checks)."""
    with zipfile.ZipFile(path) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    meta = json.loads(np.load(io.BytesIO(members["meta.npy"])).tobytes())
    if change_meta:
        change_meta(meta)
        buf = io.BytesIO()
        np.save(buf, np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
        members["meta.npy"] = buf.getvalue()
    for name, data in (change_arrays or {}).items():
        members[name] = data
    members.update(extra_members or {})
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def npy_bytes(arr, **kw):
    buf = io.BytesIO()
    np.save(buf, arr, **kw)
    return buf.getvalue()

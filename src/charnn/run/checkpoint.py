"""Atomic, pickle-free checkpoints.

A checkpoint is an uncompressed ``.npz`` archive of plain numeric arrays
plus one member ``meta``: UTF-8 JSON bytes (format version, kind, shapes
and everything that is not an array). Saving writes a temporary file in
the same folder, flushes and fsyncs it, then renames it over the old one,
so a crash at any moment leaves the previous checkpoint whole.

Loading never unpickles and never trusts a header: every member must be
stored uncompressed (a compressed member could inflate to any size), its
stored bytes must lie inside the file, its dtype must be a plain number
type, its declared shape must be the one the metadata implies, and its size
must match the bytes actually stored, all checked before any array is
allocated.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np

from ..errors import CheckpointError
from ..fsio import atomic_write

FORMAT_VERSION = 2  # 2: cell, layers and dropout; state (B, S). 1 still loads.
ALLOWED_DTYPES = {np.dtype(t) for t in ("<f8", "<f4", "<i8", "|u1", "<u2", "<u4")}
MAX_META_BYTES = 16 << 20


def save(path: str | os.PathLike, meta: dict, arrays: dict[str, np.ndarray]) -> None:
    """Atomically write meta (JSON-able dict) and arrays to path."""
    meta = dict(
        meta,
        format_version=FORMAT_VERSION,
        shapes={k: list(np.shape(v)) for k, v in arrays.items()},
        dtypes={k: np.asarray(v).dtype.str for k, v in arrays.items()},
    )
    blob = np.frombuffer(json.dumps(meta, allow_nan=True).encode("utf-8"), dtype=np.uint8)
    members = {"meta": blob, **{k: np.ascontiguousarray(v) for k, v in arrays.items()}}
    try:
        atomic_write(path, lambda f: np.savez(f, **members))
    except OSError as e:
        raise CheckpointError(
            f"could not write checkpoint {path}: {e.strerror or e}; "
            "that file keeps its previous contents"
        ) from None


def _check_stored(zf: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> None:
    """A member must be stored as is, with its bytes inside the archive."""
    if info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
        raise CheckpointError(
            f"{where}: member {info.filename} is compressed; charnn checkpoints store "
            "their arrays uncompressed (it was not written by charnn)"
        )
    archive = zf.fp.seek(0, os.SEEK_END) if zf.fp is not None else None
    if archive is not None and info.header_offset + info.file_size > archive:
        raise CheckpointError(
            f"{where} is corrupted or truncated (member {info.filename} declares "
            f"{info.file_size} bytes past the end of the file); restore it or start a new run"
        )


def _header(zf: zipfile.ZipFile, info: zipfile.ZipInfo, where: str):
    """(shape, dtype, data offset) of one .npy member, read without numpy's loader."""
    _check_stored(zf, info, where)
    with zf.open(info) as f:
        try:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            elif version in ((2, 0), (3, 0)):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise ValueError(f"npy version {version}")
        except ValueError as e:
            raise CheckpointError(
                f"{where}: member {info.filename} has a bad array header ({e})"
            ) from None
        return shape, fortran, dtype, f.tell()


def _read_member(zf, info, expected_shape, where) -> np.ndarray:
    shape, fortran, dtype, offset = _header(zf, info, where)
    name = info.filename[:-4]
    if dtype.hasobject or dtype not in ALLOWED_DTYPES:
        raise CheckpointError(
            f"{where}: array {name!r} has dtype {dtype}, which is not allowed "
            "(only plain numbers; objects are never loaded)"
        )
    if fortran or tuple(shape) != tuple(expected_shape):
        raise CheckpointError(
            f"{where}: array {name!r} has shape {shape}, expected {tuple(expected_shape)}"
        )
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if info.file_size != offset + nbytes:
        raise CheckpointError(
            f"{where}: array {name!r} is truncated or padded "
            f"({info.file_size - offset} bytes for {nbytes})"
        )
    with zf.open(info) as f:
        f.seek(offset)
        data = f.read(nbytes)
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()


def read_meta(zf: zipfile.ZipFile, where: str) -> dict:
    """The JSON metadata member, with its format version checked."""
    try:
        info = zf.getinfo("meta.npy")
    except KeyError:
        raise CheckpointError(f"{where} has no metadata; it is not a charnn checkpoint") from None
    if info.file_size > MAX_META_BYTES:
        raise CheckpointError(f"{where}: metadata is implausibly large ({info.file_size} bytes)")
    shape, _, dtype, _ = _header(zf, info, where)
    raw = (
        _read_member(zf, info, shape, where).tobytes()
        if dtype == np.uint8 and len(shape) == 1
        else None
    )
    if raw is None:
        raise CheckpointError(f"{where}: metadata has the wrong type")
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{where}: metadata is not valid JSON ({e})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("format_version"), int):
        raise CheckpointError(f"{where}: metadata has no format version")
    if meta["format_version"] > FORMAT_VERSION:
        raise CheckpointError(
            f"{where} was written by a newer charnn (format "
            f"{meta['format_version']} > {FORMAT_VERSION}); upgrade charnn"
        )
    return meta


def load(path: str | os.PathLike, expected_shapes) -> tuple[dict, dict[str, np.ndarray]]:
    """Read a checkpoint written by save().

    expected_shapes(meta) -> {name: shape} says which arrays must be there
    and their shapes, from metadata that the caller has validated.
    """
    path = Path(path)
    where = f"checkpoint {path}"
    if not path.is_file():
        what = "is not a file" if path.exists() else "does not exist"
        raise CheckpointError(f"{where} {what}")
    try:
        with zipfile.ZipFile(path) as zf:
            meta = read_meta(zf, where)
            shapes = expected_shapes(meta)
            arrays = {}
            for name, shape in shapes.items():
                try:
                    info = zf.getinfo(name + ".npy")
                except KeyError:
                    raise CheckpointError(f"{where} lacks the array {name!r}") from None
                arrays[name] = _read_member(zf, info, shape, where)
    except (zipfile.BadZipFile, EOFError, OSError, zipfile.LargeZipFile) as e:
        raise CheckpointError(
            f"{where} is corrupted or truncated ({e}); restore it or start a new run"
        ) from None
    return meta, arrays

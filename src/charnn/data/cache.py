"""The cache folder of converted corpora and id caches, checked before use."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import CorpusError
from ..fsio import cache_dir


def folder(sub: str) -> Path:
    """cache_dir()/sub, created if needed; a clear error when that is impossible."""
    base = cache_dir()
    where = (
        f"$CHARNN_CACHE_DIR ({base})" if os.environ.get("CHARNN_CACHE_DIR") else f"the cache {base}"
    )
    if base.exists() and not base.is_dir():
        raise CorpusError(f"{where} is a file, not a folder; point CHARNN_CACHE_DIR at a folder")
    path = base / sub
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CorpusError(
            f"cannot create {path} in {where}: {e.strerror or e}; "
            "point CHARNN_CACHE_DIR at a writable folder"
        ) from None
    return path

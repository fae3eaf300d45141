"""Documents: a corpus read as many short texts, and the stream training reads.

Modes (``--documents MODE``):

    lines          one document per line
    paragraphs     documents separated by blank lines (lines kept inside)
    jsonl[:FIELD]  one JSON object per line, the text in FIELD (default "text")
    json[:FIELD]   a JSON array of objects, the text in FIELD (default "text")

FIELD may be a dotted path into nested objects (``json:tweet.full_text``).
Empty and whitespace-only documents are skipped and counted.

The end symbol END = U+0000 marks where a document ends. It can occur in no
document: a corpus holding a NUL byte is refused as binary, and a JSON text
holding ``\\u0000`` is refused here. Being the lowest code point it is id 0
of every document vocabulary. The documents d1..dn become one stream

    END d1 END d2 END ... dn END

in which END is the first input of every document (it doubles as the start)
and the last target; the model restarts from a zero state at every END input
(see nn.rnn), so no document sees another.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, CorpusError
from .vocab import Vocab

END = "\x00"
END_ID = 0
END_MARK = "\u27e8end\u27e9"  # how END is shown wherever text is printed
KINDS = ("lines", "paragraphs", "jsonl", "json")
DEFAULT_FIELD = "text"


@dataclass(frozen=True)
class Mode:
    """How a file splits into documents: kind (one of KINDS) and JSON field."""

    kind: str
    field: str = ""

    def __str__(self) -> str:
        return f"{self.kind}:{self.field}" if self.field else self.kind


def parse_mode(spec: str) -> Mode:
    """The Mode of a ``--documents`` value; ConfigError if it is not one."""
    kind, colon, field = str(spec).partition(":")
    if kind not in KINDS:
        raise ConfigError(
            f"--documents must be lines, paragraphs, jsonl[:FIELD] or json[:FIELD], got {spec!r}"
        )
    if kind in ("lines", "paragraphs"):
        if colon:
            raise ConfigError(f"--documents {kind} takes no field (only jsonl and json do)")
        return Mode(kind)
    if colon and (not field or any(not part for part in field.split("."))):
        raise ConfigError(f"--documents {spec}: the field name is empty")
    return Mode(kind, field or DEFAULT_FIELD)


@dataclass(frozen=True)
class Split:
    """The documents of a text, and how many empty ones were skipped."""

    docs: list[str]
    skipped: int


def _lines(text: str) -> list[str]:
    return [line.removesuffix("\r") for line in text.split("\n")]


def _keep(docs: list[str]) -> Split:
    kept = [d for d in docs if d.strip()]
    return Split(kept, len(docs) - len(kept))


def _paragraphs(text: str) -> Split:
    docs, current = [], []
    for line in _lines(text):
        if line.strip():
            current.append(line)
        elif current:
            docs.append("\n".join(current))
            current = []
    if current:
        docs.append("\n".join(current))
    return Split(docs, 0)


def _field(obj, mode: Mode, where: str) -> str:
    """The document text of one JSON value, checked."""
    if not isinstance(obj, dict):
        raise CorpusError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    value = obj
    for part in mode.field.split("."):
        if not isinstance(value, dict) or part not in value:
            keys = ", ".join(sorted(map(str, value)))[:200] if isinstance(value, dict) else ""
            raise CorpusError(
                f"{where}: no field {mode.field!r}"
                + (f" (it has: {keys})" if keys else "")
                + f"; choose the text's field with --documents {mode.kind}:FIELD"
            )
        value = value[part]
    if not isinstance(value, str):
        kind = "null" if value is None else type(value).__name__
        raise CorpusError(f"{where}: field {mode.field!r} is {kind}, not a string")
    if END in value:
        raise CorpusError(
            f"{where}: field {mode.field!r} contains the character U+0000, "
            "which marks the end of a document; remove it"
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:  # a \ud800 escape alone: half of a UTF-16 pair
        raise CorpusError(
            f"{where}: field {mode.field!r} holds an unpaired surrogate "
            f"\\u{ord(value[e.start]):04x}, which is not a character; fix that escape"
        ) from None
    return value


def _beyond_json(where: str, e: Exception) -> CorpusError:
    """What Python's JSON reader refuses in valid JSON: an integer of more
    than 4300 digits (ValueError) or arrays and objects nested too deep."""
    what = (
        "nests arrays or objects too deeply to read"
        if isinstance(e, RecursionError)
        else "holds an integer too long to read (over 4300 digits)"
    )
    return CorpusError(f"{where} {what}; simplify it")


def _jsonl(text: str, mode: Mode, name: str) -> Split:
    docs, blank = [], 0
    for n, line in enumerate(_lines(text), start=1):
        if not line.strip():
            blank += 1
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise CorpusError(
                f"{name} line {n} is not valid JSON ({e.msg} at column {e.colno}); "
                "--documents jsonl needs one JSON object per line"
            ) from None
        except (ValueError, RecursionError) as e:
            raise _beyond_json(f"{name} line {n}", e) from None
        docs.append(_field(obj, mode, f"{name} line {n}"))
    kept = _keep(docs)
    trailing = 1 if text.endswith("\n") else 0  # the empty "line" after the last newline
    return Split(kept.docs, kept.skipped + blank - trailing)


def _json(text: str, mode: Mode, name: str) -> Split:
    try:
        items = json.loads(text)
    except json.JSONDecodeError as e:
        raise CorpusError(
            f"{name} is not valid JSON ({e.msg} at line {e.lineno} column {e.colno})"
        ) from None
    except (ValueError, RecursionError) as e:
        raise _beyond_json(name, e) from None
    if not isinstance(items, list):
        raise CorpusError(
            f"{name}: --documents json needs a JSON array of objects, "
            f"got a{'n' if type(items).__name__[0] in 'aeiou' else ''} {type(items).__name__}"
        )
    return _keep([_field(obj, mode, f"{name} item [{i}]") for i, obj in enumerate(items)])


def split(text: str, mode: Mode, name: str = "text") -> Split:
    """The documents of text in mode; CorpusError naming the line or item
    at fault, or when no document is found."""
    if mode.kind == "lines":
        lines = _lines(text)
        if lines and lines[-1] == "":
            lines.pop()  # the newline that ends the file starts no line
        result = _keep(lines)
    elif mode.kind == "paragraphs":
        result = _paragraphs(text)
    elif mode.kind == "jsonl":
        result = _jsonl(text, mode, name)
    else:
        result = _json(text, mode, name)
    if not result.docs:
        raise CorpusError(
            f"{name} holds no document in mode --documents {mode} "
            f"({result.skipped} empty skipped); check the mode or the file"
        )
    return result


def vocab_of(docs: list[str]) -> Vocab:
    """The sorted characters of the documents plus END (which is id 0)."""
    chars = set(END)
    for d in docs:
        chars.update(d)
    return Vocab(tuple(sorted(chars)))


def stream(docs: list[str], vocab: Vocab) -> np.ndarray:
    """ids of END d1 END d2 ... dn END, in the vocabulary's compact dtype."""
    return vocab.encode(END + END.join(docs) + END)


def length_stats(docs: list[str]) -> dict:
    """Count and length distribution (characters, END not counted) of docs."""
    n = np.array([len(d) for d in docs])
    q = np.percentile(n, [10, 50, 90]) if n.size else [0, 0, 0]
    return {
        "documents": int(n.size),
        "characters": int(n.sum()),
        "min": int(n.min()) if n.size else 0,
        "p10": float(q[0]),
        "median": float(q[1]),
        "p90": float(q[2]),
        "max": int(n.max()) if n.size else 0,
        "mean": float(n.mean()) if n.size else 0.0,
    }

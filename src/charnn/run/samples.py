"""samples.jsonl, the text evolution of a run: one JSON object per sample
({"update", "smooth_loss", "text"}, and the documents in document mode),
appended while training and read back with each line checked.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from .metrics import damaged

SAMPLES = "samples.jsonl"


def append_sample(folder: Path, update: int, smooth: float, text: str, **documents) -> None:
    """One line of samples.jsonl; documents: "documents" and "ended" lists in
    document mode (text is then the documents joined)."""
    with open(folder / SAMPLES, "a", encoding="utf-8") as f:
        f.write(
            json.dumps(
                {
                    "update": update,
                    "smooth_loss": None if math.isnan(smooth) else smooth,
                    "text": text,
                    **documents,
                },
                ensure_ascii=False,
            )
            + "\n"
        )


def read_samples(folder: Path) -> list[dict]:
    """samples.jsonl as a list of dicts; a malformed line is an error naming
    the file and the line."""
    path = folder / SAMPLES
    if not path.exists():
        return []
    out = []
    # split on "\n" only: JSON keeps U+2028 and friends unescaped inside texts
    for i, line in enumerate(path.read_text(encoding="utf-8", errors="replace").split("\n"), 1):
        if line:
            sample = parse_sample(line)
            if sample is None:
                raise damaged(path, i, "not a JSON object with update, smooth_loss and text")
            out.append(sample)
    return out


def parse_sample(line: str) -> dict | None:
    try:
        d = json.loads(line)
    except ValueError:
        return None
    ok = (
        isinstance(d, dict)
        and isinstance(d.get("update"), int)
        and isinstance(d.get("text"), str)
        and (d.get("smooth_loss") is None or isinstance(d.get("smooth_loss"), (int, float)))
    )
    return d if ok else None

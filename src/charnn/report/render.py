"""A small document model for reports and its two renderings: one
self-contained HTML page and Markdown.

A report is a Document of Sections holding blocks: Para (plain prose),
Table, Text (a corpus or sample text shown verbatim), Chars (a vocabulary)
and Image (PNG bytes). Every string that reaches the output passes through
`visible` and an escaper, so no text from a corpus can add markup; the page
loads nothing from outside (images are data URIs, no scripts, no fonts).
"""

from __future__ import annotations

import base64
import html
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from ..data.documents import END, END_MARK
from ..fsio import atomic_write

# Categories that render as nothing, move the cursor, or reorder text
# (bidi controls), so a reader could not see them in a sample.
HIDDEN = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"}


@dataclass
class Para:
    text: str


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    key: str = ""
    marked: set[int] = field(default_factory=set)  # rows to highlight


@dataclass
class Text:
    text: str
    caption: str = ""


@dataclass
class Chars:
    chars: list[str]


@dataclass
class Image:
    file: str  # name next to the Markdown file
    png: bytes
    alt: str
    caption: str = ""


@dataclass
class Section:
    key: str
    title: str
    blocks: list = field(default_factory=list)


@dataclass
class Document:
    title: str
    subtitle: str
    sections: list[Section]


# -- making characters visible ---------------------------------------------
def marker(ch: str) -> str:
    """The visible stand-in of a hidden character: its code point in angle
    brackets, or ⟨end⟩ for the end-of-document symbol U+0000. (Control
    pictures such as U+2407 are missing from many fonts.)"""
    if ch == END:
        return END_MARK
    return f"\u27e8U+{ord(ch):04X}\u27e9"


def is_hidden(ch: str) -> bool:
    return ch not in "\n\t" and unicodedata.category(ch) in HIDDEN


def segments(text: str) -> list[tuple[str, bool]]:
    """text split into (plain run, False) and (hidden character, True) pieces."""
    out, run = [], []
    for ch in text:
        if is_hidden(ch):
            if run:
                out.append(("".join(run), False))
                run = []
            out.append((ch, True))
        else:
            run.append(ch)
    if run:
        out.append(("".join(run), False))
    return out


def visible(text: str) -> str:
    """text with every hidden character replaced by its marker."""
    return "".join(marker(s) if hid else s for s, hid in segments(text))


def char_label(ch: str) -> tuple[str, str]:
    """(glyph, note) naming one vocabulary character unambiguously."""
    names = {"\n": ("\\n", "newline"), " ": ("", "space"), "\t": ("\\t", "tab")}
    if ch in names:
        return names[ch]
    cp = f"U+{ord(ch):04X}"
    if is_hidden(ch):
        return marker(ch), ""
    return ch, ("" if ord(ch) < 0x80 else cp)


# -- HTML --------------------------------------------------------------------
CSS = """
:root { color-scheme: light; --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --tint: #f6f8fa;
  --mark: #fff4cc; --bad: #b42318; --good: #1a7f37; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff;
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; }
main { max-width: 62rem; margin: 0 auto; padding: 1rem 1.25rem 3rem; }
h1 { font-size: 1.7rem; margin: .5rem 0 .25rem; }
h2 { font-size: 1.3rem; margin: 2rem 0 .5rem; padding-bottom: .25rem;
  border-bottom: 1px solid var(--line); }
.subtitle, figcaption, .caption { color: var(--muted); font-size: .9rem; }
nav ul { list-style: none; padding: 0; margin: .5rem 0; columns: 2 16rem; }
a { color: #0969da; }
pre, code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono",
  monospace; font-size: .85rem; }
pre { background: var(--tint); border: 1px solid var(--line); border-radius: 6px;
  padding: .6rem .75rem; margin: .25rem 0 1rem; white-space: pre-wrap;
  overflow-wrap: anywhere; }
.hidden-char { color: var(--bad); background: #ffe4e0; border-radius: 3px; }
.scroll { overflow-x: auto; margin: .5rem 0 1rem; }
table { border-collapse: collapse; font-size: .9rem; }
th, td { border: 1px solid var(--line); padding: .3rem .55rem; text-align: left;
  vertical-align: top; }
thead th { background: var(--tint); }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.marked td, tr.marked th { background: var(--mark); font-weight: 600; }
td.pass { color: var(--good); font-weight: 600; } td.fail { color: var(--bad); font-weight: 700; }
ul.vocab { list-style: none; padding: 0; margin: .5rem 0 1rem; display: flex; flex-wrap: wrap;
  gap: .3rem; }
ul.vocab li { border: 1px solid var(--line); border-radius: 4px; padding: 0 .35rem;
  background: var(--tint); }
ul.vocab small { color: var(--muted); margin-left: .25rem; }
figure { margin: .5rem 0 1rem; }
img { max-width: 100%; height: auto; border: 1px solid var(--line); }
td, th { overflow-wrap: break-word; }
@media (max-width: 36rem) { main { padding: .5rem .75rem 2rem; } h1 { font-size: 1.35rem; }
  pre { font-size: .78rem; } table { font-size: .78rem; } th, td { padding: .2rem .3rem; }
  td.num { white-space: normal; } }
@media print {
  body { font-size: 10.5pt; } main { max-width: none; padding: 0; }
  nav { display: none; } a { color: inherit; text-decoration: none; }
  pre { max-height: none; overflow: visible; border-color: #999; }
  h2, .caption { break-after: avoid; } figure, tr, img, pre { break-inside: avoid; }
  tr.marked td, tr.marked th { background: none; text-decoration: underline; }
}
"""

# No script, font, frame or fetch is allowed, even if something slipped in.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
RESULT = {"pass": "pass", "FAIL": "fail"}
NUMBER = re.compile(r"^[-+]?(\d[\d,]*\.?\d*([eE][-+]?\d+)?|nan|inf)( ?%| s)?$")


def esc(text: str) -> str:
    """Escaped HTML with hidden characters shown as marked stand-ins."""
    out = []
    for s, hid in segments(str(text)):
        if hid:
            out.append(
                f'<span class="hidden-char" title="U+{ord(s):04X}">{html.escape(marker(s))}</span>'
            )
        else:
            out.append(html.escape(s, quote=True))
    return "".join(out)


def html_table(t: Table) -> str:
    key = f' id="{html.escape(t.key)}"' if t.key else ""
    head = "".join(f"<th>{esc(h)}</th>" for h in t.header)
    rows = []
    for i, row in enumerate(t.rows):
        cells = [f"<th>{esc(row[0])}</th>"]
        for c in row[1:]:
            # Right-align numbers only where columns of them are compared.
            cls = "num" if len(row) > 2 and NUMBER.match(c) else RESULT.get(c, "")
            cells.append(f'<td class="{cls}">{esc(c)}</td>' if cls else f"<td>{esc(c)}</td>")
        mark = ' class="marked"' if i in t.marked else ""
        rows.append(f"<tr{mark}>{''.join(cells)}</tr>")
    return (
        f'<div class="scroll"><table{key}><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def html_block(b) -> str:
    if isinstance(b, Para):
        return f"<p>{esc(b.text)}</p>"
    if isinstance(b, Table):
        return html_table(b)
    if isinstance(b, Text):
        cap = f'<p class="caption">{esc(b.caption)}</p>' if b.caption else ""
        return f'{cap}<pre class="text">{esc(b.text)}</pre>'
    if isinstance(b, Chars):
        items = []
        for ch in b.chars:
            glyph, note = char_label(ch)
            code = f"<code>{esc(glyph)}</code>" if glyph else ""
            small = f"<small>{esc(note)}</small>" if note else ""
            items.append(f"<li>{code}{small}</li>")
        return f'<ul class="vocab">{"".join(items)}</ul>'
    if isinstance(b, Image):
        data = base64.b64encode(b.png).decode("ascii")
        cap = f"<figcaption>{esc(b.caption)}</figcaption>" if b.caption else ""
        return f'<figure><img src="data:image/png;base64,{data}" alt="{esc(b.alt)}">{cap}</figure>'
    raise TypeError(f"unknown block {type(b).__name__}")


def to_html(doc: Document) -> str:
    """The whole page as one string."""
    toc = "".join(
        f'<li><a href="#{html.escape(s.key)}">{esc(s.title)}</a></li>' for s in doc.sections
    )
    body = "".join(
        f'<section id="{html.escape(s.key)}"><h2>{esc(s.title)}</h2>'
        + "".join(html_block(b) for b in s.blocks)
        + "</section>"
        for s in doc.sections
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(doc.title)}</title><style>{CSS}</style></head>\n"
        f'<body><main><h1>{esc(doc.title)}</h1><p class="subtitle">{esc(doc.subtitle)}</p>'
        f"<nav><ul>{toc}</ul></nav>{body}</main></body></html>\n"
    )


# -- Markdown ----------------------------------------------------------------
MD_SPECIAL = re.compile(r"([\\`*_\[\]<>&|~#])")


def md_inline(text: str) -> str:
    """Prose or a table cell: visible, one line, Markdown punctuation escaped."""
    return MD_SPECIAL.sub(r"\\\1", visible(str(text)).replace("\n", marker("\n")))


def fence(text: str) -> str:
    """text in a code block whose fence is longer than any backtick run in it."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    f = "`" * max(3, longest + 1)
    return f"{f}text\n{text}\n{f}"


def md_table(t: Table) -> str:
    def row(cells, bold=False):
        cells = [md_inline(c) for c in cells]
        if bold:
            cells = [f"**{c}**" if c else c for c in cells]
        return "| " + " | ".join(cells) + " |"

    lines = [row(t.header), "|" + "|".join("---" for _ in t.header) + "|"]
    lines += [row(r, i in t.marked) for i, r in enumerate(t.rows)]
    return "\n".join(lines)


def md_block(b) -> str:
    if isinstance(b, Para):
        return md_inline(b.text)
    if isinstance(b, Table):
        return md_table(b)
    if isinstance(b, Text):
        cap = md_inline(b.caption) + "\n\n" if b.caption else ""
        return cap + fence(visible(b.text))
    if isinstance(b, Chars):
        labels = (g + (f"({n})" if g and n else n) for g, n in map(char_label, b.chars))
        return fence(" ".join(labels))
    if isinstance(b, Image):
        cap = f"\n\n*{md_inline(b.caption)}*" if b.caption else ""
        return f"![{md_inline(b.alt)}]({b.file}){cap}"
    raise TypeError(f"unknown block {type(b).__name__}")


def to_markdown(doc: Document) -> str:
    parts = [f"# {md_inline(doc.title)}", md_inline(doc.subtitle)]
    for s in doc.sections:
        parts.append(f"## {md_inline(s.title)}")
        parts += [md_block(b) for b in s.blocks]
    return "\n\n".join(parts) + "\n"


def shown(text: str) -> str:
    """text with the bytes of a file name that are not UTF-8 (held by Python
    as lone surrogates) shown as U+FFFD, so that it can be drawn and written."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def write_doc(doc: Document, html_path: Path, md_path: Path) -> Path:
    # "replace": a lone surrogate of a file name not shown through `shown`
    page, md = to_html(doc).encode("utf-8", "replace"), to_markdown(doc).encode("utf-8", "replace")
    atomic_write(html_path, lambda f: f.write(page))
    atomic_write(md_path, lambda f: f.write(md))
    return html_path

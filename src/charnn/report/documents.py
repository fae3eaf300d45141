"""The parts of a report that only a document-mode run has: how many
documents, their length distribution, and captions of generated documents."""

from __future__ import annotations

from ..data.documents import END_MARK
from .render import Para, Table
from .summary import fmt


def data_blocks(info: dict) -> list:
    """The documents table of the data section (empty for a plain-text run)."""
    d = info.get("documents")
    if not d:
        return []
    n = d["lengths"]
    rows = [
        ["documents mode", f"--documents {d['mode']}"],
        ["documents", fmt(n["documents"])],
        ["training documents", fmt(d["train_documents"])],
        ["validation documents (held out at the end)", fmt(d["val_documents"])],
        ["empty documents skipped", fmt(d["skipped_empty"])],
        ["characters in documents", fmt(n["characters"])],
    ]
    lengths = [
        [
            fmt(n["min"]),
            fmt(n["p10"], 1),
            fmt(n["median"], 1),
            fmt(n["mean"], 1),
            fmt(n["p90"], 1),
            fmt(n["max"]),
        ]
    ]
    return [
        Table(["quantity", "value"], rows, key="documents-table"),
        Para("Document lengths in characters (the end symbol not counted):"),
        Table(
            ["min", "10th percentile", "median", "mean", "90th percentile", "max"],
            lengths,
            key="lengths-table",
        ),
        Para(
            f"Every document is read from a zero hidden state; the end symbol {END_MARK} "
            "(vocabulary entry 0) is its first input and its last target, so the model "
            "learns where documents end."
        ),
    ]


def sample_note(smp: dict) -> str:
    """' (N documents, k cut at the length limit)' for a document sample, else ''."""
    if "documents" not in smp:
        return ""
    n, cut = len(smp["documents"]), sum(1 for e in smp.get("ended", []) if not e)
    return f"; {n} generated document{'s' if n != 1 else ''}" + (
        f", {cut} cut at the length limit" if cut else ", each ended by the model"
    )

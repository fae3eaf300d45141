"""The report's sections on what the run recorded when it started and ended
(record.json, sampling.json): the network as initialized, the gradient check
and the sampling settings. Nothing here is recomputed."""

from __future__ import annotations

from ..nn import gradcheck
from ..nn.gradcheck import error_formula
from .render import Para, Section, Table, Text, char_label
from .summary import fmt, fmt_count

NOT_RECORDED = (
    "This run was made before charnn recorded {what} with each run, so the report "
    "cannot show it (train a new run to see it)."
)

# One sentence each on what a setting does (the report's sampling section).
EXPLAIN = {
    "temperature": "Temperature divides the logits before the softmax: below 1 the likely "
    "characters gain (safer, more repetitive text), above 1 the distribution flattens "
    "(more surprising text and more misspellings); 0 always takes the most likely character.",
    "top_k": "Top-k keeps only the k most likely characters and renormalizes, cutting off "
    "the long tail of unlikely ones.",
    "top_p": "Nucleus (top-p) sampling keeps the smallest set of most likely characters whose "
    "probabilities add up to p, so the number kept adapts to how sure the model is.",
}


def untrained_section(rec: dict, number: int) -> Section:
    title = f"{number}. Text from the randomly initialized network"
    u = rec.get("untrained")
    if not u:
        return Section("untrained", title, [Para(NOT_RECORDED.format(what="these samples"))])
    first = " ".join(filter(None, char_label(u["first"])))
    blocks = [
        Para(
            f"{len(u['texts'])} sample{'' if len(u['texts']) == 1 else 's'} of "
            f"{fmt(u['length'])} characters from the network as "
            f"initialized (before any update), from h = 0 and the input {first}, drawn when "
            "the run started."
        )
    ]
    blocks += [Text(t, f"Untrained sample {i + 1}:") for i, t in enumerate(u["texts"])]
    return Section("untrained", title, blocks)


def gradcheck_section(rec: dict, K: int, number: int, documents: bool = False) -> Section:
    title = f"{number}. Gradient check"
    g = rec.get("gradcheck")
    if not g:
        return Section("gradcheck", title, [Para(NOT_RECORDED.format(what="the check"))])
    checked = [recorded_row(r) for r in g["rows"]]
    rows = [
        [
            r.name,
            "×".join(map(str, r.shape)),
            fmt(r.checked),
            f"{r.max_abs:.2e}",
            f"{r.max_rel:.2e}",
            r.result,
        ]
        for r in checked
    ]
    header = ["param", "shape", "checked", "max abs err", "max rel err", "result"]
    return Section(
        "gradcheck",
        title,
        [
            Para(
                "Checked beside the run's first updates: analytic gradients of the sequence "
                "loss against "
                f"fourth-order centred differences (step {g.get('step', 1e-5):g}) for a fresh "
                f"{g.get('cell', 'rnn')} network of {g.get('layers', 1)} layer(s) with "
                f"m = {g['m']} and the run's K = {K}, over the first T = {g['T']} steps of "
                "the training text, from a random non-zero initial state, float64; where "
                "'checked' is below an array's size, a random sample of its entries. Relative "
                f"error {error_formula(g.get('scale_floor'))}; an entry passes below 1e-6."
                + (
                    " The ⟨end⟩ symbols among those steps are read here as ordinary inputs: "
                    "training's reset of the state at each document's start is not part of "
                    "this check (the test suite checks the gradients through resets against "
                    "centred differences and PyTorch)."
                    if documents
                    else ""
                )
            ),
            Table(header, rows, key="gradcheck-table"),
            Para(verdict_text(checked, g.get("noise"))),
        ],
    )


def recorded_row(r: dict) -> gradcheck.Row:
    """A row of record.json's check; those recorded before the check told
    unresolved arrays apart have only 'passed'."""
    result = r.get("result") or (gradcheck.PASS if r["passed"] else gradcheck.FAIL)
    return gradcheck.Row(
        r["name"], tuple(r["shape"]), r["checked"], r["max_abs"], r["max_rel"], result
    )


def verdict_text(rows: list[gradcheck.Row], noise: float | None) -> str:
    if any(r.failed for r in rows):
        return "Some gradients FAIL the check: " + ", ".join(r.name for r in rows if r.failed) + "."
    low = [r.name for r in rows if r.result == gradcheck.UNRESOLVED]
    if not low:
        return "All gradients pass."
    noise_text = f", about {noise:.1e}" if noise else ""
    return (
        f"No gradient fails; {', '.join(low)} could not be judged: they differ from the "
        f"centred differences by less than those are sure of (their rounding noise{noise_text}, "
        "or how far finer steps part), as with gradients too small for differences in "
        "float64 or a loss too rough for them. The others pass."
    )


def sampling_section(
    smp: dict, number: int, documents: bool = False, kept: bool = False
) -> Section:
    """kept: the run keeps record.json, so its end writes sampling.json too."""
    title = f"{number}. Sampling: temperature, top-k and nucleus"
    if not smp and kept:
        why = "sampling.json is missing: the run's end is not written."
        return Section("sampling", title, [Para(why)])
    if not smp:
        return Section(
            "sampling", title, [Para(NOT_RECORDED.format(what="samples at several settings"))]
        )
    blocks = [
        Para(
            f"Samples of {fmt(smp['length'])} characters from the best model (parameters after "
            f"{fmt_count(smp['update'], 'update')}), "
            + (
                "each from h = 0 and input ⟨end⟩, and from h = 0 again after every ⟨end⟩ "
                "it draws, as it reads documents"
                if documents
                else "each from its carried state"
            )
            + ", drawn when training ended. The same settings are options of charnn sample."
        ),
        Para(EXPLAIN["temperature"]),
        Para(EXPLAIN["top_k"]),
        Para(EXPLAIN["top_p"]),
    ]
    for s in smp["samples"]:
        blocks.append(Text(s["text"], f"{s['label']}:"))
    return Section("sampling", title, blocks)

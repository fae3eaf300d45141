"""`charnn gradcheck`: every gradient of a small model against centred
differences, as a table (part of the CLI: it prints)."""

from __future__ import annotations

from ..data import corpus
from ..data.vocab import Vocab
from ..nn import gradcheck as gc
from ..nn.arch import default_sig
from ..run import budget


def gradcheck(args) -> int:
    c = corpus.load(args.corpus, min_chars=args.seq_length + 1)
    vocab = Vocab.from_text(c.text)
    sig = default_sig(args.cell, args.hidden) if args.sig is None else args.sig
    budget.check(
        budget.model_bytes(vocab.size, args.hidden, 8, 8, args.layers, args.cell),
        f"--hidden {args.hidden}",
        "use a smaller --hidden",
    )
    rows, noise, T = gc.check_on_text(
        vocab,
        c.text,
        args.hidden,
        args.seq_length,
        args.seed,
        sig,
        args.max_entries,
        cell=args.cell,
        layers=args.layers,
    )
    state = "h0 and c0" if args.cell == "lstm" else "h0"
    print(
        f"gradient check on {c.name}: {args.cell}, {args.layers} layer(s), K={vocab.size}, "
        f"m={args.hidden}, T={T}, sig={sig:g}, non-zero {state}, float64"
    )
    print(format_gradcheck(rows))
    print(f"relative error {gc.error_formula()}")
    print(gc.summary(rows, noise))
    if any(r.result == gc.UNRESOLVED for r in rows) and not any(r.failed for r in rows):
        if sig < 1:  # near the largest --sig the cells saturate: no remedy
            print("(a larger --sig scales them up to where the check can judge them)")
    return 1 if any(r.failed for r in rows) else 0


def format_gradcheck(rows) -> str:
    lines = [
        f"{'param':<6} {'shape':<10} {'checked':>8} {'max abs err':>12} {'max rel err':>12}  result"
    ]
    for r in rows:
        lines.append(
            f"{r.name:<6} {str(r.shape):<10} {r.checked:>8} {r.max_abs:>12.2e} "
            f"{r.max_rel:>12.2e}  {r.result}"
        )
    return "\n".join(lines)

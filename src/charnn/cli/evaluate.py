"""`charnn evaluate`: a model's bits per character on a text (part of the
CLI: it prints)."""

from __future__ import annotations

from ..data.text import read_text
from ..errors import ConfigError, CorpusError
from ..run.backend import for_model
from ..run.evaluation import TEXT_CAUSE, score, start_state, uniform_bpc, uniform_warning
from ..words import counted
from .model import load_model, model_path, warn_if_diverged
from .output import json_line


def evaluate(args) -> int:
    if args.documents is not None:
        from .documents import evaluate_documents

        if args.start != "model":
            raise ConfigError(
                "--start does not apply to --documents (each document is scored from a "
                "fresh state, as in training)"
            )

        return evaluate_documents(args, model_path)
    cfg, vocab, params, h, _ = load_model(args.run, args.checkpoint)
    if cfg.documents:  # a plain text would lose the line breaks, the ends and resets
        raise ConfigError(
            f"{args.run} was trained on documents (--documents {cfg.documents}); score a "
            f"file of documents with --documents {cfg.documents} (or the mode that reads "
            "that file), which scores each document from a fresh state with its end"
        )
    warn_if_diverged("evaluate", args.run)
    name = model_path(args.run, args.checkpoint).name
    text = read_text(args.text, "text")
    unknown = vocab.unknown(text)
    kept = "".join(ch for ch in text if ch in vocab.index) if unknown else text
    if len(kept) < 2:
        raise CorpusError(
            f"{args.text} has no two characters from the model's vocabulary "
            f"({len(text) - len(kept)} unknown characters skipped)"
        )
    from ..engine.threads import use_threads

    use_threads(1, 1)  # one stream: BLAS threads would only contend
    ids = vocab.encode(kept)
    nats, bpc = score(for_model(cfg).text_loss, params, ids, start_state(h, args.start))
    warning = uniform_warning(bpc, vocab.size, TEXT_CAUSE)
    result = {
        "text": str(args.text),
        "model": name,
        "start": "carried" if args.start == "model" else "zero",
        "characters": len(ids) - 1,
        "skipped": len(text) - len(kept),
        "nats_per_char": nats,
        "bits_per_char": bpc,
        "uniform_bits_per_char": uniform_bpc(vocab.size),
        "unknown": unknown[:50],
        "warning": warning,
    }
    if args.json:
        print(json_line(result))
    else:
        state = "its carried state" if args.start == "model" else "h = 0"
        print(
            f"{bpc:.4f} bits/char ({nats:.4f} nats/char) over "
            f"{counted(len(ids) - 1, 'character')} of "
            f"{args.text}, {name} from {state}; uniform guessing: "
            f"{uniform_bpc(vocab.size):.4f}; {result['skipped']:,} unknown characters skipped"
        )
        if warning:
            print(warning)
    return 0

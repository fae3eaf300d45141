"""The document-mode subcommands: `charnn sample RUN --documents N` and
`charnn evaluate RUN FILE --documents MODE` (part of the CLI: these print)."""

from __future__ import annotations

import json
import sys

import numpy as np

from ..data import documents as docs
from ..data.text import read_text
from ..errors import ConfigError, CorpusError
from ..run import docgen, snapshot
from ..run.backend import for_model
from ..run.evaluation import DOCUMENT_CAUSE, uniform_bpc, uniform_warning
from ..words import counted
from .model import warn_if_diverged
from .output import json_line


def _document_model(path, source, flag: str):
    """(config, vocab, params) of the checkpoint at path, a document model;
    a run that diverged is warned of on stderr."""
    cfg, vocab, params, _, _ = snapshot.load_model(path)
    warn_if_diverged(flag.split()[0], source)
    if not cfg.documents or vocab.chars[0] != docs.END:
        raise ConfigError(
            f"{source} was trained on plain text, not on documents; "
            f"{flag} needs a run trained with --documents"
        )
    return cfg, vocab, params


def sample_documents(args, model_path, prime: str, seed: int, note: str = "") -> int:
    """N generated documents, one per line (blank-line separated if any holds
    a line break) or JSON Lines; those cut at --max-length named on stderr.
    model_path(source, which) finds the checkpoint of a run; prime begins
    each document; seed seeds the draws; note (the seed chosen) goes to
    stderr with the documents."""
    if args.documents < 1:
        raise ConfigError(f"--documents must be a positive integer, got {args.documents}")
    if args.source is None or args.untrained is not None:
        raise ConfigError(
            "--documents samples from a run trained with --documents; give its folder"
        )
    path = model_path(args.source, args.checkpoint)
    cfg, vocab, params = _document_model(path, args.source, "sample --documents")
    out = docgen.generate(
        for_model(cfg).synthesize,
        params,
        vocab,
        np.random.default_rng(seed),
        count=args.documents,
        max_length=args.max_length,
        prime=prime,
        prime_flag="--prime" if args.prime_file is None else "--prime-file",
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
    )
    if note:
        print(note, file=sys.stderr)
    if args.json:
        for d in out:
            print(json.dumps({"text": d.text, "ended": d.ended}, ensure_ascii=False))
    else:
        print(docgen.join(out))
    cut = [str(i + 1) for i, d in enumerate(out) if not d.ended]
    if cut:
        shown = ", ".join(cut[:20]) + (" ..." if len(cut) > 20 else "")
        print(
            f"{len(cut)} of {len(out)} documents reached --max-length {args.max_length} "
            f"before the end symbol: number {shown}",
            file=sys.stderr,
        )
    return 0


def evaluate_documents(args, model_path) -> int:
    """Nats and bits per character over the documents of a file, each from a
    fresh state, the end symbol of every document counted."""
    path = model_path(args.run, args.checkpoint)
    cfg, vocab, params = _document_model(path, args.run, "evaluate --documents")
    mode = docs.parse_mode(args.documents)
    parts = docs.split(read_text(args.text, "text"), mode, str(args.text))
    known = vocab.index
    kept = ["".join(ch for ch in d if ch in known) for d in parts.docs]
    unknown = sorted({ch for d in parts.docs for ch in d if ch not in known})
    dropped = sum(1 for d in kept if not d)
    kept = [d for d in kept if d]
    if not kept:
        raise CorpusError(
            f"{args.text} has no document with characters from the model's vocabulary"
        )
    stream = docs.stream(kept, vocab)
    nats, count = for_model(cfg).text_loss(params, stream, reset_id=docs.END_ID)
    bpc = nats / count / np.log(2)
    warning = uniform_warning(bpc, vocab.size, DOCUMENT_CAUSE)
    result = {
        "text": str(args.text),
        "model": path.name,
        "documents": len(kept),
        "skipped_documents": dropped,
        "characters": count,
        "skipped": sum(map(len, parts.docs)) - sum(map(len, kept)),
        "nats_per_char": nats / count,
        "bits_per_char": bpc,
        "uniform_bits_per_char": uniform_bpc(vocab.size),
        "unknown": unknown[:50],
        "warning": warning,
    }
    if args.json:
        print(json_line(result))
    else:
        gone = (
            f" ({dropped} document{'s' if dropped != 1 else ''} of unknown characters only "
            "left out)"
            if dropped
            else ""
        )
        print(
            f"{bpc:.4f} bits/char ({result['nats_per_char']:.4f} nats/char) "
            f"over {counted(len(kept), 'document')} of {args.text}{gone}: "
            f"{counted(count, 'character')}, one end symbol per document included, "
            f"{path.name} from a fresh state each; uniform guessing: "
            f"{uniform_bpc(vocab.size):.4f}; {result['skipped']:,} unknown characters skipped"
        )
        if warning:
            print(warning)
    return 0

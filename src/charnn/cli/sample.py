"""`charnn sample`: text from a trained or untrained model, optionally primed
(part of the CLI: it prints)."""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from ..data import corpus
from ..data.documents import END, END_MARK
from ..data.text import read_text
from ..data.vocab import Vocab
from ..errors import ConfigError, VocabError
from ..nn import stack
from ..run import budget, docgen
from ..run.backend import for_model
from ..run.config import TrainConfig
from ..run.evaluation import start_state
from ..words import counted
from .model import load_model, model_path, warn_if_diverged
from .output import err


def _prime_text(args) -> str:
    """--prime, or the text of --prime-file: for --documents without the line
    break an editor ends a file with (a document holds none in most modes)."""
    if args.prime is not None and args.prime_file is not None:
        raise ConfigError("give --prime TEXT or --prime-file PATH, not both")
    if args.prime_file is not None:
        text = read_text(args.prime_file, "--prime-file")
        if args.documents is not None:
            text = text.removesuffix("\n").removesuffix("\r")
        if not text:
            raise ConfigError(f"--prime-file {args.prime_file} is empty")
        return text
    prime = args.prime or ""
    try:
        prime.encode("utf-8")
    except UnicodeEncodeError as e:  # bytes of the command line that are not UTF-8
        bad = prime[e.start]
        shown = f"byte 0x{ord(bad) - 0xDC00:02x}" if 0xDC80 <= ord(bad) <= 0xDCFF else repr(bad)
        raise ConfigError(
            f"--prime holds {shown}, which is not UTF-8 text; give the text in UTF-8, "
            "or put it in a UTF-8 file for --prime-file"
        ) from None
    return prime


@contextmanager
def _naming_the_prime_file(args):
    """A prime from --prime-file with characters the model never saw (the
    only VocabError sampling raises): the error names the file."""
    try:
        yield
    except VocabError as e:
        if args.prime_file is None:
            raise
        raise VocabError(f"--prime-file {args.prime_file}: {e}") from None


def _sample_model(args, rng: np.random.Generator):
    """(cfg, vocab, params, h, x, what): the model and the state sampling starts from."""
    if args.untrained is not None:
        c = corpus.load(args.untrained)
        vocab = Vocab.from_text(c.text)
        budget.check(
            budget.model_bytes(vocab.size, args.hidden, 8, 2, args.layers, args.cell),
            f"--hidden {args.hidden}",
            "use a smaller --hidden",
        )
        cfg = TrainConfig(
            cell=args.cell, layers=args.layers, hidden=args.hidden, engine="reference"
        )
        params = stack.init_params(vocab.size, args.hidden, rng, None, args.cell, args.layers)
        h = np.zeros(stack.describe(params).state_size)
        x = int(vocab.encode(c.text[0])[0])
        return cfg, vocab, params, h, x, "an untrained model, from h = 0"
    if args.source is None:
        raise ConfigError("give a run directory or checkpoint, or --untrained [CORPUS]")
    cfg, vocab, params, h, x = load_model(args.source, args.checkpoint)
    warn_if_diverged("sample", args.source)
    h = start_state(h, args.start)
    state = "its carried state" if args.start == "model" else "h = 0"
    name = model_path(args.source, args.checkpoint).name
    return cfg, vocab, params, h, x, f"{name}, from {state}"


# options of one kind of sampling only: given (not at their default) to another, refused
PLAIN_ONLY = ("length", "num_samples", "start")
DOCUMENTS_ONLY = ("max_length", "json")
UNTRAINED_ONLY = ("hidden", "cell", "layers")


def _refuse_given(args, default: dict, options: tuple, why: str) -> None:
    given = [f"--{k.replace('_', '-')}" for k in options if getattr(args, k) != default[k]]
    if given:
        raise ConfigError(
            f"{', '.join(given)} {'does' if len(given) == 1 else 'do'} not apply {why}"
        )


def _check_options(args) -> None:
    from .parser import build_parser

    default = vars(build_parser().parse_args(["sample"]))
    if args.untrained is not None and args.source is not None:
        raise ConfigError("give a run directory or checkpoint, or --untrained [CORPUS], not both")
    if args.untrained is None:
        _refuse_given(args, default, UNTRAINED_ONLY, "to a trained model (they size --untrained)")
    if args.documents is not None:
        _refuse_given(
            args,
            default,
            PLAIN_ONLY,
            "to --documents (each document is drawn whole, "
            "from a fresh state; --max-length limits it)",
        )
    else:
        _refuse_given(args, default, DOCUMENTS_ONLY, "without --documents")


def sample(args) -> int:
    _check_options(args)
    budget.check_sample(args.length)  # samples are made one at a time
    seed = args.seed
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % 2**32)
    chosen = "" if args.seed is not None else " (chosen; give --seed to repeat)"
    if args.documents is not None:
        from .documents import sample_documents

        budget.check_sample(args.documents * args.max_length, "--documents × --max-length")
        note = f"charnn sample: seed {seed}{chosen}" if chosen else ""
        prime = _prime_text(args)
        with _naming_the_prime_file(args):
            return sample_documents(args, model_path, prime, seed, note)
    prime = _prime_text(args)
    rng = np.random.default_rng(seed)
    cfg, vocab, params, h, x, what = _sample_model(args, rng)
    if prime:
        with _naming_the_prime_file(args):
            ids = vocab.encode(prime)
        h, x = for_model(cfg).prime(params, h, ids)
        what += f", primed with {counted(len(prime), 'character')}"
    err(f"charnn sample: {what}; seed {seed}{chosen}")
    synthesize = for_model(cfg).synthesize
    # a document model restarts from h = 0 after each end symbol, as it trained
    draw = docgen.drawer(synthesize, bool(cfg.documents))
    for i in range(args.num_samples):
        out = draw(
            params,
            h.astype(cfg.dtype),
            x,
            args.length,
            rng,
            temperature=args.temperature,
            top_k=args.top_k,
            top_p=args.top_p,
        )
        if args.num_samples > 1:
            print(f"=== sample {i + 1} of {args.num_samples} ===")
        print((prime + vocab.decode(out)).replace(END, END_MARK))
    return 0

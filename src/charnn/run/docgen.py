"""Generated documents: each from a fresh state (h = 0, input END), ending
where the model draws the end symbol, or cut at a length limit.

The reference (nn.sampling.synthesize) and the engine draw the same
documents from the same generator state; END never appears inside one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from ..data.documents import END_ID
from ..data.vocab import Vocab
from ..errors import ConfigError
from ..nn import sampling, stack
from ..words import counted

MAX_LENGTH = 280


@dataclass(frozen=True)
class Generated:
    """One generated document; ended is False when it was cut at the limit."""

    text: str
    ended: bool


def start_state(params: dict, vocab: Vocab, prime: str, max_length: int, flag: str = "--prime"):
    """(h (S,), x): the state and input that follow END and the primer (flag:
    the option that gave it, named in errors)."""
    h = np.zeros(stack.describe(params).state_size)
    if not prime:
        return h, END_ID
    if len(prime) > max_length:
        raise ConfigError(
            f"{flag} has {counted(len(prime), 'character')}; a document holds at most "
            f"--max-length {max_length}"
        )
    ids = vocab.encode(prime)  # VocabError for characters the model never saw
    if (ids == END_ID).any():
        raise ConfigError(f"{flag} contains U+0000, the end-of-document symbol")
    return sampling.prime(params, h, np.concatenate([[END_ID], ids]))


def generate(
    synthesize: Callable,
    params: dict,
    vocab: Vocab,
    rng: np.random.Generator,
    count: int = 0,
    budget: int = 0,
    max_length: int = MAX_LENGTH,
    prime: str = "",
    prime_flag: str = "--prime",
    **options,
) -> list[Generated]:
    """count documents, or (count = 0) documents until they hold budget
    characters in all. synthesize is nn.sampling.synthesize or the engine's;
    options are its temperature, top_k and top_p."""
    if max_length < 1:
        raise ConfigError(f"--max-length must be a positive integer, got {max_length}")
    h, x = start_state(params, vocab, prime, max_length, prime_flag)
    room = max_length - len(prime)
    out, total = [], 0
    while (len(out) < count) if count > 0 else (total < budget):
        # one draw more than the room: a document of exactly max_length
        # characters still ends by itself if END follows
        ids = synthesize(params, h, x, room + 1, rng, stop=END_ID, **options)
        ended = len(ids) > 0 and ids[-1] == END_ID
        body = ids[:-1] if ended else ids[:room]
        out.append(Generated(prime + vocab.decode(body), bool(ended)))
        total += len(out[-1].text)
    return out


def stream(synthesize: Callable, params: dict, h, x: int, n: int, rng, **options) -> np.ndarray:
    """n ids drawn from state h (S,) and input x the way a document model
    reads its text: after each END the next document starts from h = 0, as
    in training (`generate` draws whole documents; this a stretch of text)."""
    zero = np.zeros_like(h)
    if x == END_ID:
        h = zero
    out = []
    while n > 0:
        ids = synthesize(params, h, x, n, rng, stop=END_ID, **options)
        out.append(np.asarray(ids, dtype=np.int64))
        n -= len(ids)
        h, x = zero, END_ID
    return np.concatenate(out) if out else np.empty(0, np.int64)


def drawer(synthesize: Callable, documents: bool) -> Callable:
    """synthesize, or for a document model `stream` over it: text drawn the
    way the model reads it."""
    return partial(stream, synthesize) if documents else synthesize


def join(docs: list[Generated]) -> str:
    """The documents as one text: one per line, or separated by blank lines
    when any of them holds a line break."""
    sep = "\n\n" if any("\n" in d.text for d in docs) else "\n"
    return sep.join(d.text for d in docs)


def record(docs: list[Generated]) -> dict:
    """The documents as samples.jsonl keeps them."""
    return {"documents": [d.text for d in docs], "ended": [d.ended for d in docs]}

"""Synthesizing text: temperature, top-k and nucleus (top-p) sampling, priming.

At each step the network runs one time step from (h, x), h being the whole
recurrent state (S,) of any cell and depth (see `arch.py`; the hidden vector
for the seed's RNN), turns the logits o
into a distribution and draws the next id, which becomes the next input:

    temperature 0       -> argmax of o (greedy; the lowest id wins a tie)
    otherwise           -> p = softmax(o / temperature), or greedy when o / temperature
                           overflows (a tiny temperature: the limit is greedy)
    top_k > 0           -> keep the k most probable ids
    top_p < 1           -> keep the smallest set of most probable ids whose
                           mass reaches top_p of what is left (at least one)

Ties in probability rank the lower id first. The kept mass q is sampled
exactly by inverse CDF over ids in ascending order: with u ~ U[0, 1) the
choice is the first id whose cumulative q exceeds u * sum(q). One uniform
is drawn per character (all n at once), greedy or not, so the fast path
consumes the same random numbers and picks the same ids. With ``stop`` (an
id, -1 for none) generation ends early once that id is drawn; the n
uniforms are drawn all the same. Logits that are not all finite (a model
whose weights overflow: inf, or inf - inf = NaN) define no distribution:
`choose` gives -1 (NOT_FINITE), generation ends there, and `check_drawn`
turns that into an error.
"""

from __future__ import annotations

import numpy as np

from ..errors import CheckpointError
from . import rnn, stack

NOT_FINITE = -1  # what choose gives for logits that are not all finite


def filter_probs(p: np.ndarray, top_k: int = 0, top_p: float = 1.0) -> np.ndarray:
    """Zero all but the top-k / nucleus ids of p (K,); returns unnormalized mass."""
    if top_k <= 0 and top_p >= 1.0:
        return p
    order = np.argsort(-p, kind="stable")
    keep = len(p) if top_k <= 0 else min(top_k, len(p))
    if top_p < 1.0:
        kept = p[order[:keep]]
        cum = np.cumsum(kept)
        keep = min(keep, int(np.searchsorted(cum, top_p * cum[-1])) + 1)
    q = np.zeros_like(p)
    q[order[:keep]] = p[order[:keep]]
    return q


def choose(
    o: np.ndarray, u: float, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0
) -> int:
    """Pick the next id from logits o (K,) with the uniform draw u
    (NOT_FINITE when o is not all finite)."""
    if not (np.isfinite(o.max()) and np.isfinite(o.min())):
        return NOT_FINITE
    with np.errstate(over="ignore"):
        z = o / temperature if temperature > 0 else o
    if temperature == 0 or not np.isfinite(z.max()):
        return int(np.argmax(o))
    q = filter_probs(rnn.softmax(z), top_k, top_p)
    cdf = np.cumsum(q)
    idx = int(np.searchsorted(cdf, u * cdf[-1], side="right"))
    return min(idx, len(q) - 1)


def check_drawn(ids: np.ndarray) -> np.ndarray:
    """ids, or the error that their last is NOT_FINITE (see `choose`)."""
    if ids.size and ids[-1] == NOT_FINITE:
        raise CheckpointError(
            "the model's output is not finite (its weights overflow): its checkpoint "
            "is damaged, or its training diverged"
        )
    return ids


def check_options(temperature: float, top_k: int, top_p: float) -> None:
    """Raise ValueError for options outside their ranges."""
    if not temperature >= 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if top_k < 0:
        raise ValueError(f"top-k must be >= 0 (0 keeps all), got {top_k}")
    if not 0 < top_p <= 1:
        raise ValueError(f"top-p must be in (0, 1], got {top_p}")


def synthesize(
    params: dict,
    h0,
    x0: int,
    n: int,
    rng: np.random.Generator,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    stop: int = -1,
) -> np.ndarray:
    """Generate n ids starting from the state h0 (S,) and input id x0.

    Reference implementation; returns an int array (n,) not including x0,
    or shorter, ending with `stop`, when that id is drawn.
    """
    check_options(temperature, top_k, top_p)
    x = int(rnn.as_ids(x0, params["V"].shape[0], "x0"))
    u = rng.random(n)
    h = np.asarray(h0, dtype=np.float64)
    out = np.empty(n, dtype=np.int64)
    for i in range(n):
        h, o = stack.step(params, h, x)
        x = choose(o, u[i], temperature, top_k, top_p)
        out[i] = x
        if x == stop or x == NOT_FINITE:
            return check_drawn(out[: i + 1])
    return out


def prime(params: dict, h0, ids: np.ndarray) -> tuple[np.ndarray, int]:
    """Run the primer ids (P,) through the network from h0.

    Returns (h, x): the state after all but the last primer character and
    that last character, ready to be the first input of `synthesize`.
    """
    h = np.asarray(h0, dtype=np.float64)
    for x in ids[:-1]:
        h, _ = stack.step(params, h, int(x))
    return h, int(ids[-1])

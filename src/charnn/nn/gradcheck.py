"""Analytic gradients against centred finite differences.

For each checked entry theta_i the numerical gradient is

    n_i = (L(theta + h e_i) - L(theta - h e_i)) / (2 h)

and the error is relative, floored so exact zeros compare cleanly:

    rel_i = |a_i - n_i| / max(|a_i| + |n_i|, tiny)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import rnn

TINY = 1e-30


@dataclass(frozen=True)
class Row:
    """One line of the gradient-check table."""

    name: str
    shape: tuple[int, ...]
    checked: int
    max_abs: float
    max_rel: float
    passed: bool


def relative_error(a: np.ndarray, n: np.ndarray, tiny: float = TINY) -> np.ndarray:
    """|a - n| / max(|a| + |n|, tiny), element-wise."""
    return np.abs(a - n) / np.maximum(np.abs(a) + np.abs(n), tiny)


def loss_difference(O_plus: np.ndarray, O_minus: np.ndarray, targets) -> float:
    """L(O_plus) - L(O_minus) for logits (T, K), computed without cancellation.

    Subtracting two losses of ~T ln K loses digits at the scale of the loss;
    with D = O_plus - O_minus and p = softmax(O_minus) the same difference is
    sum_t log1p(sum_k p_tk expm1(D_tk)) - D_t[y_t], exact up to rounding of D.
    """
    D = O_plus - O_minus
    P = rnn.softmax(O_minus)
    lse = np.log1p((P * np.expm1(D)).sum(axis=1))
    return float((lse - D[np.arange(len(targets)), targets]).sum())


def numerical_grad(
    params: dict, name: str, index: tuple, inputs, targets, h0, step: float = 1e-5
) -> float:
    """Centred difference of the sequence loss with respect to one entry.

    name may be 'h0' to differentiate with respect to the initial state.
    """
    target = h0 if name == "h0" else params[name]
    old = target[index]
    try:
        target[index] = old + step
        O_plus = rnn.forward(params, inputs, h0)["O"]
        target[index] = old - step
        O_minus = rnn.forward(params, inputs, h0)["O"]
    finally:
        target[index] = old
    return loss_difference(O_plus, O_minus, targets) / (2 * step)


def entries(shape: tuple[int, ...], max_entries: int, rng: np.random.Generator) -> list[tuple]:
    """All indices of an array, or max_entries of them drawn without replacement."""
    total = int(np.prod(shape))
    flat = (
        np.arange(total)
        if total <= max_entries
        else np.sort(rng.choice(total, size=max_entries, replace=False))
    )
    return [np.unravel_index(i, shape) for i in flat]


def check(
    params: dict,
    inputs,
    targets,
    h0,
    rng: np.random.Generator,
    max_entries: int = 100_000,
    step: float = 1e-5,
    bar: float = 1e-6,
    with_h0: bool = True,
) -> list[Row]:
    """Compare analytic and numerical gradients; one Row per parameter.

    Every entry is checked unless an array has more than max_entries, then
    a random sample of that many is. params, h0 are float64 and restored.
    """
    inputs = np.asarray(inputs, dtype=np.intp)
    targets = np.asarray(targets, dtype=np.intp)
    h0 = np.array(h0, dtype=np.float64)
    _, grads, _ = rnn.loss_and_grads_h0(params, inputs, targets, h0)
    names = list(rnn.PARAM_NAMES) + (["h0"] if with_h0 else [])
    rows = []
    for name in names:
        shape = grads[name].shape
        idx = entries(shape, max_entries, rng)
        a = np.array([grads[name][i] for i in idx])
        n = np.array([numerical_grad(params, name, i, inputs, targets, h0, step) for i in idx])
        rel = relative_error(a, n)
        max_rel = float(rel.max())
        rows.append(Row(name, shape, len(idx), float(np.abs(a - n).max()), max_rel, max_rel < bar))
    return rows


def check_on_text(
    vocab, text: str, m: int, T: int, seed: int, sig: float = 0.01, max_entries: int = 2000
) -> tuple[list[Row], int]:
    """Check a fresh model (K from vocab, hidden size m) on the first T+1
    characters of text, from a random non-zero h0. Returns (rows, T used)."""
    rng = np.random.default_rng(seed)
    params = rnn.init_params(vocab.size, m, rng, sig)
    h0 = rng.uniform(-0.5, 0.5, m)
    ids = vocab.encode(text[: T + 1])
    rows = check(params, ids[:-1], ids[1:], h0, rng, max_entries=max_entries)
    return rows, len(ids) - 1

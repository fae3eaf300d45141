"""Analytic gradients against centred finite differences, for every cell
and depth, the initial states included.

For each checked entry theta_i (a parameter, or an entry of the initial
state: h0, c0 of layer 0, h0_1, c0_1 of layer 1, ...) the numerical gradient
is the fourth-order centred difference, with D(s) = L(theta + s e_i) - L(theta - s e_i),

    n_i = (8 D(h) - D(2h)) / (12 h)           error O(h^4), h = 1e-3

so h can be large enough that rounding stays far below the 1e-6 bar even
for small entries of a gated cell's gradient (the two-point formula's
O(h^2) error forces a small h, and its rounding then shows). The error is
relative, floored so exact zeros compare cleanly:

    rel_i = |a_i - n_i| / max(|a_i| + |n_i|, tiny)

An entry passes when rel_i < 1e-6. The differences have limits of their
own. Rounding: each logit o_tk = (V h_t + c)_k is computed to about
eps (|V| |h_t| + |c|)_k, so D carries noise of order eps sum_t max_k of
that, and n_i that noise over the step (`noise_bound`). Truncation: with
large weights the O(h^4) term shows. So an entry that misses the bar is
differenced again with steps h / RECHECK, h / RECHECK**2, ... (`_refined`)
until the estimates converge as h^4 or sink into rounding; the last gives
its n_i, and its uncertainty is SPREAD times the last change of the
estimates (or the last two), and at least SPREAD times that step's noise.
An entry that misses the bar by less than its uncertainty cannot be judged
either way: its array is reported "unresolved" (gradients too small for the check, as with tiny
weights, or a loss too rough for differences, as with exploding gradients
at large weights), not failed; so is one whose differences are not finite.
An entry that misses it by more, or whose analytic value is not a number,
fails.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import rnn, stack

TINY = 1e-30
STEP = 1e-3
# An entry far smaller than the largest of its array is judged against a floor
# of SCALE_FLOOR times that array's largest |a| + |n|: the centred differences
# carry rounding noise of about 1e-12 of that scale, which an exact gradient
# 1e-10 times the scale would turn into a relative error above the bar.
SCALE_FLOOR = 1e-4
# The noise bound's factor over eps sum_t max_k (|V| |h_t| + |c|)_k / step: the
# largest |a - n| of correct gradients too small to pass was 0.98 of the bare
# estimate over 1,134 networks (every cell, 1-3 layers, m 5 and 12, sig 1e-8 to
# 1/sqrt(m), T 2-40, three seeds), whose 12,852 arrays all passed or were
# unresolved with it.
NOISE_FACTOR = 4.0
PASS, FAIL, UNRESOLVED = "pass", "FAIL", "unresolved"
# An entry that misses the bar is differenced again with the step divided by
# this, again and again (`_refined`): each time its truncation error falls
# 4**4 = 256-fold and its rounding noise grows 4-fold. Converging, the finest
# estimate is within a fraction of the last change; where the loss is too
# rough for differences (exploding gradients at large sig) they do not settle.
RECHECK = 4
LEVELS = 5  # at most that many finer steps, down to step / 4**5 ~ 1e-6
SETTLED = 64  # a second change this many times smaller than the first: converging
SPREAD = 4  # the uncertainty: this many times the change (or noise) that bounds it


class Cancelled(Exception):
    """`check` stopped early: its stop() said so."""


@dataclass(frozen=True)
class Row:
    """One line of the gradient-check table."""

    name: str
    shape: tuple[int, ...]
    checked: int
    max_abs: float
    max_rel: float
    result: str  # PASS, FAIL or UNRESOLVED

    @property
    def passed(self) -> bool:
        return self.result == PASS

    @property
    def failed(self) -> bool:
        return self.result == FAIL


def error_formula(scale_floor: float | None = SCALE_FLOOR) -> str:
    """The relative error `check` computes, in words; scale_floor None: the
    absolute floor TINY alone, as checks recorded before SCALE_FLOOR had it."""
    if not scale_floor:
        return f"|a - n| / max(|a| + |n|, {TINY:g})"
    return (
        f"|a - n| / max(|a| + |n|, {scale_floor:g} s), s the largest |a| + |n| of the "
        "entries checked in its array"
    )


def summary(rows: list[Row], noise: float, bar: float = 1e-6) -> str:
    """The check's verdict in words, for its rows and noise bound (`check`):
    one line, and a second that explains unresolved arrays when there are."""
    bar_text = f"{bar:.0e}".replace("e-0", "e-")
    failed = [r.name for r in rows if r.failed]
    if failed:
        return (
            "GRADIENT CHECK FAILED: " + ", ".join(failed) + " (each misses the bar by more "
            f"than the centred differences are sure of, their rounding noise about {noise:.1e}"
            ", or is not a number)"
        )
    low = [r.name for r in rows if r.result == UNRESOLVED]
    if not low:
        return f"all gradients pass (max relative error < {bar_text})"
    return (
        f"no gradient fails: {', '.join(low)} unresolved, the others pass (max relative "
        f"error < {bar_text})\nunresolved: they differ from the centred differences by less "
        f"than those are sure of (their rounding noise, about {noise:.1e}, or how far finer "
        "steps part), so they cannot be judged"
    )


def relative_error(a: np.ndarray, n: np.ndarray, tiny: float = TINY) -> np.ndarray:
    """|a - n| / max(|a| + |n|, tiny), element-wise."""
    with np.errstate(invalid="ignore", over="ignore"):  # NaN and inf: told by `verdict`
        return np.abs(a - n) / np.maximum(np.abs(a) + np.abs(n), tiny)


def noise_bound(params: dict, inputs, state0, step: float = STEP) -> float:
    """How far rounding alone can move a numerical gradient (`numerical_grad`)
    of the sequence loss: NOISE_FACTOR eps sum_t max_k (|V| |h_t| + |c|)_k / step,
    h_t the top layer's states of the unperturbed forward pass."""
    cache = stack.forward(params, inputs, state0)
    H = cache["H"] if "H" in cache else cache["layers"][-1]["H"]
    scale = np.abs(H[1:]) @ np.abs(params["V"]).T + np.abs(params["c"])  # (T, K)
    eps = float(np.finfo(np.float64).eps)
    return NOISE_FACTOR * eps * float(scale.max(axis=1, initial=0.0).sum()) / step


def verdict(a: np.ndarray, n: np.ndarray, floor: float, noise, bar: float) -> str:
    """PASS when every entry's relative error is below bar; FAIL when an
    analytic value is not finite, or an entry misses the bar by more than the
    uncertainty of its n (noise: one bound, or one per entry); else
    UNRESOLVED, as where the differences themselves are not finite. (NaN
    compares false: every test is written so that a NaN fails it.)"""
    if not np.isfinite(a).all():
        return FAIL
    off = ~(relative_error(a, n, floor) < bar)
    if not off.any():
        return PASS
    noise = np.broadcast_to(noise, np.shape(a))
    sure = np.isfinite(n) & np.isfinite(noise)
    return FAIL if (np.abs(a - n) > noise)[off & sure].any() else UNRESOLVED


def loss_difference(O_plus: np.ndarray, O_minus: np.ndarray, targets) -> float:
    """L(O_plus) - L(O_minus) for logits (T, K), computed without cancellation.

    Subtracting two losses of ~T ln K loses digits at the scale of the loss;
    with D = O_plus - O_minus and p = softmax(O_minus) the same difference is
    sum_t log1p(sum_k p_tk expm1(D_tk)) - D_t[y_t], exact up to rounding of D.
    """
    D = O_plus - O_minus
    P = rnn.softmax(O_minus)
    with np.errstate(all="ignore"):  # steps so large the loss overflows: not finite, unresolved
        lse = np.log1p((P * np.expm1(D)).sum(axis=1))
        return float((lse - D[np.arange(len(targets)), targets]).sum())


def numerical_grad(
    params: dict, name: str, index: tuple, inputs, targets, state0, step: float = STEP
) -> float:
    """Fourth-order centred difference of the sequence loss for one entry.

    name is a parameter or a part of the initial state (see
    `stack.state_parts`: h0, c0, h0_1, ...); state0 (S,) is that state.
    """
    parts = stack.state_parts(params)
    if name in parts:
        target, index = state0, (parts[name].start + index[0],)
    else:
        target = params[name]
    old, D = target[index], []
    try:
        for s in (step, 2 * step):
            target[index] = old + s
            O_plus = stack.forward(params, inputs, state0)["O"]
            target[index] = old - s
            O_minus = stack.forward(params, inputs, state0)["O"]
            D.append(loss_difference(O_plus, O_minus, targets))
    finally:
        target[index] = old
    return (8 * D[0] - D[1]) / (12 * step)


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
    state0,
    rng: np.random.Generator,
    max_entries: int = 100_000,
    step: float = STEP,
    bar: float = 1e-6,
    with_h0: bool = True,
    stop: Callable[[], bool] | None = None,
) -> tuple[list[Row], float]:
    """Compare analytic and numerical gradients; one Row per parameter, in
    the canonical order, then (with_h0) one per part of the initial state,
    and the rounding noise the numerical ones can carry (`noise_bound`).

    Every entry is checked unless an array has more than max_entries, then
    a random sample of that many is. params, state0 (S,) are float64 and
    restored. stop: asked before each entry; True raises Cancelled.
    """
    inputs = np.asarray(inputs, dtype=np.intp)
    targets = np.asarray(targets, dtype=np.intp)
    state0 = np.array(state0, dtype=np.float64)
    _, grads, dstate, _ = stack.loss_and_grads_state(params, inputs, targets, state0)
    parts = stack.state_parts(params) if with_h0 else {}
    grads.update({name: dstate[part] for name, part in parts.items()})
    a = stack.describe(params)
    names = list(stack.param_shapes(a.K, a.m, a.cell, a.layers)) + list(parts)
    noise = noise_bound(params, inputs, state0, step)
    rows = []
    for name in names:
        shape = grads[name].shape
        idx = entries(shape, max_entries, rng)
        an = np.array([grads[name][i] for i in idx])
        n = np.empty(len(idx))
        for k, i in enumerate(idx):
            if stop is not None and stop():
                raise Cancelled
            n[k] = numerical_grad(params, name, i, inputs, targets, state0, step)
        floor = max(TINY, SCALE_FLOOR * float(np.max(np.abs(an) + np.abs(n), initial=0.0)))
        tol = np.full(len(idx), noise)
        for k in np.flatnonzero(~(relative_error(an, n, floor) < bar)):
            n[k], tol[k] = _refined(
                params, name, idx[k], inputs, targets, state0, step, noise, n[k], stop
            )
        max_rel = float(relative_error(an, n, floor).max(initial=0.0))
        result = verdict(an, n, floor, tol, bar)
        rows.append(Row(name, shape, len(idx), float(np.abs(an - n).max()), max_rel, result))
    return rows, noise


def _refined(params, name, index, inputs, targets, state0, step, noise, n0, stop):
    """(estimate, uncertainty) of an entry that missed the bar at step: the
    step is divided by RECHECK up to LEVELS times, until the estimates
    converge as h^4 (a change SETTLED times smaller than the one before) or
    their changes sink into rounding; the uncertainty is SPREAD times the
    last change (converged) or the last two, and at least SPREAD times the
    finest step's noise bound."""
    prev, change_prev = n0, np.inf
    for level in range(1, LEVELS + 1):
        if stop is not None and stop():
            raise Cancelled
        h = step / RECHECK**level
        est = numerical_grad(params, name, index, inputs, targets, state0, h)
        change, rounding = abs(est - prev), noise * step / h
        if level >= 2 and change * SETTLED <= change_prev:  # converging: within a fraction
            return est, SPREAD * max(rounding, change)
        if level >= 2 and change <= SPREAD * rounding:  # rounding from here on
            return est, SPREAD * max(rounding, change, change_prev)
        prev, change_prev = est, change
    return prev, SPREAD * max(rounding, change, change_prev)


def check_on_text(
    vocab,
    text: str,
    m: int,
    T: int,
    seed: int,
    sig: float | None = None,
    max_entries: int = 2000,
    cell: str = "rnn",
    layers: int = 1,
    stop: Callable[[], bool] | None = None,
) -> tuple[list[Row], float, int]:
    """Check a fresh model (K from vocab, hidden size m, the cell's default
    sig unless given) on the first T+1 characters of text, from a random
    non-zero initial state, uniform in [-0.5, 0.5). Returns (rows, noise, T
    used), noise as `check` returns it."""
    rng = np.random.default_rng(seed)
    params = stack.init_params(vocab.size, m, rng, sig, cell, layers)
    state0 = rng.uniform(-0.5, 0.5, stack.describe(params).state_size)
    ids = vocab.encode(text[: T + 1])
    rows, noise = check(params, ids[:-1], ids[1:], state0, rng, max_entries=max_entries, stop=stop)
    return rows, noise, len(ids) - 1

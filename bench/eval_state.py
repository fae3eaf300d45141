"""Which state should validation, `evaluate` and priming start from?

Trains small runs of the seed's algorithm (state carried from sequence to
sequence, reset to zero only at epoch starts) and of a variant that also
resets the state to zero every R updates, then scores the held-out text:

    zero      from h = 0 (what a model trained the seed's way never meets)
    carried   from the model's own carried state (stream 0's h after training)
    warm      from the carried state, run over the W characters that precede
              the held-out text (not scored), then scored

It prints bits per character over the whole held-out text and over its
first 200 characters (a short text, like a prime), next to ln K / ln 2
(uniform guessing), and writes bench/eval_state.md.

    python bench/eval_state.py [--updates 10000] [--corpora tragedies comedies FILE]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from charnn.run import backend as backend_mod
from charnn.run.config import TrainConfig
from charnn.run.loop import new_state
from charnn.run.split import prepare_data

WARM = 1000
SHORT = 200


def train(cfg: TrainConfig, reset_every: int):
    """Run cfg.updates updates; h <- 0 at epoch starts and every reset_every updates."""
    data = prepare_data(cfg)
    rng = np.random.default_rng(cfg.seed)
    state = new_state(cfg, data.vocab.size, rng)
    impl = backend_mod.backend("fast")
    T, L, optc = cfg.seq_length, data.train.shape[1], cfg.optim()
    while state.update < cfg.updates:
        left = (L - T - 1 - state.pointer) // T + 1 if state.pointer + T + 1 <= L else 0
        if left == 0:
            state.start_epoch()
            continue
        n = min(left, cfg.updates - state.update)
        if reset_every:
            n = min(n, reset_every - state.update % reset_every)
        impl.train_chunk(state, data.train, n, T, cfg.clip, optc)
        if reset_every and state.update % reset_every == 0:
            state.h[...] = 0.0
    return data, state, impl


def bpc(impl, params, ids, h0) -> float:
    nats, n = impl.text_loss(params, ids, h0)
    return nats / n / math.log(2)


def carried_after(impl, params, ids, h0) -> np.ndarray:
    """The state after reading ids (P,) from h0."""
    from charnn.nn import rnn

    h = np.asarray(h0, dtype=np.float64)
    for x in ids:
        h, _ = rnn.step(params, h, int(x))
    return h


def scores(data, state, impl) -> dict:
    p, val = state.params, data.val
    m = p["W"].shape[0]
    zero, carried = np.zeros(m), state.h[0].astype(np.float64)
    head = data.train[0, -WARM:]
    warm = carried_after(impl, p, head, carried)
    out = {}
    for name, h0 in (("zero", zero), ("carried", carried), ("warm", warm)):
        out[name] = bpc(impl, p, val, h0)
        out[name + "_short"] = bpc(impl, p, val[: SHORT + 1], h0)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--updates", type=int, default=10_000)
    ap.add_argument("--lengths", type=int, nargs="+", default=[25, 50, 100])
    ap.add_argument("--corpora", nargs="+", default=["tragedies", "comedies"])
    ap.add_argument("--resets", type=int, nargs="+", default=[0, 1, 20])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("eval_state.md"))
    args = ap.parse_args(argv)
    head = (
        "| corpus | T | reset every | seed | uniform | zero | carried | warm "
        "| zero 200 | carried 200 | warm 200 |"
    )
    lines = [head, "|" + "---|" * 11]
    print(head, flush=True)
    for corpus in args.corpora:
        for T in args.lengths:
            for seed in args.seeds:
                for R in args.resets:
                    cfg = TrainConfig(corpus=corpus, seq_length=T, updates=args.updates, seed=seed)
                    data, state, impl = train(cfg, R)
                    s = scores(data, state, impl)
                    uni = math.log2(data.vocab.size)
                    name = Path(corpus).name
                    row = (
                        f"| {name} | {T} | {R or 'epoch'} | {seed} | {uni:.2f} | "
                        + " | ".join(
                            f"{s[k]:.2f}"
                            for k in (
                                "zero",
                                "carried",
                                "warm",
                                "zero_short",
                                "carried_short",
                                "warm_short",
                            )
                        )
                        + " |"
                    )
                    lines.append(row)
                    print(row, flush=True)
    args.out.write_text(
        f"Validation bits/char after {args.updates:,} updates (bench/eval_state.py)\n\n"
        + "\n".join(lines)
        + "\n",
        encoding="utf-8",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A plain NumPy character RNN trained the min-char-rnn way: one time step
at a time with one-hot inputs, AdaGrad and element-wise clipping. It is the
speed anchor for bench_speed.py, written from the equations in charnn/nn/rnn.py.

Shapes: K = vocabulary size, m = hidden size, T = seq_length (B = 1).
"""

from __future__ import annotations

import numpy as np


class PlainRNN:
    """Parameters, AdaGrad memory and the carried hidden state, float64."""

    def __init__(
        self, K: int, m: int, rng: np.random.Generator, lr: float = 0.1, clip: float = 5.0
    ):
        self.K, self.lr, self.clip = K, lr, clip
        self.W = 0.01 * rng.standard_normal((m, m))
        self.U = 0.01 * rng.standard_normal((m, K))
        self.V = 0.01 * rng.standard_normal((K, m))
        self.b, self.c = np.zeros((m, 1)), np.zeros((K, 1))
        self.mem = [np.zeros_like(p) for p in self.params()]
        self.h = np.zeros((m, 1))

    def params(self):
        return [self.W, self.U, self.V, self.b, self.c]

    def loss_and_grads(self, inputs, targets):
        """Forward and backward over one sequence; returns (loss, grads)."""
        xs, hs, ps = {}, {-1: self.h}, {}
        loss = 0.0
        for t, (x, y) in enumerate(zip(inputs, targets)):
            xs[t] = np.zeros((self.K, 1))
            xs[t][x] = 1.0
            hs[t] = np.tanh(self.W @ hs[t - 1] + self.U @ xs[t] + self.b)
            o = self.V @ hs[t] + self.c
            e = np.exp(o - o.max())
            ps[t] = e / e.sum()
            loss -= np.log(ps[t][y, 0])
        dW, dU, dV = np.zeros_like(self.W), np.zeros_like(self.U), np.zeros_like(self.V)
        db, dc = np.zeros_like(self.b), np.zeros_like(self.c)
        da_next = np.zeros_like(self.h)
        for t in reversed(range(len(inputs))):
            g = ps[t].copy()
            g[targets[t]] -= 1.0
            dV += g @ hs[t].T
            dc += g
            dh = self.V.T @ g + self.W.T @ da_next
            da = (1.0 - hs[t] * hs[t]) * dh
            db += da
            dW += da @ hs[t - 1].T
            dU += da @ xs[t].T
            da_next = da
        self.h = hs[len(inputs) - 1]
        return loss, [dW, dU, dV, db, dc]

    def update(self, inputs, targets) -> float:
        """One AdaGrad step on one sequence; returns its loss."""
        loss, grads = self.loss_and_grads(inputs, targets)
        for p, g, mem in zip(self.params(), grads, self.mem):
            np.clip(g, -self.clip, self.clip, out=g)
            mem += g * g
            p -= self.lr * g / np.sqrt(mem + 1e-8)
        return loss

    def sample(self, x: int, n: int, rng: np.random.Generator) -> list[int]:
        """n ids drawn from the current state, starting from input id x."""
        h, out = self.h, []
        for _ in range(n):
            xv = np.zeros((self.K, 1))
            xv[x] = 1.0
            h = np.tanh(self.W @ h + self.U @ xv + self.b)
            o = self.V @ h + self.c
            p = np.exp(o - o.max())
            x = int(rng.choice(self.K, p=(p / p.sum()).ravel()))
            out.append(x)
        return out

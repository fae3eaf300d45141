"""The PyTorch anchor: nn.RNN(tanh) + nn.Linear trained with cross-entropy
(sum over T, mean over B), gradients clamped element-wise and Adagrad, CPU.

Shapes: K = vocabulary size, m = hidden size, T = seq_length, B = batch.
"""

from __future__ import annotations

import numpy as np


class TorchRNN:
    """One-hot inputs of size K, so the input weights play the role of U.
    dtype: "float32" (PyTorch's default) or "float64"; compile: the forward
    pass and loss go through torch.compile (its backward is compiled too)."""

    def __init__(
        self,
        K: int,
        m: int,
        B: int,
        seed: int = 0,
        lr: float = 0.1,
        clip: float = 5.0,
        dtype: str = "float32",
        compile: bool = False,
    ):
        import torch

        self.torch = torch
        torch.manual_seed(seed)
        dt = getattr(torch, dtype)
        self.K, self.B, self.clip = K, B, clip
        self.rnn = torch.nn.RNN(K, m, nonlinearity="tanh", batch_first=True).to(dt)
        self.out = torch.nn.Linear(m, K).to(dt)
        self.params = list(self.rnn.parameters()) + list(self.out.parameters())
        self.opt = torch.optim.Adagrad(self.params, lr=lr)
        self.h = torch.zeros(1, B, m, dtype=dt)
        self.eye = torch.eye(K, dtype=dt)
        self.loss_fn = torch.compile(self._loss) if compile else self._loss

    def update(self, X: np.ndarray, Y: np.ndarray) -> float:
        """One step on inputs X (B, T) and targets Y (B, T); returns the loss."""
        torch = self.torch
        x = self.eye[torch.from_numpy(X.astype(np.int64))]  # (B, T, K)
        y = torch.from_numpy(Y.astype(np.int64)).reshape(-1)
        loss, h_last = self.loss_fn(x, y, self.h)
        self.opt.zero_grad(set_to_none=False)
        loss.backward()
        for p in self.params:
            p.grad.clamp_(-self.clip, self.clip)
        self.opt.step()
        self.h = h_last.detach()
        return float(loss.detach())

    def _loss(self, x, y, h):
        H, h_last = self.rnn(x, h)  # (B, T, m)
        o = self.out(H).reshape(-1, self.K)
        loss = self.torch.nn.functional.cross_entropy(o, y, reduction="sum") / self.B
        return loss, h_last

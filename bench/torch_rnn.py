"""The PyTorch anchor: nn.RNN(tanh) + nn.Linear trained with cross-entropy
(sum over T, mean over B), gradients clamped element-wise and Adagrad, CPU.

Shapes: K = vocabulary size, m = hidden size, T = seq_length, B = batch.
"""

from __future__ import annotations

import numpy as np


class TorchRNN:
    """One-hot inputs of size K, so the input weights play the role of U."""

    def __init__(self, K: int, m: int, B: int, seed: int = 0, lr: float = 0.1, clip: float = 5.0):
        import torch

        self.torch = torch
        torch.manual_seed(seed)
        self.K, self.B, self.clip = K, B, clip
        self.rnn = torch.nn.RNN(K, m, nonlinearity="tanh", batch_first=True)
        self.out = torch.nn.Linear(m, K)
        self.params = list(self.rnn.parameters()) + list(self.out.parameters())
        self.opt = torch.optim.Adagrad(self.params, lr=lr)
        self.h = torch.zeros(1, B, m)
        self.eye = torch.eye(K)

    def update(self, X: np.ndarray, Y: np.ndarray) -> float:
        """One step on inputs X (B, T) and targets Y (B, T); returns the loss."""
        torch = self.torch
        x = self.eye[torch.from_numpy(X.astype(np.int64))]  # (B, T, K)
        y = torch.from_numpy(Y.astype(np.int64)).reshape(-1)
        H, h_last = self.rnn(x, self.h)  # (B, T, m)
        o = self.out(H).reshape(-1, self.K)
        loss = torch.nn.functional.cross_entropy(o, y, reduction="sum") / self.B
        self.opt.zero_grad(set_to_none=False)
        loss.backward()
        for p in self.params:
            p.grad.clamp_(-self.clip, self.clip)
        self.opt.step()
        self.h = h_last.detach()
        return float(loss.detach())

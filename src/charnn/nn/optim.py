"""Optimizers and gradient clipping, state kept in dicts keyed like the params.

For a parameter theta with (clipped) gradient g, eta = lr, eps = epsilon:

    adagrad:  v += g^2;                        theta -= eta g / sqrt(v + eps)
    rmsprop:  v = rho v + (1 - rho) g^2;       theta -= eta g / sqrt(v + eps)
    adam:     t += 1; m = beta1 m + (1 - beta1) g; v = beta2 v + (1 - beta2) g^2;
              theta -= eta (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)

AdaGrad is the seed's optimizer; `v` is the seed's `M`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

OPTIMIZERS = ("adagrad", "rmsprop", "adam")


@dataclass(frozen=True)
class OptimConfig:
    """Hyper-parameters of the update rule."""

    name: str = "adagrad"
    lr: float = 0.1
    eps: float = 1e-8
    rho: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999

    @property
    def code(self) -> int:
        """Integer id of the rule, as the fast engine takes it."""
        return OPTIMIZERS.index(self.name)


def init_state(params: dict) -> dict:
    """Zero first and second moments for every parameter, and step t = 0."""
    return {
        "m": {k: np.zeros_like(p) for k, p in params.items()},
        "v": {k: np.zeros_like(p) for k, p in params.items()},
        "t": 0,
    }


def clip_(grads: dict, clip: float) -> None:
    """Clip every gradient element-wise to [-clip, clip] in place; clip <= 0 turns it off."""
    if clip > 0:
        for g in grads.values():
            np.clip(g, -clip, clip, out=g)


def apply_(params: dict, grads: dict, state: dict, cfg: OptimConfig) -> None:
    """One update of every parameter in place, following the rule in cfg.name."""
    state["t"] += 1
    t = state["t"]
    for k, theta in params.items():
        g, m, v = grads[k], state["m"][k], state["v"][k]
        if cfg.name == "adagrad":
            v += g * g
            theta -= cfg.lr * g / np.sqrt(v + cfg.eps)
        elif cfg.name == "rmsprop":
            v *= cfg.rho
            v += (1.0 - cfg.rho) * (g * g)
            theta -= cfg.lr * g / np.sqrt(v + cfg.eps)
        elif cfg.name == "adam":
            m *= cfg.beta1
            m += (1.0 - cfg.beta1) * g
            v *= cfg.beta2
            v += (1.0 - cfg.beta2) * (g * g)
            m_hat = m / (1.0 - cfg.beta1**t)
            v_hat = v / (1.0 - cfg.beta2**t)
            theta -= cfg.lr * m_hat / (np.sqrt(v_hat) + cfg.eps)
        else:
            raise ValueError(
                f"unknown optimizer {cfg.name!r}; choose one of {', '.join(OPTIMIZERS)}"
            )

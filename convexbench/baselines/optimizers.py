"""First-order optimizers on lists of numpy arrays, and learning-rate schedules.

The objectives of convexbench sum the loss over the n samples, so their gradients grow with n.
Adam is invariant to that scale; for SGD the default step is ``SGD_LR_CONSTANT / n`` (at
momentum 0.9) and the gradient divided by n is clipped to norm ``SGD_DEFAULT_CLIP``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from convexbench.errors import UserError

OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("cosine", "constant")

ADAM_DEFAULT_LR = 1e-2
SGD_LR_CONSTANT = 0.2
SGD_DEFAULT_CLIP = 1.0  # cap on ||gradient|| / n for SGD (stabilizes minibatches)
COSINE_FLOOR = 1e-2  # the cosine schedule decays the step to this fraction of lr


class Optimizer:
    """Updates a list of parameter arrays in place from a list of gradients."""

    name = "optimizer"

    def step(self, params: list[np.ndarray], grads: list[np.ndarray], lr: float) -> None:
        raise NotImplementedError


@dataclass
class SGD(Optimizer):
    """SGD with heavy-ball momentum: ``v <- mu v + g``, ``p <- p - lr v``."""

    momentum: float = 0.9
    name: str = "sgd"
    _velocity: list[np.ndarray] | None = field(default=None, repr=False)

    def step(self, params: list[np.ndarray], grads: list[np.ndarray], lr: float) -> None:
        if self._velocity is None:
            self._velocity = [np.zeros_like(p) for p in params]
        for p, g, v in zip(params, grads, self._velocity, strict=True):
            v *= self.momentum
            v += g
            p -= lr * v


@dataclass
class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction."""

    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    name: str = "adam"
    _m: list[np.ndarray] | None = field(default=None, repr=False)
    _v: list[np.ndarray] | None = field(default=None, repr=False)
    _t: int = 0

    def step(self, params: list[np.ndarray], grads: list[np.ndarray], lr: float) -> None:
        if self._m is None or self._v is None:
            self._m = [np.zeros_like(p) for p in params]
            self._v = [np.zeros_like(p) for p in params]
        self._t += 1
        c1 = 1.0 - self.beta1**self._t
        c2 = 1.0 - self.beta2**self._t
        for p, g, m, v in zip(params, grads, self._m, self._v, strict=True):
            m *= self.beta1
            m += (1.0 - self.beta1) * g
            v *= self.beta2
            v += (1.0 - self.beta2) * g * g
            p -= lr * (m / c1) / (np.sqrt(v / c2) + self.eps)


def make_optimizer(name: str, momentum: float = 0.9) -> Optimizer:
    """A fresh optimizer called ``name`` (``"adam"`` or ``"sgd"``)."""
    if name == "adam":
        return Adam()
    if name == "sgd":
        if not 0.0 <= momentum < 1.0:
            raise UserError(f"momentum must be in [0, 1), got {momentum}")
        return SGD(momentum=momentum)
    raise UserError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def default_lr(name: str, n: int, momentum: float = 0.9) -> float:
    """Default step: ``1e-2`` for Adam; ``0.2 (1 - momentum) / (0.1 n)`` for SGD.

    The SGD step is scaled by ``1/n`` because the loss is a sum over samples, and by
    ``(1 - momentum) / 0.1`` so that the effective step ``lr / (1 - momentum)`` does not depend
    on the momentum.
    """
    if name == "adam":
        return ADAM_DEFAULT_LR
    if name == "sgd":
        return SGD_LR_CONSTANT * (1.0 - momentum) / 0.1 / max(n, 1)
    raise UserError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def scheduled_lr(lr: float, t: int, total: int, schedule: str) -> float:
    """Step size at update ``t`` (0-based) of ``total``: constant, or cosine decay to 1% of lr."""
    if schedule == "constant" or total <= 1:
        return lr
    if schedule == "cosine":
        frac = min(t / (total - 1), 1.0)
        return lr * (COSINE_FLOOR + (1.0 - COSINE_FLOOR) * 0.5 * (1.0 + math.cos(math.pi * frac)))
    raise UserError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")


def default_clip(name: str) -> float | None:
    """Default cap on ``||gradient|| / n``: ``SGD_DEFAULT_CLIP`` for SGD, none for Adam."""
    return SGD_DEFAULT_CLIP if name == "sgd" else None

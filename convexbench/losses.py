"""Convex losses with their values, gradients and Fenchel conjugates.

Conventions (MATH.md): squared loss is ``1/2 ||z - y||^2`` (no 1/n); hinge and logistic take
labels in {-1, +1} and are summed over samples.  ``conjugate(lam, y)`` is
``L*(lam) = sup_z lam^T z - L(z, y)``, ``+inf`` outside its domain; it gives the dual value
``-L*(lam)`` used by the certificates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from convexbench.arrays import is_pm1
from convexbench.errors import UserError
from convexbench.names import LOSSES

if TYPE_CHECKING:
    import cvxpy as cp


@dataclass(frozen=True)
class Loss:
    """Base class; subclasses implement one loss."""

    name: str = "loss"
    needs_pm1_labels: bool = False
    needs_exp_cone: bool = False

    def check_labels(self, y: np.ndarray) -> None:
        if self.needs_pm1_labels and not is_pm1(y):
            raise UserError(f"the {self.name} loss needs labels in {{-1, +1}}")

    def value(self, z: np.ndarray, y: np.ndarray) -> float:
        raise NotImplementedError

    def gradient(self, z: np.ndarray, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def conjugate(self, lam: np.ndarray, y: np.ndarray) -> float:
        raise NotImplementedError

    def cvxpy(self, z: cp.Expression, y: np.ndarray) -> cp.Expression:
        raise NotImplementedError

    def perturbation_bound(self, z: np.ndarray, y: np.ndarray, e: np.ndarray) -> float:
        """An upper bound on |L(z + delta, y) - L(z, y)| over all |delta| <= e (elementwise).

        Hinge and logistic losses are 1-Lipschitz in each prediction: the bound is sum(e).
        """
        return float(np.sum(e))


@dataclass(frozen=True)
class SquaredLoss(Loss):
    name: str = "squared"

    def value(self, z, y):
        r = z - y
        return 0.5 * float(r @ r)

    def gradient(self, z, y):
        return z - y

    def conjugate(self, lam, y):
        return float(lam @ y + 0.5 * lam @ lam)

    def perturbation_bound(self, z, y, e):
        """sum_i |z_i - y_i| e_i + ||e||^2 / 2, which bounds |L(z + delta) - L(z)|."""
        return float(np.abs(z - y) @ e + 0.5 * (e @ e))

    def cvxpy(self, z, y):
        import cvxpy as cp

        return 0.5 * cp.sum_squares(z - y)


@dataclass(frozen=True)
class HingeLoss(Loss):
    name: str = "hinge"
    needs_pm1_labels: bool = True

    def value(self, z, y):
        return float(np.maximum(0.0, 1.0 - y * z).sum())

    def gradient(self, z, y):
        # a subgradient: -y where the margin is violated
        return np.where(y * z < 1.0, -y, 0.0)

    def conjugate(self, lam, y):
        alpha = -lam * y  # lam_i = -y_i alpha_i with alpha_i in [0, 1]
        if np.any(alpha < -1e-12) or np.any(alpha > 1 + 1e-12):
            return np.inf
        return float(-np.clip(alpha, 0, 1).sum())

    def cvxpy(self, z, y):
        import cvxpy as cp

        return cp.sum(cp.pos(1 - cp.multiply(y, z)))


@dataclass(frozen=True)
class LogisticLoss(Loss):
    name: str = "logistic"
    needs_pm1_labels: bool = True
    needs_exp_cone: bool = True

    def value(self, z, y):
        return float(np.logaddexp(0.0, -y * z).sum())

    def gradient(self, z, y):
        return -y * _sigmoid(-y * z)

    def conjugate(self, lam, y):
        p = -lam * y  # lam_i = -y_i p_i with p_i in [0, 1]
        if np.any(p < -1e-12) or np.any(p > 1 + 1e-12):
            return np.inf
        p = np.clip(p, 0.0, 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            ent = np.where(p > 0, p * np.log(p), 0.0) + np.where(p < 1, (1 - p) * np.log1p(-p), 0.0)
        return float(ent.sum())

    def cvxpy(self, z, y):
        import cvxpy as cp

        return cp.sum(cp.logistic(-cp.multiply(y, z)))


def _sigmoid(t: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -t))


LOSS_FUNCTIONS: dict[str, Loss] = {
    loss.name: loss for loss in (SquaredLoss(), HingeLoss(), LogisticLoss())
}  # keyed in the order of convexbench.names.LOSSES (tests/test_names.py checks)


def get_loss(name: str) -> Loss:
    """The loss called ``name``; a :class:`UserError` for an unknown name."""
    try:
        return LOSS_FUNCTIONS[name]
    except KeyError:
        raise UserError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}") from None

"""The non-convex networks the convex programs are equivalent to (MATH.md §2-3).

The networks evaluate predictions and their own regularized training objective in numpy, so
that a reconstructed network can be checked independently of the convex program it came from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from convexbench.losses import Loss

FORMS = ("A", "B", "C")
FORM_LABELS = {
    "A": "constrained (||W1||_F <= 1, weight decay on w2, w3): equivalent",
    "B": "cubic (beta/3 sum of cubed norms): equivalent",
    "C": "plain weight decay on all layers: NOT equivalent",
}


def relu(t: np.ndarray) -> np.ndarray:
    return np.maximum(t, 0.0)


@dataclass(frozen=True)
class TwoLayerNetwork:
    """f(X) = relu(X U) a with ``U`` of shape (d, m) and ``a`` of shape (m,)."""

    U: np.ndarray
    a: np.ndarray

    @property
    def width(self) -> int:
        return int(self.a.shape[0])

    def predict(self, X: np.ndarray) -> np.ndarray:
        return relu(X @ self.U) @ self.a

    def penalty(self, beta: float) -> float:
        """Standard weight decay ``beta/2 (||U||_F^2 + ||a||^2)``."""
        return 0.5 * beta * float(np.sum(self.U**2) + np.sum(self.a**2))

    def objective(self, X: np.ndarray, y: np.ndarray, beta: float, loss: Loss) -> float:
        return loss.value(self.predict(X), y) + self.penalty(beta)


@dataclass(frozen=True)
class GatedNetwork:
    """f(X) = sum_j 1[X g_j >= 0] * (X u_j) a_j with fixed gates g_j (columns of ``gates``).

    On the training data the gates are the program's patterns (``train_masks``, n x m);
    ``gates`` (d x m) extends them to new data and may be None when the patterns were given
    without directions.  With weight decay its optimum is the gated2 convex optimum
    (MATH.md §2).
    """

    U: np.ndarray  # (d, m)
    a: np.ndarray  # (m,)
    train_masks: np.ndarray  # (n, m) 0/1 gates on the training data
    gates: np.ndarray | None = None

    @property
    def width(self) -> int:
        return int(self.a.shape[0])

    def predict(self, X: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
        if masks is None:
            if self.gates is None:
                raise ValueError("this gated network has no gate vectors for new data")
            masks = (X @ self.gates >= 0).astype(float)
        return (masks * (X @ self.U)) @ self.a

    def penalty(self, beta: float) -> float:
        """Standard weight decay ``beta/2 (||U||_F^2 + ||a||^2)``."""
        return 0.5 * beta * float(np.sum(self.U**2) + np.sum(self.a**2))

    def objective(self, X: np.ndarray, y: np.ndarray, beta: float, loss: Loss) -> float:
        """Training objective on the training data ``X`` (gated by ``train_masks``)."""
        return loss.value(self.predict(X, masks=self.train_masks), y) + self.penalty(beta)


@dataclass(frozen=True)
class ThreeLayerNetwork:
    """K parallel sub-networks: f(X) = sum_k relu(relu(X W1[k]) w2[k]) w3[k].

    Shapes: ``W1`` (K, d, m1), ``w2`` (K, m1), ``w3`` (K,).
    """

    W1: np.ndarray
    w2: np.ndarray
    w3: np.ndarray

    @property
    def n_subnetworks(self) -> int:
        return int(self.w3.shape[0])

    def hidden(self, X: np.ndarray) -> np.ndarray:
        """Second-layer outputs, shape (n, K)."""
        K, d, m1 = self.W1.shape
        first = relu((X @ self.W1.transpose(1, 0, 2).reshape(d, K * m1)).reshape(-1, K, m1))
        return relu(np.einsum("nkm,km->nk", first, self.w2))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.hidden(X) @ self.w3

    def penalty(self, beta: float, form: str = "A") -> float:
        """Regularizer of form A, B or C (MATH.md §3); form A's norm bound is not included."""
        n1 = np.sqrt(np.sum(self.W1**2, axis=(1, 2)))
        n2 = np.sqrt(np.sum(self.w2**2, axis=1))
        n3 = np.abs(self.w3)
        if form == "A":
            return 0.5 * beta * float(np.sum(n2**2 + n3**2))
        if form == "B":
            return beta / 3.0 * float(np.sum(n1**3 + n2**3 + n3**3))
        if form == "C":
            return 0.5 * beta * float(np.sum(n1**2 + n2**2 + n3**2))
        raise ValueError(f"unknown form {form!r}")

    def form_a_violation(self) -> float:
        """How far the constraint ``||W1[k]||_F <= 1`` of form A is violated (0 if it holds)."""
        n1 = np.sqrt(np.sum(self.W1**2, axis=(1, 2)))
        return float(np.max(n1 - 1.0, initial=0.0))

    def objective(
        self, X: np.ndarray, y: np.ndarray, beta: float, loss: Loss, form: str = "A"
    ) -> float:
        return loss.value(self.predict(X), y) + self.penalty(beta, form)

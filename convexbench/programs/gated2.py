"""Two-layer gated ReLU network: an unconstrained group lasso (MATH.md §2)."""

from __future__ import annotations

import cvxpy as cp
import numpy as np

from convexbench.losses import Loss
from convexbench.networks import GatedNetwork
from convexbench.programs.base import Solution
from convexbench.programs.relu2 import TwoLayerPatternProgram


class GatedRelu2Program(TwoLayerPatternProgram):
    """min L(sum_i D_i X u_i, y) + beta sum_i ||u_i||: the gated ReLU relaxation."""

    model = "gated2"

    def __init__(
        self, X, y, patterns, beta, loss: str | Loss = "squared", gates: np.ndarray | None = None
    ):
        super().__init__(X, y, patterns, beta, loss, directions=gates)

    @property
    def gates(self) -> np.ndarray | None:
        """(P, d) the patterns' generating directions, if known: the network's gates."""
        return self.directions

    def block_shapes(self):
        return {"U": (self.n_groups, self.d)}

    def size(self):
        return {"variables": self.n_groups * self.d, "soc_cones": self.n_groups, "linear_rows": 0}

    def predict(self, solution: Solution) -> np.ndarray:
        return self._masked_products(solution["U"])

    def group_norms(self, solution):
        return np.linalg.norm(solution["U"], axis=1)

    def dual_pricing(self, lam):
        G = (self.masks * lam[:, None]).T @ self.X
        return float(np.linalg.norm(G, axis=1).max(initial=0.0))

    def _build_cvxpy(self):
        U = cp.Variable((self.d, self.n_groups), name="U")
        prediction = cp.sum(cp.multiply(self.masks, self.X @ U), axis=1)
        loss_term, margin = self._loss_term(prediction)
        objective = loss_term + self.beta * cp.sum(cp.norm(U, 2, axis=0))
        return self._model(objective, [], margin, {"U": U}, prediction)

    def reconstruct(self, solution: Solution, rel_tol: float = 0.0) -> GatedNetwork:
        U = solution["U"]
        norms = np.linalg.norm(U, axis=1)
        keep = norms > rel_tol * float(norms.max(initial=0.0))
        if not np.any(keep):
            keep[:1] = True
        root = np.sqrt(norms[keep])
        safe = np.where(root > 0, root, 1.0)
        return GatedNetwork(
            U=(U[keep] / safe[:, None]).T,
            a=root,
            train_masks=self.masks[:, keep],
            gates=None if self.gates is None else self.gates[keep].T,
        )

    def nonconvex_objective(self, network: GatedNetwork) -> float:
        return network.objective(self.X, self.y, self.beta, self.loss)

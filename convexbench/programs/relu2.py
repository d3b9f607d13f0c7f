"""Two-layer ReLU network as a cone-constrained group lasso (MATH.md §2)."""

from __future__ import annotations

import cvxpy as cp
import numpy as np

from convexbench.errors import UserError
from convexbench.losses import Loss
from convexbench.networks import TwoLayerNetwork
from convexbench.programs.base import ConvexProgram, Solution
from convexbench.programs.cones import max_cone_support


class TwoLayerPatternProgram(ConvexProgram):
    """Shared parts of the two-layer programs: data, patterns (P, n) bool, masks."""

    def __init__(self, X, y, patterns: np.ndarray, beta: float, loss: str | Loss = "squared",
                 directions: np.ndarray | None = None):
        super().__init__(X, y, beta, loss)
        patterns = np.asarray(patterns, dtype=bool)
        if patterns.ndim != 2 or patterns.shape[1] != self.n:
            raise UserError(f"patterns must have shape (P, n={self.n}), got {patterns.shape}")
        nonzero = patterns.any(axis=1)  # the all-zero pattern contributes nothing
        patterns = patterns[nonzero]
        if len(patterns) == 0:
            raise UserError("no non-zero sign pattern to build the program on")
        self.patterns = patterns
        self.masks = patterns.T.astype(float)  # (n, P)
        # (P, d) a generating direction u of each pattern (D = 1[X u >= 0]), if known: gated
        # networks use them as gates on new data, the native solver as points of relu2's
        # cones (lower bounds on prices)
        self.directions = (None if directions is None
                           else np.asarray(directions, dtype=float)[nonzero])

    @property
    def n_groups(self) -> int:
        return int(self.patterns.shape[0])

    def _masked_products(self, B: np.ndarray) -> np.ndarray:
        """sum_i D_i X b_i for blocks B of shape (P, d)."""
        return np.einsum("np,np->n", self.masks, self.X @ B.T)

    def _from_variable_layout(self, name, value):
        return value.T  # cvxpy variables are (d, P); solutions are (P, d)


class Relu2Program(TwoLayerPatternProgram):
    """min L(sum_i D_i X (v_i - w_i), y) + beta sum_i ||v_i|| + ||w_i||, cone constrained."""

    model = "relu2"

    def block_shapes(self):
        return {"V": (self.n_groups, self.d), "W": (self.n_groups, self.d)}

    def size(self):
        P, d, n = self.n_groups, self.d, self.n
        return {"variables": 2 * P * d, "soc_cones": 2 * P, "linear_rows": 2 * P * n}

    def predict(self, solution: Solution) -> np.ndarray:
        return self._masked_products(solution["V"] - solution["W"])

    def group_norms(self, solution):
        return np.concatenate(
            [np.linalg.norm(solution["V"], axis=1), np.linalg.norm(solution["W"], axis=1)]
        )

    def violation_rows(self, solution):
        signs = 2.0 * self.masks - 1.0
        total = np.zeros(self.n)
        for name in ("V", "W"):
            total += np.maximum(-signs * (self.X @ solution[name].T), 0.0).sum(axis=1)
        return total

    def cone_violation(self, solution):
        signs = 2.0 * self.masks - 1.0
        worst = 0.0
        for name in ("V", "W"):
            worst = max(worst, float(np.max(-signs * (self.X @ solution[name].T), initial=0.0)))
        return worst

    def dual_pricing(self, lam):
        G = (self.masks * lam[:, None]).T @ self.X  # (P, d): X^T D_i lam
        signs = 2.0 * self.masks - 1.0
        rows = _LazyConeRows(self.X, signs)
        return max(max_cone_support(G, rows), max_cone_support(-G, rows))

    def _build_cvxpy(self):
        P, d = self.n_groups, self.d
        V = cp.Variable((d, P), name="V")
        W = cp.Variable((d, P), name="W")
        signs = 2.0 * self.masks - 1.0
        XV, XW = self.X @ V, self.X @ W
        prediction = cp.sum(cp.multiply(self.masks, XV - XW), axis=1)
        loss_term, margin = self._loss_term(prediction)
        objective = loss_term + self.beta * (
            cp.sum(cp.norm(V, 2, axis=0)) + cp.sum(cp.norm(W, 2, axis=0))
        )
        constraints = [cp.multiply(signs, XV) >= 0, cp.multiply(signs, XW) >= 0]
        return self._model(objective, constraints, margin, {"V": V, "W": W}, prediction)

    def reconstruct(self, solution: Solution, rel_tol: float = 0.0) -> TwoLayerNetwork:
        """One neuron per nonzero block: u = v/sqrt(||v||), a = +-sqrt(||v||)."""
        units, weights = [], []
        norms = self.group_norms(solution)
        cut = rel_tol * float(norms.max(initial=0.0))
        for blocks, sign in ((solution["V"], 1.0), (solution["W"], -1.0)):
            bn = np.linalg.norm(blocks, axis=1)
            keep = bn > cut
            if not np.any(keep):
                continue
            root = np.sqrt(bn[keep])
            units.append(blocks[keep] / root[:, None])
            weights.append(sign * root)
        if not units:
            return TwoLayerNetwork(U=np.zeros((self.d, 1)), a=np.zeros(1))
        return TwoLayerNetwork(U=np.concatenate(units).T, a=np.concatenate(weights))

    def nonconvex_objective(self, network: TwoLayerNetwork) -> float:
        return network.objective(self.X, self.y, self.beta, self.loss)

    def from_network(self, network: TwoLayerNetwork) -> Solution:
        """Convex variables of a network whose neuron patterns are among the program's."""
        return two_layer_blocks(network, self.X, self.patterns, gated=False)


class _LazyConeRows:
    """cone_rows[i] = diag(signs[:, i]) X, built only for the groups that get projected."""

    def __init__(self, X: np.ndarray, signs: np.ndarray):
        self.X, self.signs = X, signs

    def __getitem__(self, i):
        return self.signs[:, i][:, None] * self.X


def two_layer_blocks(
    network: TwoLayerNetwork, X: np.ndarray, patterns: np.ndarray, gated: bool
) -> Solution:
    """Map neurons (u_j, a_j) to blocks a_j u_j on the pattern 1[X u_j >= 0].

    The prediction is kept exactly and the penalty does not increase (it is equal for a
    balanced network, ||u_j|| = |a_j|, with distinct patterns).
    """
    index = {p.tobytes(): i for i, p in enumerate(np.asarray(patterns, dtype=bool))}
    P, d = len(patterns), X.shape[1]
    V, W = np.zeros((P, d)), np.zeros((P, d))
    for u, a in zip(network.U.T, network.a, strict=True):
        pattern = X @ u >= 0
        if a == 0 or not np.any(u) or not pattern.any():
            continue  # a neuron that contributes nothing
        key = pattern.tobytes()
        if key not in index:
            raise ValueError("a neuron's sign pattern is not among the program's patterns")
        i = index[key]
        if a > 0:
            V[i] += a * u
        else:
            W[i] += -a * u
    if gated:
        return {"U": V - W}
    return {"V": V, "W": W}

"""The shared interface of the convex programs.

A program holds the data (X, y), the regularization weight ``beta``, the loss and its groups
(sign patterns or atoms).  A *solution* is a dict of named numpy arrays (the program's
blocks, see ``block_shapes``); every backend, cvxpy-based or native, returns one.  Everything
the certificates need (predictions, penalty, cone violation, dual pricing) is computed here in
numpy, independently of any solver.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import cvxpy as cp
import numpy as np

from convexbench.arrays import check_data
from convexbench.errors import UserError
from convexbench.losses import Loss, get_loss

Solution = dict[str, np.ndarray]
DUAL_HINT = "dual_hint"  # optional solution entry: a candidate dual direction (length n)


@dataclass
class CvxpyModel:
    """A built cvxpy problem with the variables that hold the solution blocks."""

    problem: cp.Problem
    variables: dict[str, cp.Variable]
    prediction: cp.Expression
    build_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


class ConvexProgram:
    """Base class of the convex programs (relu2, gated2, relu3)."""

    model: str = "base"
    exact_groups: bool = False  # True when the groups are every pattern/atom of the data

    def __init__(self, X: np.ndarray, y: np.ndarray, beta: float, loss: str | Loss = "squared"):
        self.X, self.y = check_data(X, y)
        if not np.isfinite(beta) or beta <= 0:
            raise UserError(f"beta must be a positive number, got {beta}")
        self.beta = float(beta)
        self.loss = get_loss(loss) if isinstance(loss, str) else loss
        self.loss.check_labels(self.y)

    # -- sizes ---------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    @property
    def d(self) -> int:
        return int(self.X.shape[1])

    @property
    def n_groups(self) -> int:
        """Number of patterns (two-layer) or atoms (three-layer)."""
        raise NotImplementedError

    def block_shapes(self) -> dict[str, tuple[int, ...]]:
        raise NotImplementedError

    def zero_solution(self) -> Solution:
        return {k: np.zeros(s) for k, s in self.block_shapes().items()}

    def size(self) -> dict[str, int]:
        """Variables, second-order cones and linear inequality rows of the conic program."""
        raise NotImplementedError

    # -- numpy evaluation ----------------------------------------------------------------
    def predict(self, solution: Solution) -> np.ndarray:
        """Training predictions of the convex model (length n)."""
        raise NotImplementedError

    def penalty(self, solution: Solution) -> float:
        """``beta`` times the group-l1 norm of the solution."""
        return self.beta * float(self.group_norms(solution).sum())

    def group_norms(self, solution: Solution) -> np.ndarray:
        """The Euclidean norm of every block (the groups of the group-l1 penalty)."""
        raise NotImplementedError

    def objective(self, solution: Solution) -> float:
        return self.loss.value(self.predict(solution), self.y) + self.penalty(solution)

    def cone_violation(self, solution: Solution) -> float:
        """Largest violation of the cone constraints (0 for a feasible point)."""
        return float(np.max(self.violation_rows(solution), initial=0.0))

    def violation_rows(self, solution: Solution) -> np.ndarray:
        """Per sample, the cone-constraint violations that involve it, summed over groups
        (length n; 0 for a feasible point).

        It bounds how far the reconstructed network's prediction can be from the convex
        prediction: a violated row lets a ReLU's true pattern differ from the group's pattern
        by at most the violation, and ReLUs are 1-Lipschitz.
        """
        return np.zeros(self.n)

    def n_active(self, solution: Solution, rel_tol: float = 1e-6) -> int:
        """Nonzero groups: norm above ``rel_tol`` times the largest group norm."""
        norms = self.group_norms(solution)
        top = float(norms.max(initial=0.0))
        return int(np.sum(norms > rel_tol * top)) if top > 0 else 0

    # -- duality -------------------------------------------------------------------------
    pricing_exact: bool = True

    def dual_pricing(self, lam: np.ndarray) -> float:
        """An upper bound on max_groups max_{u in unit ball of the group, feasible} |lam^T A u|.

        ``lam / max(1, price/beta)`` is then dual feasible.  ``pricing_exact`` says whether the
        bound is the exact maximum (a tight certificate) or a relaxation (a valid but possibly
        loose one).
        """
        raise NotImplementedError

    # -- cvxpy ---------------------------------------------------------------------------
    def build_cvxpy(self) -> CvxpyModel:
        """Build the conic program in cvxpy, vectorized (no Python loop over groups)."""
        start = time.perf_counter()
        model = self._build_cvxpy()
        model.build_seconds = time.perf_counter() - start
        return model

    def _build_cvxpy(self) -> CvxpyModel:
        raise NotImplementedError

    def _loss_term(self, prediction: cp.Expression) -> tuple[cp.Expression, cp.Constraint | None]:
        """The loss in cvxpy and, for the hinge loss, its margin constraint (else None).

        The hinge loss is written with explicit slacks so that the multipliers of its margin
        constraints give a dual hint (checked independently): ``_build_cvxpy`` adds the
        constraint to the problem and passes it on with :meth:`_model`."""
        if self.loss.name != "hinge":
            return self.loss.cvxpy(prediction, self.y), None
        slack = cp.Variable(self.n, nonneg=True, name="hinge_slack")
        return cp.sum(slack), slack >= 1 - cp.multiply(self.y, prediction)

    @staticmethod
    def _model(objective: cp.Expression, constraints: list, margin: cp.Constraint | None,
               variables: dict[str, cp.Variable], prediction: cp.Expression) -> CvxpyModel:
        """The minimization of ``objective`` under ``constraints`` and the hinge ``margin``
        (when there is one), recorded as ``extra["hinge_margin"]``."""
        if margin is not None:
            constraints = [*constraints, margin]
        return CvxpyModel(cp.Problem(cp.Minimize(objective), constraints), variables,
                          prediction, extra={"hinge_margin": margin})

    def solution_from_cvxpy(self, model: CvxpyModel) -> Solution:
        out = {}
        margin = model.extra.get("hinge_margin")
        if margin is not None and margin.dual_value is not None:
            alpha = np.clip(np.asarray(margin.dual_value, dtype=float), 0.0, 1.0)
            out[DUAL_HINT] = -self.y * alpha
        for name, var in model.variables.items():
            value = var.value
            if value is None:
                value = np.full(var.shape, np.nan)
            out[name] = self._from_variable_layout(name, np.asarray(value, dtype=float))
        return out

    def _from_variable_layout(self, name: str, value: np.ndarray) -> np.ndarray:
        return value

    # -- the non-convex network ----------------------------------------------------------
    def reconstruct(self, solution: Solution, **kwargs):
        """The non-convex network whose objective equals this solution's objective."""
        raise NotImplementedError

    def nonconvex_objective(self, network) -> float:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "loss": self.loss.name,
            "n": self.n,
            "d": self.d,
            "beta": self.beta,
            "n_patterns": self.n_groups,
        }

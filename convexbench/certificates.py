"""Independent certificates for a convex-program solution (MATH.md §2).

Everything here is computed in numpy from the returned primal point and the program's data,
never from a solver's status or reported objective:

* the objective, recomputed;
* the largest cone-constraint violation;
* a dual-feasible point obtained by scaling the loss gradient at the primal predictions into
  the dual feasible set, and the resulting optimality gap (primal minus dual >= 0).

The gap is *exact* (tends to 0 at the optimum) when the program prices groups exactly
(``program.pricing_exact``: gated and two-layer ReLU); otherwise it is a valid but possibly
loose upper bound.  With all patterns of the data (exact enumeration) a small exact gap
certifies global optimality of the non-convex training problem itself.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import minimize_scalar

from convexbench.losses import Loss
from convexbench.programs.base import DUAL_HINT, ConvexProgram, Solution


@dataclass(frozen=True)
class Certificate:
    objective: float
    dual_value: float
    gap: float
    relative_gap: float
    gap_exact: bool
    max_violation: float
    relative_violation: float
    finite: bool

    def holds(self, tol: float) -> bool:
        """Primal feasible and, where the gap is exact, optimal to relative tolerance ``tol``."""
        if not self.finite or self.relative_violation > tol:
            return False
        return self.relative_gap <= tol if self.gap_exact else True

    def as_dict(self) -> dict:
        return asdict(self)


def dual_value(program: ConvexProgram, direction: np.ndarray) -> float:
    """The best dual objective -L*(t * direction) over the dual-feasible scalings t >= 0."""
    price = program.dual_pricing(direction)
    return scaled_dual_value(program.loss, program.y, program.beta, direction, price)


def scaled_dual_value(loss: Loss, y: np.ndarray, beta: float, direction: np.ndarray,
                      price: float) -> float:
    """max over t in [0, beta / price] of -L*(t * direction), where ``price`` is (an upper
    bound on) the largest group price of ``direction``; any such t is dual feasible."""
    t_max = beta / price if price > 0 else np.inf
    if loss.name == "squared":
        nrm2 = float(direction @ direction)
        if nrm2 == 0:
            return 0.0
        t = float(np.clip(-(direction @ y) / nrm2, 0.0, t_max))
        return -loss.conjugate(t * direction, y)
    # hinge / logistic: lam_i = -y_i p_i with p_i in [0, 1]
    p = -direction * y
    if np.any(p < -1e-12):
        return 0.0
    p_max = float(p.max(initial=0.0))
    if p_max <= 0:
        return 0.0
    t_max = min(t_max, 1.0 / p_max)
    result = minimize_scalar(
        lambda t: loss.conjugate(t * direction, y),
        bounds=(0.0, t_max),
        method="bounded",
        options={"xatol": 1e-12 * max(t_max, 1.0)},
    )
    best = -float(result.fun)
    return max(best, -loss.conjugate(t_max * direction, y), 0.0)


def default_dual_direction(program: ConvexProgram, z: np.ndarray) -> np.ndarray:
    """The loss gradient at the predictions z (for hinge: a subgradient)."""
    if program.loss.name == "hinge":
        # without a dual hint: a subgradient, exact at margins strictly on either side of 1
        # (the gap is then valid but may stay positive at the optimum)
        margin = program.y * z
        alpha = np.clip((1.0 - margin) * 1e6 + 0.5, 0.0, 1.0)
        return -program.y * alpha
    return program.loss.gradient(z, program.y)


def certify(
    program: ConvexProgram, solution: Solution, dual_direction: np.ndarray | None = None
) -> Certificate:
    """Recompute objective, feasibility and an optimality gap for ``solution``."""
    if dual_direction is None:
        dual_direction = solution.get(DUAL_HINT)
    finite = all(np.all(np.isfinite(block)) for block in solution.values())
    if not finite:
        nan = float("nan")
        return Certificate(nan, nan, nan, nan, program.pricing_exact, nan, nan, False)
    z = program.predict(solution)
    objective = program.loss.value(z, program.y) + program.penalty(solution)
    direction = default_dual_direction(program, z) if dual_direction is None else dual_direction
    dual = dual_value(program, direction)
    gap = max(objective - dual, 0.0)
    violation = program.cone_violation(solution)
    scale = max(1.0, float(np.max(np.abs(program.y))))
    return Certificate(
        objective=objective,
        dual_value=dual,
        gap=gap,
        relative_gap=gap / max(abs(objective), 1e-12),
        gap_exact=program.pricing_exact,
        max_violation=violation,
        relative_violation=violation / scale,
        finite=True,
    )

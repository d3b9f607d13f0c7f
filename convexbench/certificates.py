"""Independent certificates for a convex-program solution (MATH.md §2).

Everything here is computed in numpy from the returned primal point and the program's data,
never from a solver's status or reported objective:

* the objective, recomputed;
* the largest cone-constraint violation;
* a bound on how far the cone violations can move the objective of the reconstructed
  network (``relative_violation``);
* a dual-feasible point obtained by scaling the loss gradient at the primal predictions into
  the dual feasible set, and the resulting optimality gap (primal minus dual; negative only
  for an infeasible point, and then reported, never clipped).

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
from convexbench.programs.scaling import unit_factor, unit_scaled


@dataclass(frozen=True)
class Certificate:
    """What the numpy check found.  Every relative quantity is divided by the objective
    itself (no floor), so it is invariant under the programs' scaling laws (see
    :func:`certify`)."""

    objective: float
    dual_value: float
    gap: float  # objective - dual_value, signed: below 0 only for an infeasible point
    relative_gap: float  # gap / objective
    gap_exact: bool
    max_violation: float  # the largest single cone-row violation (absolute, informative)
    relative_violation: float  # bound on |network objective - objective|, / objective
    finite: bool

    def holds(self, tol: float) -> bool:
        """Feasible and optimal to relative tolerance ``tol`` (see :func:`failure`)."""
        return self.failure(tol) is None

    def failure(self, tol: float) -> str | None:
        """Why the point is not verified at ``tol``, or None when it is."""
        if not self.finite:
            return "non-finite solution"
        return failure(self.relative_gap, self.relative_violation, tol, self.gap_exact)

    def as_dict(self) -> dict:
        return asdict(self)


def relative_to(value: float, objective: float) -> float:
    """``value / objective``; 0 for 0 / 0 and inf for x / 0 (an objective of 0 is only
    reached by an exact fit with a zero solution)."""
    if objective > 0:
        return value / objective
    return 0.0 if value == 0 else np.inf


def failure(relative_gap: float, relative_violation: float, tol: float,
            gap_exact: bool = True) -> str | None:
    """The one verification rule, shared by the certificate and the native stopping test.

    * ``relative_violation <= tol``: the reconstructed network's objective is within
      ``tol`` (relative) of the convex objective;
    * ``relative_gap >= -tol``: an objective below the dual lower bound is only possible
      for an infeasible point, so it is reported, never clipped to a zero gap;
    * with exact pricing, ``relative_gap + relative_violation <= tol``: then the network's
      objective is within ``tol`` of the optimum over the program's groups.
    """
    if not (relative_violation <= tol):
        return f"cone violation {relative_violation:.1e} (relative) above {tol:g}"
    if not (relative_gap >= -tol):
        return (f"infeasible: objective below the dual lower bound by {-relative_gap:.1e} "
                f"(relative)")
    if gap_exact and not (relative_gap + relative_violation <= tol):
        return f"gap {relative_gap:.1e} + violation {relative_violation:.1e} above {tol:g}"
    return None


def relative_violation(loss: Loss, z: np.ndarray, y: np.ndarray, objective: float,
                       violation_rows: np.ndarray) -> float:
    """How far the cone violations ``violation_rows`` (per sample, see
    ``ConvexProgram.violation_rows``) can move the objective, relative to it."""
    return relative_to(loss.perturbation_bound(z, y, violation_rows), objective)


def dual_value(program: ConvexProgram, direction: np.ndarray) -> float:
    """The best dual objective -L*(t * direction) over the dual-feasible scalings t >= 0."""
    return scaled_dual_value(program.loss, program.y, program.beta, direction,
                             unit_price(program, direction))


def unit_price(program: ConvexProgram, direction: np.ndarray) -> float:
    """``program.dual_pricing(direction)``, computed on data of about unit size (powers of
    two, see ``programs.scaling.unit_factor``): the price is homogeneous of degree one in X
    and in the direction, and the pricing subproblems (NNLS, SOCPs) have absolute tolerances
    that should not see the data's scale."""
    size = float(np.max(np.abs(direction), initial=0.0))
    if size == 0 or not np.isfinite(size):
        return 0.0 if size == 0 else np.inf
    scaled, a, _ = unit_scaled(program)
    f = unit_factor(size)
    return scaled.dual_pricing(direction / f) * f * a


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
    """Recompute objective, feasibility and an optimality gap for ``solution``.

    Scaling laws (MATH.md §2-3; the verdict is invariant under them): for the squared loss,
    (X, y, beta) -> (a X, c y, a c beta) maps the solution w -> (c / a) w, the predictions
    to c z, the objective to c^2 f, the cone violations to c times theirs and the dual value
    to c^2 times its own (the same for relu2, gated2 and relu3: every block enters the
    predictions linearly through X).  For hinge and logistic (labels fixed at +-1),
    (X, beta) -> (a X, a beta) maps w -> w / a and leaves predictions and objective unchanged.
    Both the relative gap and the relative violation are ratios of quantities that scale
    alike, so they are unchanged up to rounding.
    """
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
    gap = objective - dual
    rows = program.violation_rows(solution)
    return Certificate(
        objective=objective,
        dual_value=dual,
        gap=gap,
        relative_gap=relative_to(gap, objective),
        gap_exact=program.pricing_exact,
        max_violation=program.cone_violation(solution),
        relative_violation=relative_violation(program.loss, z, program.y, objective, rows),
        finite=True,
    )

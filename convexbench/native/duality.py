"""The optimality gap of a primal point from a bound on the largest group price.

The dual value is ``convexbench.certificates.scaled_dual_value`` (MATH.md §2): the loss
gradient (or a dual hint) scaled into the dual feasible set, with ``price`` an upper bound on
the largest exact group price, so the gap computed here is never smaller than the
certificate's.
"""

from __future__ import annotations

from convexbench.certificates import relative_to, scaled_dual_value

__all__ = ["relative_gap", "scaled_dual_value"]


def relative_gap(objective: float, dual: float) -> float:
    """(objective - dual) / objective, signed as in the certificate (below 0 only for an
    infeasible point)."""
    return relative_to(objective - dual, objective)

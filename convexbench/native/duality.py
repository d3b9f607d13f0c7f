"""The optimality gap of a primal point from a bound on the largest group price.

Same construction as ``convexbench.certificates`` (MATH.md §2): the residual direction scaled
into the dual feasible set, with ``price`` an upper bound on the largest exact group price, so
the gap returned here is never smaller than the certificate's.
"""

from __future__ import annotations

import numpy as np


def squared_dual_value(z: np.ndarray, y: np.ndarray, beta: float, price: float) -> float:
    """max over t in [0, beta / price] of -L*(t (z - y)) for the squared loss."""
    direction = z - y
    nrm2 = float(direction @ direction)
    if nrm2 == 0:
        return 0.0
    t_max = beta / price if price > 0 else np.inf
    t = float(np.clip(-(direction @ y) / nrm2, 0.0, t_max))
    lam = t * direction
    return -float(lam @ y + 0.5 * lam @ lam)


def relative_gap(objective: float, dual: float) -> float:
    return max(objective - dual, 0.0) / max(abs(objective), 1e-12)

"""A feasible point near a restricted one, for runs stopped by their time limit.

A restricted optimum of the working set satisfies the cone rows of its working set only;
the rows outside it may be violated, so the point is not feasible for the full program and a
time-limited relu2 run used to return zero (relative gap ~1).  Here each column, largest
first, is replaced by its projection onto its cone (``ColumnFamily.project``: one NNLS,
``programs/cones.cone_price``), then the columns are rescaled, t_c >= 0, to lower the
objective: the best common scale, then a few passes of exact one-column minimizations
(projection leaves the cones, and scalings keep them).  Projections are not started past
``until``, and one still running then is interrupted: the columns left are set to zero,
which is always feasible.
"""

from __future__ import annotations

import time

import numpy as np

from convexbench.losses import Loss
from convexbench.native.deadline import Deadline, DeadlineExpired
from convexbench.native.families import ColumnFamily

REPAIR_SHARE = 0.5  # of the time limit's allowance, max(2 s, 0.1 T), the repair may use
_BISECTIONS = 60
_SCALE_PASSES = 3  # coordinate passes over the columns' scales


def repair_seconds(time_limit: float) -> float:
    """How long past a time limit of ``time_limit`` seconds the repair may run."""
    return REPAIR_SHARE * max(2.0, 0.1 * time_limit)


def feasible_near(fam: ColumnFamily, loss: Loss, y: np.ndarray, beta: float,
                  cols: np.ndarray, x: np.ndarray, until: float) -> np.ndarray | None:
    """``x`` (k, m d) made feasible as in the module docstring; None when the family has no
    projection (three-layer programs)."""
    if not fam.has_projection:
        return None
    out = np.zeros_like(x)
    slowest = fam.slowest_price  # a projection is the NNLS of an exact price
    stop = Deadline(until)
    norms = fam.column_norms(x)
    for i in np.argsort(-norms)[:int(np.count_nonzero(norms))]:  # zero columns stay zero
        began = time.perf_counter()
        if began + slowest > until:
            break
        try:
            out[i] = fam.project(int(cols[i]), x[i], stop)
        except DeadlineExpired:  # the NNLS reads the clock: this column stays zero
            break
        slowest = max(slowest, time.perf_counter() - began)
    return out * column_scales(fam, loss, y, beta, cols, out, until)[:, None]


def column_scales(fam: ColumnFamily, loss: Loss, y: np.ndarray, beta: float,
                  cols: np.ndarray, x: np.ndarray, until: float = np.inf) -> np.ndarray:
    """Scales t >= 0 of the columns of ``x`` that lower loss(sum_c t_c z_c) + beta sum_c
    t_c ||x_c|| (z_c the columns' predictions): the best common scale, then up to
    ``_SCALE_PASSES`` passes of exact minimization over one t_c at a time (none started
    past ``until``)."""
    keep = np.flatnonzero(fam.column_norms(x) > 0)
    t = np.zeros(len(cols))
    if len(keep) == 0:
        return t
    Z = fam.column_predictions(cols[keep], x[keep])  # (k, n)
    pen = beta * fam.column_norms(x[keep])
    z = Z.sum(axis=0)
    common = best_scale(loss, y, z, float(pen.sum()))
    s = np.full(len(keep), common)
    total = common * z
    for _ in range(_SCALE_PASSES):
        for j in range(len(keep)):
            if time.perf_counter() > until:  # logistic's bisections: ~n per step
                break
            base = total - s[j] * Z[j]
            s[j] = best_scale(loss, y, Z[j], float(pen[j]), base)
            total = base + s[j] * Z[j]
    t[keep] = s
    return t


def best_scale(loss: Loss, y: np.ndarray, z: np.ndarray, penalty: float,
               base: np.ndarray | None = None) -> float:
    """argmin over t >= 0 of loss(base + t z, y) + t penalty (convex in t; base 0 by
    default): in closed form for the squared loss, else by bisection on its derivative
    z^T loss'(base + t z) + penalty."""
    base = np.zeros_like(z) if base is None else base
    if loss.name == "squared":
        zz = float(z @ z)
        return max(0.0, (float(z @ (y - base)) - penalty) / zz) if zz > 0 else 0.0

    def slope(t: float) -> float:
        return float(z @ loss.gradient(base + t * z, y)) + penalty

    if not np.any(z) or slope(0.0) >= 0.0:
        return 0.0
    hi = 1.0
    for _ in range(_BISECTIONS):
        if slope(hi) >= 0.0:
            break
        hi *= 2.0
    else:
        return hi
    lo = 0.0
    for _ in range(_BISECTIONS):
        mid = 0.5 * (lo + hi)
        if slope(mid) < 0.0:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)

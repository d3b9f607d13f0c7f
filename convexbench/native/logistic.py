"""The restricted program with the logistic loss by proximal Newton (as glmnet does).

    min_x  F(x) = sum_i log(1 + exp(-y_i (A x)_i)) + beta sum_g ||x_g||   s.t. K x >= 0

Each step minimizes the second-order model of the loss at the current point, a weighted
squared-loss restricted program (H = A^T W A, W = diag(p (1 - p)), p = sigmoid(-y A x)),
with the solvers the squared loss already has (the active-set Newton method for gated ReLU,
warm-started at the current point; the interior-point method with the selected cone rows
otherwise), then backtracks on F along the step.  Every iterate is a convex combination of
points that satisfy the selected cone rows, so it satisfies them too (a start that violates
rows selected after it was computed is replaced by the first model solution).  It stops when the
model's predicted decrease falls below ``tol`` |F| at a full step.  A status that is not ok
sends the caller to the conic form (``reduced.solve_reduced_loss``).
"""

from __future__ import annotations

import time

import numpy as np

from convexbench.losses import LogisticLoss
from convexbench.native import newton
from convexbench.native.deadline import NEVER, Deadline, DeadlineExpired
from convexbench.native.families import ColumnFamily
from convexbench.native.ipm import solve_ipm
from convexbench.native.mixed import mixed_gram
from convexbench.native.reduced import ReducedResult

_LOSS = LogisticLoss()
_ARMIJO = 1e-4
_KKT_TOL = 1e-9  # a step moving a group's gradient by more than this times beta goes on
_INNER_FLOOR = 1e-10  # the interior-point method failed numerically below it
_NEWTON_MAX_ITER = 100  # model solves by the gated Newton method (30, its default, failed
# on uci:blood gated2 at 1e-2 lambda_max with 85 groups: a 0.7 s conic fallback)


def _objective(fam: ColumnFamily, cols: np.ndarray, x: np.ndarray, y: np.ndarray,
               beta: float) -> tuple[float, np.ndarray]:
    z = fam.predict(cols, x)
    return _LOSS.value(z, y) + beta * float(fam.column_norms(x).sum()), z


def solve_restricted_logistic(
    fam: ColumnFamily, cols: np.ndarray, y: np.ndarray, beta: float, owner: np.ndarray,
    rows: np.ndarray, x0: np.ndarray, tol: float = 1e-9, time_limit: float | None = None,
    max_iter: int = 50, mixed: bool = True, deadline: Deadline | None = None,
) -> ReducedResult:
    """Solve the restricted logistic program from ``x0`` (k, m d); see the module doc.
    ``mixed``: the gated Newton method's Gram matrix in float32 (``mixed.py``).  Stops with
    ``MaxTime`` and the current iterate at the earlier of ``deadline`` and ``time_limit``
    seconds from the start, also inside a Gram build or a model solve."""
    start = time.perf_counter()
    deadline = (deadline or NEVER).sooner(time_limit, start)
    x = np.array(x0, dtype=float)
    F, z = _objective(fam, cols, x, y, beta)
    status, inner = "MaxIterations", 0
    # the model solves need not (and, below ~1e-10, cannot) be more accurate than this
    inner_tol = max(0.1 * tol, _INNER_FLOOR)
    # x0 may violate rows selected since it was computed: the first model solution (which
    # satisfies them) is then taken whole, so that every later iterate is feasible
    feasible = len(owner) == 0 or float(
        np.min(np.einsum("rj,rj->r", rows, x[owner]))) >= 0.0
    use_newton = newton.applies(fam, len(cols))
    last_kkt = np.inf  # the gradient change of the previous step (see the stopping test)
    for _ in range(max_iter):
        if deadline.expired():
            status = "MaxTime"
            break
        grad = _LOSS.gradient(z, y)  # -y sigmoid(-y z)
        p = -y * grad  # sigmoid(-y z), labels +-1
        w = p * (1.0 - p)
        # model: loss(z0) + grad^T A dx + dx^T A^T W A dx / 2 = 1/2 x^T H x - b^T x + const
        rhs = w * z - grad
        try:
            gram, b = (mixed_gram(fam, cols, rhs, weights=w, deadline=deadline)
                       if use_newton and mixed
                       else fam.gram(cols, rhs, weights=w, deadline=deadline))
        except DeadlineExpired:
            status = "MaxTime"
            break
        if use_newton:
            res = newton.solve_newton(gram, b, beta, fam.d, x, tol=inner_tol, deadline=deadline,
                                      max_iter=_NEWTON_MAX_ITER)
        else:
            res = solve_ipm(gram, b, beta, fam.m, fam.d, owner, rows, tol=inner_tol,
                            deadline=deadline)
        inner += res.iterations
        del gram
        if not res.ok:
            status = res.status
            break
        if not feasible:
            x, feasible = res.x, True
            F, z = _objective(fam, cols, x, y, beta)
            continue
        step = res.x - x
        # the model's decrease at the full step: -(grad^T A step + beta (||x_new|| - ||x||))
        Astep = fam.predict(cols, step)
        norms_now = float(fam.column_norms(x).sum())
        decrease = -(float(grad @ Astep) + beta * (float(fam.column_norms(res.x).sum())
                                                   - norms_now))
        # stop when the full step changes neither F nor, by more than _KKT_TOL beta, the
        # gradient of any group (A_g^T W A step), or no longer shrinks that change (the
        # model solves' accuracy): the outer loop's dual is the gradient, and along flat
        # directions (confident predictions, w ~ 0) F is exact long before the gradient
        # (uci:credit-approval relu2, beta = 1e-2 lambda_max: prices 1.5e-5 above beta at an
        # F exact to 1e-11, a certified gap stuck at 1.8e-6)
        moved = fam.adjoint(cols, w * Astep).reshape(len(cols), -1)
        kkt = float(np.linalg.norm(moved, axis=1).max(initial=0.0))
        if decrease <= tol * max(1.0, abs(F)) and (kkt <= _KKT_TOL * beta
                                                   or kkt > 0.5 * last_kkt):
            status = "Solved"
            break
        last_kkt = kkt
        t = 1.0
        while t > 1e-10:
            trial = x + t * step
            F_trial, z_trial = _objective(fam, cols, trial, y, beta)
            if F_trial <= F - _ARMIJO * t * decrease:
                break
            t *= 0.5
        else:
            status = "NumericalError"
            break
        x, F, z = trial, F_trial, z_trial
    return ReducedResult(x, status, inner, time.perf_counter() - start)

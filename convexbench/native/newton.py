"""A warm-started active-set Newton method for the cone-free restricted program (gated ReLU).

    min_x  f(x) = 1/2 x^T H x - b^T x + beta sum_g ||x_g||      (groups of d variables)

The interior-point method (``ipm.py``) cannot reuse the previous restricted optimum; this
method starts from it (the new columns at zero) and repeats, from the residual r = b - H x:

1. stop when the interior-point method's own measures hold at (x, t = ||x_g||, z), with
   z_g = r_g min(1, beta / ||r_g||) the dual point nearest to feasible: relative gap
   sum_g (beta ||x_g|| - x_g^T z_g) / max(1, |f|) and relative dual residual
   ||r - z|| / max(1, sqrt(||b||^2 + k beta^2)), both <= tol (the primal residual is zero);
2. bring in the zero groups that violate ||r_g|| <= beta along a proximal-gradient direction
   (step 1 / lambda_max(H_gg) per group), with the exact line search of f along it;
3. set to zero, one after another, the nonzero groups whose removal decreases f (among them
   those whose block minimizer, the others fixed, is zero: ||r_g + H_gg x_g|| <= beta);
4. one Newton step on the nonzero groups S, where f is smooth: the matrix is
   H_SS + beta blockdiag((I - w_g w_g^T) / ||x_g||), w_g = x_g / ||x_g||, factored by
   Cholesky; Armijo backtracking on f itself (differences evaluated without cancellation)
   along the projected arc that sets to zero each group the step reverses.

Every step decreases f.  On a ``PackedGram`` the Newton matrix is factored in the lower
triangle of the array that holds H, as the interior-point method does (no second N x N
array); on a ``MixedGram`` (``mixed.py``, what the working-set solver passes) likewise, in
float32, with exact products and refined solves; on a ``MatrixFreeGram`` (``gram.py``,
image-size data) by preconditioned conjugate gradients, at any width; on a ``LowRankGram``
it is a dense |S| d square, at most 2n wide, else the method gives up.  A status that is not ok
(``MaxIterations``, ``MaxTime``, ``NumericalError``, ``TooLarge``) tells the caller to fall
back to the interior-point method.
"""

from __future__ import annotations

import time

import numpy as np

from convexbench.native.deadline import NEVER, Deadline, DeadlineExpired
from convexbench.native.dense_gram import Gram
from convexbench.native.families import ColumnFamily
from convexbench.native.gram import MatrixFreeGram
from convexbench.native.mixed import MixedGram
from convexbench.native.reduced import ReducedResult

# what the method needs of H (gram.NewtonViews): size, diag, matvec, newton_width,
# diagonal_blocks, times_columns, solve_newton_system
NewtonGram = Gram | MixedGram | MatrixFreeGram

_ARMIJO = 1e-4
_MAX_BACKTRACK = 40
_RIDGES = (0.0, 1e-12, 1e-9, 1e-6, 1e-3)  # relative to the largest diagonal entry


def applies(fam: ColumnFamily, n_columns: int) -> bool:
    """Whether the restricted program of ``n_columns`` working-set columns is one for this
    method: cone-free, one block per column (gated ReLU), at most 2 n wide (a packed or mixed
    Gram matrix).  Wider working sets (``LowRankGram``) are left to the interior-point
    method: their supports mostly exceeded the 2 n wide Newton matrices allowed here (87 of
    91 restricted solves on random gated2 programs)."""
    return fam.R == 0 and fam.m == 1 and n_columns * fam.d <= 2 * fam.program.n


def kkt_error(gram: NewtonGram, Aty: np.ndarray, beta: float, d: int, x: np.ndarray
              ) -> tuple[float, float]:
    """(relative gap, relative dual residual) of ``x`` in the interior-point method's terms."""
    k = gram.size // d
    x = x.reshape(k, d)
    Hx = gram.matvec(x.ravel())
    return _measures(Aty, beta, x, (Aty - Hx).reshape(k, d), Hx)


def _measures(b, beta, x, r, Hx):
    k = x.shape[0]
    norms_x = np.linalg.norm(x, axis=1)
    norms_r = np.linalg.norm(r, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        shrink = np.where(norms_r > beta, beta / norms_r, 1.0)
    z = r * shrink[:, None]
    xf = x.ravel()
    pobj = 0.5 * float(xf @ Hx) - float(b @ xf) + beta * float(norms_x.sum())
    gap = (beta * float(norms_x.sum()) - float(np.einsum("gi,gi->", x, z))) / max(1.0, abs(pobj))
    dres = float(np.linalg.norm(r - z)) / max(1.0, np.sqrt(float(b @ b) + k * beta**2))
    return gap, dres


def solve_newton(
    gram: NewtonGram, Aty: np.ndarray, beta: float, d: int, x0: np.ndarray | None = None,
    tol: float = 1e-9, max_iter: int = 30, time_limit: float | None = None,
    deadline: Deadline | None = None,
) -> ReducedResult:
    """Solve the cone-free restricted program (module docstring) from ``x0`` (k, d) (zero if
    None); returns x (k, d) with status Solved, or the last iterate with a status that is not
    ok (``MaxTime`` at the earlier of ``deadline`` and ``time_limit`` seconds from the start,
    also from inside a factorization or a refined solve: every iterate is a valid point)."""
    start = time.perf_counter()
    deadline = (deadline or NEVER).sooner(time_limit, start)
    N = gram.size
    k = N // d
    b = np.asarray(Aty, dtype=float)
    x = np.zeros((k, d)) if x0 is None else np.array(x0, dtype=float).reshape(k, d)
    try:
        return _solve_newton(gram, b, beta, d, x, tol, max_iter, deadline, start)
    except DeadlineExpired:
        return ReducedResult(x, "MaxTime", 0, time.perf_counter() - start)


def _solve_newton(gram: NewtonGram, b: np.ndarray, beta: float, d: int, x: np.ndarray,
                  tol: float, max_iter: int, deadline: Deadline, start: float
                  ) -> ReducedResult:
    """The method of ``solve_newton`` on ``x`` (k, d), updated in place."""
    N = gram.size
    k = N // d
    max_side = gram.newton_width
    blocks = gram.diagonal_blocks(d, deadline)  # H_gg
    lmax = blocks.lmax
    if not np.all(np.isfinite(lmax)):
        return ReducedResult(x, "NumericalError", 0, time.perf_counter() - start)
    lmax = np.maximum(lmax, 1e-300)
    bscale = max(1.0, np.sqrt(float(b @ b) + k * beta**2))
    status = "MaxIterations"
    iterations = 0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        while True:
            Hx = gram.matvec(x.ravel())
            r = (b - Hx).reshape(k, d)
            gap, dres = _measures(b, beta, x, r, Hx)
            worst = max(gap, dres)
            if not np.isfinite(worst):
                status = "NumericalError"
                break
            if worst <= tol:
                status = "Solved"
                break
            if iterations >= max_iter:
                break
            if deadline.expired():
                status = "MaxTime"
                break
            iterations += 1
            # 2. violating zero groups (the worst ones while the room lasts): a
            # proximal-gradient direction, exact line search
            norms_x = np.linalg.norm(x, axis=1)
            norms_r = np.linalg.norm(r, axis=1)
            enter = (norms_x == 0) & (norms_r > beta)
            room = max(max_side // d - int(np.count_nonzero(norms_x)), 0)
            blocked = room == 0 and bool(np.any(enter))
            if np.count_nonzero(enter) > room:  # the most violating ones only
                worst_first = np.flatnonzero(enter)[np.argsort(-norms_r[enter])]
                enter[worst_first[room:]] = False
            if np.any(enter):
                u = np.zeros((k, d))
                u[enter] = ((norms_r[enter] - beta) / (lmax[enter] * norms_r[enter]))[:, None] \
                    * r[enter]
                Hu = gram.matvec(u.ravel()).reshape(k, d)
                num = float(np.einsum("gi,gi->", r, u)) - beta * float(
                    np.linalg.norm(u, axis=1).sum())
                den = float(np.einsum("gi,gi->", u, Hu))
                step = num / den if den > 0 else 1.0
                if not (np.isfinite(step) and step > 0):
                    status = "NumericalError"
                    break
                x += step * u
                r -= step * Hu
            # 3. nonzero groups whose removal decreases f (change x_g^T r_g
            # + x_g^T H_gg x_g / 2 - beta ||x_g|| < 0) or whose block minimizer is zero
            norms_x = np.linalg.norm(x, axis=1)
            Hgx = blocks.apply(x)
            drop = _drop_change(x, r, Hgx, norms_x, beta)
            cand = np.flatnonzero((norms_x > 0) & (
                (drop < 0) | (np.linalg.norm(r + Hgx, axis=1) <= beta)))
            if len(cand):
                cand = cand[np.argsort(drop[cand])]
                for g in cand:  # H's columns of a group only when it is dropped (memory)
                    hg = blocks.apply_one(g, x[g])
                    if (_drop_change(x[g], r[g], hg, norms_x[g], beta) < 0
                            or np.linalg.norm(r[g] + hg) <= beta):
                        r += gram.times_columns(g * d + np.arange(d), x[g]).reshape(k, d)
                        x[g] = 0.0
                dropped = np.count_nonzero(norms_x) - np.count_nonzero(np.linalg.norm(x, axis=1))
                norms_x = np.linalg.norm(x, axis=1)
            else:
                dropped = 0
            if blocked and not dropped:
                status = "TooLarge"  # violators, no room for them and none made
                break
            # 4. a Newton step on the nonzero groups
            S = np.flatnonzero(np.linalg.norm(x, axis=1) > 0)
            if len(S) == 0:
                continue  # x = 0 and no violator: the check above will stop
            if len(S) * d > max_side:
                status = "TooLarge"
                break
            idx = (S[:, None] * d + np.arange(d)).ravel()
            xs, rs = x[S], r[S]
            nx = np.linalg.norm(xs, axis=1)
            w = xs / nx[:, None]
            grad = beta * w - rs
            if float(np.linalg.norm(grad)) <= 1e-3 * tol * bscale:
                continue  # optimal on S already (e.g. one group after the step above)
            for ridge in _RIDGES:  # Levenberg-style damping where H_SS is (nearly) singular
                p = _newton_direction(gram, idx, beta / nx, w, grad, ridge, deadline)
                if p is None:
                    continue
                xp = np.einsum("gi,gi->g", xs, p)
                slope = float(np.einsum("gi,gi->", grad, p))  # f'(x; p)
                if np.isfinite(slope) and slope < 0:
                    break
            else:
                status = "NumericalError"
                break
            P = np.zeros((k, d))
            P[S] = p
            Hp = gram.matvec(P.ravel()).reshape(k, d)
            gp = -float(np.einsum("gi,gi->", rs, p))  # (H x - b)^T p
            pHp = float(np.einsum("gi,gi->", p, Hp[S]))
            pp = np.einsum("gi,gi->g", p, p)
            # Armijo along the projected arc x(a): a group whose step reverses it,
            # x_g^T (x_g + a p_g) <= 0, is set to zero there (the group analogue of an
            # orthant projection); without this a group whose optimum is zero is overshot
            # by every Newton step and the backtracking stalls short of it
            alpha, accepted = 1.0, False
            for _ in range(_MAX_BACKTRACK):
                trial_s = xs + alpha * p
                new_norms = np.linalg.norm(trial_s, axis=1)
                dnorm = (2.0 * alpha * xp + alpha**2 * pp) / (new_norms + nx)
                change = alpha * gp + 0.5 * alpha**2 * pHp + beta * float(dnorm.sum())
                target = _ARMIJO * alpha * slope
                flip = np.einsum("gi,gi->g", xs, trial_s) <= 0.0
                if np.any(flip):  # f(v - e) - f(v) = e^T (b - H v) + e^T H e / 2 - beta ||e||
                    Z = S[flip]
                    e = trial_s[flip]
                    He = gram.times_columns((Z[:, None] * d + np.arange(d)).ravel(),
                                            e.ravel()).reshape(k, d)
                    rv = r[Z] - alpha * Hp[Z]
                    projected = change + float(np.einsum("gi,gi->", e, rv + 0.5 * He[Z])) \
                        - beta * float(new_norms[flip].sum())
                    if projected <= target:
                        accepted = True
                        break
                    flip[:] = False  # else the plain step, through zero, if it is good enough
                if change <= target:
                    accepted = True
                    break
                alpha *= 0.5
            if not accepted:
                status = "NumericalError"
                break
            x[S] = trial_s
            x[S[flip]] = 0.0
            # a group driven to (numerically) zero leaves; step 3 brings it back if needed
            norms = np.linalg.norm(x, axis=1)
            x[norms <= 1e-13 * float(norms.max())] = 0.0
    return ReducedResult(x, status, iterations, time.perf_counter() - start)


def _drop_change(x, r, Hgx, norms_x, beta):
    """f(x with group g zeroed) - f(x), per group (or for one group)."""
    return (np.einsum("...i,...i->...", x, r + 0.5 * Hgx) - beta * norms_x)


def _newton_direction(gram: NewtonGram, idx: np.ndarray, c: np.ndarray, w: np.ndarray,
                      grad: np.ndarray, ridge: float, deadline: Deadline = NEVER
                      ) -> np.ndarray | None:
    """-(H_SS + blockdiag(c_g (I - w_g w_g^T)) + ridge max(1, max diag H_SS) I)^{-1} grad
    (S: the variables ``idx``, whole groups), by the Gram matrix's own Newton solve; None
    when the matrix is not numerically positive definite."""
    s, d = grad.shape
    scale = max(1.0, float(np.max(gram.diag[idx])))
    x = gram.solve_newton_system(idx[::d] // d, c, w, grad.ravel(), ridge * scale,
                                 deadline=deadline)
    if x is None or not np.all(np.isfinite(x)):
        return None
    return -x.reshape(s, d)

"""The restricted program with the hinge loss by a primal-dual interior-point method.

    min  1^T sig + beta sum_b t_b
    s.t. K x >= 0 (selected cone rows),  ||x_b|| <= t_b,  sig >= 0,  sig + y o (A x) >= 1

(labels +-1).  It is ``ipm.py``'s method (Mehrotra predictor-corrector, Nesterov-Todd
scaling) with two more blocks of nonnegative rows, the margins m and sig >= 0 (a).  The
slacks sig are eliminated from every Newton system, which leaves ``ipm.Kkt``'s system with
H = A^T diag(omega) A, omega = d_m d_a / (d_m + d_a) (d = z / s, the rows' W^-2), formed
densely at every iteration (``WeightedGram``: N x N, n N^2 flops).  The margins' multipliers
alpha give the certificate's dual direction -y alpha.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.linalg as sla
from scipy.linalg import blas

from convexbench.native.deadline import NEVER, Deadline, DeadlineExpired
from convexbench.native.dense_gram import add_lower_blocks
from convexbench.native.ipm import Kkt, stop_reason, unit_blocks
from convexbench.native.nt_cones import (
    MIN_STEP,
    STEP_FRACTION,
    Cones,
    jordan,
    jordan_solve,
    max_step,
    max_step_l,
    shift_into_cones,
)
from convexbench.native.reduced import ReducedResult

NEGLIGIBLE_WEIGHT = 1e-12  # relative to the largest row weight (see WeightedGram.factor)
REFINE_STEPS = 3  # at most, until the residual is below REFINED times the right-hand side
REFINED = 1e-14


class WeightedGram:
    """H = A^T diag(row_weights) A for the hinge program's Newton systems, formed densely at
    every factorization (N x N, n N^2 flops): the Woodbury form of ``LowRankGram`` lost all
    accuracy once the weights spread over 1e-9 .. 1e8 near the optimum (support vectors
    against samples on either side of the margin)."""

    def __init__(self, A: np.ndarray):
        self.A = np.ascontiguousarray(A)  # (n, N)
        self.row_weights = np.ones(A.shape[0])
        self._factor = None

    @property
    def size(self) -> int:
        return self.A.shape[1]

    def _apply(self, u: np.ndarray) -> np.ndarray:
        return self.A @ u

    def _adjoint(self, z: np.ndarray) -> np.ndarray:
        return self.A.T @ z

    def factor(self, blocks: np.ndarray, soc=None, deadline: Deadline = NEVER) -> bool:
        """Cholesky of H + blockdiag(blocks)."""
        deadline.check()
        w = self.row_weights
        # rows whose weight is negligible against the largest are left out (n_kept N^2
        # flops): near the optimum most samples are off the margin, their weights -> 0
        keep = np.flatnonzero(w >= NEGLIGIBLE_WEIGHT * float(w.max(initial=0.0)))
        root = self.A[keep] * np.sqrt(w[keep])[:, None]
        M = blas.dsyrk(1.0, root, trans=1, lower=1)
        add_lower_blocks(M, np.arange(blocks.shape[0]) * blocks.shape[1], blocks)
        scale = float(np.max(np.abs(np.diagonal(M)), initial=1.0))
        for attempt in range(3):
            try:
                trial = M if attempt == 0 else M + 1e-13 * 100.0**attempt * scale * np.eye(len(M))
                self._factor = sla.cho_factor(trial, lower=True, check_finite=False)
                return True
            except np.linalg.LinAlgError:
                continue
        return False

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        return sla.cho_solve(self._factor, rhs, check_finite=False)


class _HingeKkt:
    """Newton systems of the hinge program: ``Kkt`` (x, t; cone rows, second-order cones)
    plus the margin and sig >= 0 rows, sig eliminated."""

    def __init__(self, gram: WeightedGram, y: np.ndarray, m: int, d: int, owner: np.ndarray,
                 rows: np.ndarray):
        self.kkt = Kkt(gram, m, d, owner, rows)
        self.gram, self.y = gram, y

    def A(self, x: np.ndarray) -> np.ndarray:
        return self.gram._apply(x)

    def AT(self, v: np.ndarray) -> np.ndarray:
        return self.gram._adjoint(v)

    def factor(self, cones: Cones, dm: np.ndarray, da: np.ndarray, deadline: Deadline) -> bool:
        self.dm, self.da = dm, da
        self.gram.row_weights = dm * da / (dm + da)
        return self.kkt.factor(cones, deadline)

    def solve(self, cones: Cones, rhs):
        """Solve [0 G^T; G -W^2] [du; dz] = rhs, u = (x, t, sig), z = (K rows, cones, m, a)."""
        bx, bt, bs, bzl, bzq, bzm, bza = rhs
        dm, da, y = self.dm, self.da, self.y
        r_s = bs - dm * bzm - da * bza  # sig part of b_u + G^T W^-2 b_z
        bx_m = bx - self.AT(y * (dm * bzm + dm / (dm + da) * r_s))
        dx, dt, dzl, dzq = self.kkt.solve(cones, bx_m, bt, bzl, bzq)
        Ax = y * self.A(dx)
        ds = (r_s - dm * Ax) / (dm + da)
        dzm = dm * (-Ax - ds - bzm)
        dza = da * (-ds - bza)
        return dx, dt, ds, dzl, dzq, dzm, dza

    def apply(self, cones: Cones, sol):
        """[0 G^T; G -W^2] sol."""
        dx, dt, ds, dzl, dzq, dzm, dza = sol
        gx, gt = self.kkt.GT_z(dzl, dzq)
        Gl, Gq = self.kkt.G_u(dx, dt)
        Ax = self.y * self.A(dx)
        return (gx - self.AT(self.y * dzm), gt, -dzm - dza,
                Gl - cones.wl**2 * dzl, Gq - cones.scale_q(cones.scale_q(dzq)),
                -Ax - ds - dzm / self.dm, -ds - dza / self.da)

    def solve_refined(self, cones: Cones, rhs, steps: int = REFINE_STEPS):
        """``solve`` with steps of iterative refinement on the unreduced system."""
        sol = self.solve(cones, rhs)
        size = max(_norm(rhs), np.finfo(float).tiny)
        for _ in range(steps):
            res = tuple(b - a for b, a in zip(rhs, self.apply(cones, sol), strict=True))
            if _norm(res) <= REFINED * size:
                break
            corr = self.solve(cones, res)
            sol = tuple(a + b for a, b in zip(sol, corr, strict=True))
        return sol


def _norm(parts) -> float:
    return float(np.sqrt(sum(float(np.sum(np.square(v))) for v in parts)))


def _step(point, dzl, dzq, dzm, dza, dsl, dsq, dsm, dsa) -> float:
    """Largest step keeping every slack and multiplier of ``point`` in its cone."""
    sl, zl, sq, zq, sm, zm, sa, za = point
    return min(max_step(sl, zl, sq, zq, dsl, dzl, dsq, dzq), max_step_l(sm, dsm),
               max_step_l(zm, dzm), max_step_l(sa, dsa), max_step_l(za, dza))


def solve_ipm_hinge(
    gram: WeightedGram, y: np.ndarray, beta: float, m: int, d: int, owner: np.ndarray,
    rows: np.ndarray, tol: float = 1e-9, max_iter: int = 100, deadline: Deadline | None = None,
) -> ReducedResult:
    """Solve the restricted hinge program (module docstring); ``gram`` holds A (n x N).
    Stops when the relative gap and the relative residuals are below ``tol``; returns the
    best iterate, with status Solved, AlmostSolved (within 100 tol), MaxIterations, MaxTime
    or NumericalError, and the dual direction -y alpha."""
    start = time.perf_counter()
    deadline = deadline or NEVER
    hk = _HingeKkt(gram, y, m, d, owner, rows)
    kkt = hk.kkt
    n, N, B, r = len(y), gram.size, kkt.B, kkt.r
    ones = np.ones(n)
    # residuals are those of  G u + s = h,  h = (0, 0, -1, 0);  objective c = (0, beta, 1)
    cones = Cones(np.ones(r), np.ones(r), unit_blocks(B, d), unit_blocks(B, d))
    best = (np.inf, np.zeros(N), np.zeros(n), np.zeros(r))  # (worst, x, alpha, row duals)
    status, iterations = "MaxIterations", 0
    try:
        if not hk.factor(cones, ones, ones, deadline):
            return ReducedResult(np.zeros((kkt.k, kkt.md)), "NumericalError", 0,
                                 time.perf_counter() - start)
        # initial point (CVXOPT): solve with W = I for (-c, h), then shift into the cones
        x, t, sig, zl, zq, zm, za = hk.solve(cones, (np.zeros(N), -np.full(B, beta), -ones,
                                                     np.zeros(r), np.zeros((B, d + 1)),
                                                     -ones, np.zeros(n)))
        sl, sq, sm, sa = -zl, -zq, -zm, -za
        for s_lin, z_lin in ((sm, zm), (sa, za)):
            shift_into_cones(s_lin, np.zeros((0, d + 1)))
            shift_into_cones(z_lin, np.zeros((0, d + 1)))
        shift_into_cones(sl, sq)
        shift_into_cones(zl, zq)
        nu = r + B + 2 * n
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            while iterations < max_iter:
                iterations += 1
                gx, gt = kkt.GT_z(zl, zq)
                Gl, Gq = kkt.G_u(x, t)
                Ax = y * hk.A(x)
                res = (gx - hk.AT(y * zm), beta + gt, 1.0 - zm - za,
                       sl + Gl, sq + Gq, sm - Ax - sig + 1.0, sa - sig)
                mu_sum = float(sl @ zl + np.einsum("bi,bi->", sq, zq) + sm @ zm + sa @ za)
                pobj = float(sig.sum()) + beta * float(t.sum())
                gap = mu_sum / max(1.0, abs(pobj))
                pres = np.sqrt(sum(float(np.sum(v**2)) for v in res[3:])) / max(
                    1.0, np.sqrt(float(x @ x) + float(t @ t) + float(sig @ sig)))
                dres = np.sqrt(sum(float(np.sum(v**2)) for v in res[:3])) / max(
                    1.0, np.sqrt(n + B * beta**2))
                worst = max(gap, pres, dres)
                if worst < best[0]:
                    best = (worst, x.copy(), np.clip(zm, 0.0, 1.0), zl.copy())
                reason = stop_reason(worst, tol, deadline)
                if reason:
                    status = reason
                    break
                cones = Cones(sl, zl, sq, zq)
                lin_m, lin_a = np.sqrt(sm * zm), np.sqrt(sa * za)  # scaled points, rows m, a
                wm, wa = np.sqrt(sm / zm), np.sqrt(sa / za)
                if not hk.factor(cones, 1.0 / wm**2, 1.0 / wa**2, deadline):
                    status = "NumericalError"
                    break
                mu = mu_sum / nu

                def direction(vl, vq, vm, va, cones=cones, res=res, wm=wm, wa=wa):
                    """Newton direction for the scaled complementarity rhs v."""
                    rhs = (-res[0], -res[1], -res[2], -res[3] - cones.wl * vl,
                           -res[4] - cones.scale_q(vq), -res[5] - wm * vm, -res[6] - wa * va)
                    dx, dt, ds, dzl, dzq, dzm, dza = hk.solve_refined(cones, rhs)
                    dsl = cones.wl * (vl - cones.wl * dzl)
                    dsq = cones.scale_q(vq - cones.scale_q(dzq))
                    dsm, dsa = wm * (vm - wm * dzm), wa * (va - wa * dza)
                    return dx, dt, ds, dzl, dzq, dzm, dza, dsl, dsq, dsm, dsa

                point = (sl, zl, sq, zq, sm, zm, sa, za)
                lam_l, lam_q = cones.lam_l, cones.lam_q
                aff = direction(-lam_l, -lam_q, -lin_m, -lin_a)
                a_aff = min(1.0, _step(point, *aff[3:7], *aff[7:]))
                sigma = (1.0 - a_aff) ** 3
                dzl, dzq, dzm, dza, dsl, dsq, dsm, dsa = *aff[3:7], *aff[7:]
                cl = -lam_l * lam_l - (dsl / cones.wl) * (cones.wl * dzl) + sigma * mu
                cq = -jordan(lam_q, lam_q) - jordan(cones.unscale_q(dsq), cones.scale_q(dzq))
                cq[:, 0] += sigma * mu
                cm = -lin_m * lin_m - (dsm / wm) * (wm * dzm) + sigma * mu
                ca = -lin_a * lin_a - (dsa / wa) * (wa * dza) + sigma * mu
                full = direction(cl / lam_l, jordan_solve(lam_q, cq), cm / lin_m, ca / lin_a)
                dx, dt, ds, dzl, dzq, dzm, dza, dsl, dsq, dsm, dsa = full
                a = min(1.0, STEP_FRACTION * _step(point, dzl, dzq, dzm, dza, dsl, dsq, dsm, dsa))
                if not np.isfinite(a) or a < MIN_STEP:
                    status = "NumericalError"
                    break
                x, t, sig = x + a * dx, t + a * dt, sig + a * ds
                sl, sq, zl, zq = sl + a * dsl, sq + a * dsq, zl + a * dzl, zq + a * dzq
                sm, zm, sa, za = sm + a * dsm, zm + a * dzm, sa + a * dsa, za + a * dza
    except DeadlineExpired:
        status = "MaxTime"
    worst, x_best, alpha, z_rows = best
    if status != "Solved" and worst <= 100.0 * tol:
        status = "AlmostSolved"
    return ReducedResult(x_best.reshape(kkt.k, kkt.md), status, iterations,
                         time.perf_counter() - start, -y * alpha,
                         row_duals=kkt.given_order(z_rows))

"""The price of a three-layer atom by a small dense interior-point method (no Clarabel).

    max  sum_j g_j^T q_j   s.t.  K q >= 0 (the atom's selected cone rows),
                                 ||q_j|| <= t_j (j = 1..m),  sum_j t_j <= 1,

for g of shape (m, d) and K of shape (r, m d).  Written as the linear cone program
min c^T u, G u + s = h, s in R_+^(r+1) x SOC^m with u = (q, t), it is solved by the Mehrotra
predictor-corrector of CVXOPT's ``conelp`` with Nesterov-Todd scaling (``nt_cones.py``).
The Newton matrix G^T W^-2 G has m d + m rows, formed densely (r (m d)^2 flops) and
factored by Cholesky: one iteration is milliseconds at m d = 332 and r = 200, where one
Clarabel SOCP of the same atom (``programs.cones.atom_prices``) took 0.1-0.3 s (uci:musk-1,
relu3), since Clarabel's sparse factorization does not see that the rows are dense.

The answer is proved, not trusted: the multipliers z >= 0 of the cone rows give the
Lagrangian bound max_j ||g_j + (K^T z)_j||, an upper bound on the price for any z >= 0
(weak duality), and the primal value g^T q at the iterate a lower estimate.  An atom whose
two differ by more than ``PRICE_GAP`` (relative to max_j ||g_j||) is reported unproved and
the caller prices it with Clarabel.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla

from convexbench.native.deadline import NEVER, Deadline
from convexbench.native.nt_cones import (
    Cones,
    corrector_rhs,
    shift_into_cones,
    step_length,
)
from convexbench.native.threads import blas_threads
from convexbench.programs.cones import PRICE_GAP, atom_prices

MIN_SIZE = 40_000  # atoms whose rows times variables (r m d) reach this are priced here, the
# others by Clarabel.  Clarabel's time grows with the rows (dense rows fill its sparse
# factorization), ours mostly with (m d)^3.  Per atom, one BLAS thread, measured on the atoms
# the working set priced: uci:musk-1 relu3 (m d = 332) with < 100 / 100-200 / 200-400 rows:
# Clarabel 20 / 93 / 181 ms, here 53 / 72 / 83 ms; uci:hill-valley relu3 (m d = 200, 36 rows
# typically): Clarabel 7.7 ms, here 22.8 ms.  This threshold took the faster of the two on
# both (musk-1: 13.3 s Clarabel only, 9.6 s here only, 8.6 s chosen)
MAX_ITER = 60
TOL = 1e-12  # gap and residuals of the scaled program (prices in [0, 1])
STOP_GAP = 0.1 * PRICE_GAP  # stop once the Lagrangian bound is this close to the primal value


def price_atoms(gs: list[np.ndarray], rows_list: list[np.ndarray], deadline: Deadline = NEVER
                ) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """(price, maximizer (m, d), multipliers of the rows) of each atom (``gs[i]`` (m, d),
    ``rows_list[i]`` dense (r_i, m d)), as ``programs.cones.atom_prices`` returns them: atoms
    of ``MIN_SIZE`` (rows times variables) or more by :func:`atom_price_ipm` on one BLAS
    thread (these matrices are too small to gain from two: measured 3x slower with two),
    the others and any it did not prove by Clarabel (one SOCP for them all).  Raises
    ``DeadlineExpired`` once ``deadline`` has passed (read at every iteration here: one wide
    atom is seconds at m d = 1568, Fashion-MNIST relu3)."""
    out: list = [None] * len(gs)
    wide = [i for i, (g, rows) in enumerate(zip(gs, rows_list, strict=True))
            if rows.shape[0] * g.size >= MIN_SIZE]
    if wide:
        with blas_threads(1):
            for i in wide:
                price, q, mu, proved = atom_price_ipm(gs[i], rows_list[i], deadline)
                if proved:
                    out[i] = (price, q, mu)
    rest = [i for i, found in enumerate(out) if found is None]
    if rest:
        deadline.check()
        for i, found in zip(rest, atom_prices([gs[i] for i in rest],
                                              [rows_list[i] for i in rest]), strict=True):
            out[i] = found
    return out


def atom_price_ipm(g: np.ndarray, K: np.ndarray, deadline: Deadline = NEVER
                   ) -> tuple[float, np.ndarray, np.ndarray, bool]:
    """(price, maximizer q (m, d), multipliers of the rows (r,), proved) of one atom;
    ``DeadlineExpired`` once ``deadline`` has passed.

    ``price`` is the Lagrangian upper bound when ``proved`` (it is then within
    ``PRICE_GAP`` max_j ||g_j|| of the primal value); otherwise the caller must price the
    atom another way."""
    m, d = g.shape
    md = m * d
    r = K.shape[0]
    scale = float(np.linalg.norm(g, axis=1).max(initial=0.0))
    if scale == 0.0:
        return 0.0, np.zeros((m, d)), np.zeros(r), True
    gs = g.reshape(md) / scale
    K = np.asarray(K, dtype=float)
    nu = r + 1 + m  # degree of the cone
    h_l = np.zeros(r + 1)
    h_l[r] = 1.0

    def G_u(q: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """G u split into its linear rows and its second-order blocks."""
        lin = np.concatenate([-(K @ q), [t.sum()]])
        return lin, -np.concatenate([t[:, None], q.reshape(m, d)], axis=1)

    def GT_z(zl: np.ndarray, zq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return -(K.T @ zl[:r]) - zq[:, 1:].ravel(), zl[r] - zq[:, 0]

    def factor(wl2inv: np.ndarray, alpha: np.ndarray, c: np.ndarray, S: np.ndarray):
        """Cholesky factor of G^T W^-2 G, ordered (q, t)."""
        H = np.zeros((md + m, md + m))
        H[:md, :md] = K.T @ (wl2inv[:r, None] * K)
        for j in range(m):  # neuron j's second-order cone: its W^-2 block on (q_j, t_j)
            qj = slice(j * d, (j + 1) * d)
            H[qj, qj] += S[j] + np.outer(c[j], c[j]) / alpha[j]
            H[qj, md + j] += c[j]
            H[md + j, qj] += c[j]
            H[md + j, md + j] += alpha[j]
        H[md:, md:] += wl2inv[r]
        scale_h = float(np.max(np.abs(np.diagonal(H)), initial=1.0))
        for attempt in range(3):
            try:
                trial = H if attempt == 0 else H + 1e-14 * 100.0**attempt * scale_h * np.eye(
                    md + m)
                return sla.cho_factor(trial, lower=True, check_finite=False)
            except np.linalg.LinAlgError:
                continue
        return None

    def apply(cones: Cones, dq, dt, dzl, dzq):
        """[0 G^T; G -W^2] [du; dz]."""
        gq, gt = GT_z(dzl, dzq)
        Gl, Gq = G_u(dq, dt)
        return gq, gt, Gl - cones.wl**2 * dzl, Gq - cones.scale_q(cones.scale_q(dzq))

    def solve_refined(fac, cones: Cones, *rhs):
        """``solve`` and one step of iterative refinement on the unreduced system."""
        sol = solve(fac, cones, *rhs)
        res = [b - a for b, a in zip(rhs, apply(cones, *sol), strict=True)]
        corr = solve(fac, cones, *res)
        return tuple(a + b for a, b in zip(sol, corr, strict=True))

    def solve(fac, cones: Cones | None, bq, bt, bzl, bzq):
        """[0 G^T; G -W^2] [du; dz] = [bu; bz] (W = I when ``cones`` is None)."""
        if cones is None:
            wl2inv_l, wq = bzl, bzq
        else:
            wl2inv_l = bzl / cones.wl**2
            wq = cones.unscale_q(cones.unscale_q(bzq))
        gq, gt = GT_z(wl2inv_l, wq)
        du = sla.cho_solve(fac, np.concatenate([bq + gq, bt + gt]), check_finite=False)
        dq, dt = du[:md], du[md:]
        Gl, Gq = G_u(dq, dt)
        if cones is None:
            return dq, dt, Gl - bzl, Gq - bzq
        return dq, dt, (Gl - bzl) / cones.wl**2, cones.unscale_q(cones.unscale_q(Gq - bzq))

    # initial point (CVXOPT conelp): W = I
    fac = factor(np.ones(r + 1), np.ones(m), np.zeros((m, d)), np.broadcast_to(np.eye(d),
                                                                               (m, d, d)))
    if fac is None:
        return np.inf, np.zeros((m, d)), np.zeros(r), False
    # primal: u minimizing ||G u - h||, s = h - G u
    q, t, zl, zq = solve(fac, None, np.zeros(md), np.zeros(m), h_l, np.zeros((m, d + 1)))
    sl, sq = -zl, -zq
    # dual: the least-norm z with G^T z = -c
    _, _, zl, zq = solve(fac, None, gs, np.zeros(m), np.zeros(r + 1), np.zeros((m, d + 1)))
    shift_into_cones(sl, sq)
    shift_into_cones(zl, zq)
    best = (np.inf, np.inf, q, zl)  # (bound - primal, bound, q, zl) of the best iterate
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for _ in range(MAX_ITER):
            deadline.check()
            bound, primal, q_unit = _bounds(gs, K, q, zl[:r], m, d)
            if bound - primal < best[0]:
                best = (bound - primal, bound, q_unit, zl[:r].copy())
            if best[0] <= STOP_GAP:
                break
            gq, gt = GT_z(zl, zq)
            Gl, Gq = G_u(q, t)
            res = (gq - gs, gt, Gl + sl - h_l, Gq + sq)  # (c + G^T z, G u + s - h)
            gap = float(sl @ zl + np.einsum("bi,bi->", sq, zq))
            pres = np.sqrt(float(res[2] @ res[2]) + float(np.sum(res[3] ** 2)))
            dres = np.sqrt(float(res[0] @ res[0]) + float(res[1] @ res[1]))
            if not np.isfinite(gap + pres + dres) or max(gap, pres, dres) <= TOL:
                break
            cones = Cones(sl, zl, sq, zq)
            alpha, c, S = cones.inv_sq_blocks()
            fac = factor(1.0 / cones.wl**2, alpha, c, S)
            if fac is None:
                break
            mu = gap / nu

            def direction(vl, vq, cones=cones, res=res, fac=fac):
                dq, dt, dzl, dzq = solve_refined(fac, cones, -res[0], -res[1],
                                         -res[2] - cones.wl * vl, -res[3] - cones.scale_q(vq))
                return dq, dt, dzl, dzq, *cones.slack_direction(vl, vq, dzl, dzq)

            dq, dt, dzl, dzq, dsl, dsq = direction(-cones.lam_l, -cones.lam_q)
            dq, dt, dzl, dzq, dsl, dsq = direction(
                *corrector_rhs(cones, sl, zl, sq, zq, dsl, dzl, dsq, dzq, mu))
            a = step_length(sl, zl, sq, zq, dsl, dzl, dsq, dzq)
            if a is None:
                break
            q, t = q + a * dq, t + a * dt
            sl, sq, zl, zq = sl + a * dsl, sq + a * dsq, zl + a * dzl, zq + a * dzq
    slack, bound, q_unit, z_rows = best
    proved = bool(np.isfinite(bound) and slack <= PRICE_GAP)
    return bound * scale, q_unit.reshape(m, d), np.maximum(z_rows, 0.0) * scale, proved


def _bounds(gs: np.ndarray, K: np.ndarray, q: np.ndarray, z_rows: np.ndarray, m: int, d: int
            ) -> tuple[float, float, np.ndarray]:
    """(Lagrangian upper bound of the multipliers z_rows clipped to >= 0, primal value of q
    scaled into the budget when its residual puts it outside, that q)."""
    bound = float(np.linalg.norm((gs + K.T @ np.maximum(z_rows, 0.0)).reshape(m, d),
                                 axis=1).max())
    budget = float(np.linalg.norm(q.reshape(m, d), axis=1).sum())
    q_unit = q / max(budget, 1.0)
    return bound, float(gs @ q_unit), q_unit

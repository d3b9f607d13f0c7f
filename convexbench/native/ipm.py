"""A dense primal-dual interior-point method for the restricted program, in one N x N array.

    min_{x, t}  1/2 x^T H x - b^T x + beta sum_b t_b
    s.t.        K x >= 0            (selected cone rows, each owned by one column)
                ||x_b|| <= t_b      (one second-order cone per block of d variables)

N = k m d is the size of the working set.  The method is the Mehrotra predictor-corrector of
CVXOPT's ``coneqp`` (Vandenberghe 2010) with Nesterov-Todd scaling, specialised to this
structure: the t variables are eliminated block by block and every cone row acts on one
column only, so the Newton matrix is H plus a block-diagonal matrix.

H = A^T A comes from ``dense_gram.py`` (``PackedGram``: one N x N array; ``LowRankGram`` /
``RowWeightedGram``: Woodbury through one n x n factor) or ``gram.MatrixFreeGram``.

Near the optimum the Newton systems lose accuracy: every direction gets one step of
iterative refinement on the unreduced KKT system, and the best iterate is returned.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from convexbench.native.deadline import NEVER, Deadline, DeadlineExpired
from convexbench.native.dense_gram import Gram, RowSamples, SocInverse, block_rows
from convexbench.native.nt_cones import (
    Cones,
    corrector_rhs,
    shift_into_cones,
    step_length,
)
from convexbench.native.reduced import ReducedResult

ROW_FORM_REFINE = 2  # refinement steps when cone rows are in row form (1 step: musk-1 relu2
# at 1e-2 lambda_max ended most restricted solves AlmostSolved with 30% more iterations)


ALMOST = 100.0  # a best iterate within ALMOST x tol is AlmostSolved ...
DIVERGED = 10.0  # ... and the method stops there once an iterate is DIVERGED x worse: near
# the optimum the Newton systems lose accuracy, and the iterates after such a jump only drifted
# further (uci:heart-hungarian relu3 at 1e-2 lambda_max: 1.1e-9 at iteration 41, then 7.8e-9,
# 3.2e-4, 0.21, 0.30 and a failed factorization at 46)

REFINE_FROM = 1e-5  # directions get their refinement steps once the largest relative gap or
# residual is at most this; before, the factored solve alone (in process on 23 UCI programs,
# relu2 / relu3 / gated2 at 1e-1..1e-3 lambda_max: same iterations and certified optima,
# 5-25% less time; a solve that fails without them is retried with them: working_set)

OUTER_PRODUCTS_MAX = 1 << 22  # entries of the cone rows' outer products kept for ``factor``
# (32 MB) ...
OUTER_WIDTH_MAX = 16  # ... for rows (or their one touched block) at most this wide; wider
# ones go through the loop over columns, whose d x d products then run faster (measured in
# process: uci:balloons relu2 1e-1 0.103 -> 0.067 s, relu3 1e-2 0.064 -> 0.043 s; uci:pima,
# fertility 2-8% faster; uci:ionosphere relu2 (d = 33) 11% slower, hence the limit)

ROWS_THROUGH_X = 250_000  # cone rows with at least this many entries (r d) take their
# products through X when they are signed rows of it (``RowSamples``)


class Kkt:
    """The structure of the restricted program and its Newton (KKT) systems.

    Variables u = (x, t); the cone slacks are s = (K x, (t_b, x_b)) = -G u.
    """

    def __init__(self, gram: Gram, m: int, d: int, owner: np.ndarray, rows: np.ndarray,
                 samples: RowSamples | None = None):
        self.gram, self.m, self.d = gram, m, d
        N = gram.size
        self.md = m * d
        self.k = N // self.md
        self.B = self.k * m
        self.n_given = len(owner)
        nonzero = np.any(rows != 0, axis=1) if len(rows) else np.zeros(0, bool)
        self.source = np.flatnonzero(nonzero)  # index of each kept row among those given
        if not nonzero.all():
            owner, rows = owner[nonzero], rows[nonzero]
        # within a column, rows that touch one block j of its m (relu3's first-layer rows)
        # come first, by j, then the rows that touch several: their part of K^T W^-2 K costs
        # d^2 per row instead of (m d)^2 (uci:musk-1 relu3, m d = 332: 12 s of 66 s of
        # restricted solves went to these products)
        group = np.full(len(owner), m)
        if m > 1 and len(rows):
            touched = np.any(rows.reshape(len(rows), m, d) != 0, axis=2)
            group = np.where(touched.sum(axis=1) == 1, np.argmax(touched, axis=1), m)
        key = owner.astype(np.int64) * (m + 1) + group
        if np.any(np.diff(key) < 0):  # the working set passes them by owner: no copy for m = 1
            order = np.argsort(key, kind="stable")
            owner, rows, key = owner[order], rows[order], key[order]
            self.source = self.source[order]
        self.owner, self.rows = owner, np.ascontiguousarray(rows, dtype=float)
        self.row_group = key - owner.astype(np.int64) * (m + 1)  # group of each kept row
        self.r = len(self.owner)
        self.bounds = np.searchsorted(self.owner, np.arange(self.k + 1))
        # rows of column c touching block j only: group_bounds[c, j] .. group_bounds[c, j + 1]
        # (j = m: the rows touching several blocks)
        self.group_bounds = np.searchsorted(key, np.arange(self.k * (m + 1) + 1))
        self.xi_block = np.arange(N).reshape(self.B, d)  # x indices of each block
        # K as a sparse r x N matrix (row i touches the md variables of its column only),
        # sharing its values with ``rows``; K^T is its transposed (CSC) view, not a copy, made
        # once (made per product: 0.07 of 0.32 ms a product, measured r = 9000, N = 3690)
        self.Ks = block_rows(self.rows, self.owner, self.k)
        self.KsT = self.Ks.T
        self._through_X = None
        if samples is not None:
            samples = samples.take(self.source)  # in the order of the kept rows
        if (samples is not None and m == 1 and self.r >= samples.X.shape[0]
                and self.r * d >= ROWS_THROUGH_X):
            # more rows than samples: products through X read less than the rows (measured
            # in process, relu2 1e-2 lambda_max: uci:arrhythmia 19.5 -> 16.4 s, uci:musk-1
            # 16.0 -> 15.2 s; below ROWS_THROUGH_X entries, uci:pima, 5% slower)
            self._through_X = samples.products(self.owner, self.k)
        # columns whose cone rows the Gram matrix takes in row form (Woodbury on the rows:
        # ``dense_gram.RowWeightedGram.take_cone_rows``); the others get a formed md x md block
        take = getattr(gram, "take_cone_rows", None)
        self.row_form = (take(self.bounds, self.rows, samples) if take is not None and m == 1
                         else np.zeros(self.k, dtype=bool))
        self.block_cols = np.flatnonzero(~self.row_form)
        self._outer = self._row_outer_products()

    def _row_outer_products(self) -> list:
        """The formed blocks' cone rows as outer products, for ``factor`` to add K^T W^-2 K
        to the blocks by sparse products instead of a loop over the columns: [rows of column
        c touching block j only, as rows c m + j of d^2 entries; rows touching several, as
        rows c of (m d)^2], each None (left to the loop) when its rows are wider than
        ``OUTER_WIDTH_MAX`` (where each column's own product outweighs the loop's overhead)
        or its outer products would exceed ``OUTER_PRODUCTS_MAX`` entries."""
        m, d, md = self.m, self.d, self.md
        formed = ~self.row_form[self.owner]
        at = np.full(self.k, -1)  # each column's index among the formed blocks
        at[self.block_cols] = np.arange(len(self.block_cols))
        parts = []
        for idx, width in ((np.flatnonzero(formed & (self.row_group < m)), d),
                           (np.flatnonzero(formed & (self.row_group == m)), md)):
            if width > OUTER_WIDTH_MAX or len(idx) * width * width > OUTER_PRODUCTS_MAX:
                parts.append(None)
                continue
            if width == d and m > 1:
                sub = self.rows.reshape(self.r, m, d)[idx, self.row_group[idx]]
                target = at[self.owner[idx]] * m + self.row_group[idx]
            else:
                sub, target = self.rows[idx], at[self.owner[idx]]
            outer = (sub[:, :, None] * sub[:, None, :]).reshape(len(idx), width * width)
            segments = len(self.block_cols) * (m if width == d and m > 1 else 1)
            # the targets do not decrease (rows come by column, then group): CSR row pointers
            parts.append((idx, np.searchsorted(target, np.arange(segments + 1)), outer))
        return parts

    def _add_row_blocks(self, blocks: np.ndarray, wz: np.ndarray) -> None:
        """blocks += each formed column's K_c^T diag(wz) K_c for the rows of the parts
        ``_row_outer_products`` made."""
        m, d, md = self.m, self.d, self.md
        kb = blocks.shape[0]
        for part, width in zip(self._outer, (d, md), strict=True):
            if part is None or not len(part[0]):
                continue
            idx, indptr, outer = part
            segments = sp.csr_matrix((wz[idx], np.arange(len(idx)), indptr),
                                     shape=(len(indptr) - 1, len(idx)))
            summed = segments @ outer
            if width == md:
                blocks += summed.reshape(kb, md, md)
            else:
                blocks.reshape(kb, m, d, m, d)[:, np.arange(m), :, np.arange(m), :] += (
                    summed.reshape(kb, m, d, d).transpose(1, 0, 2, 3))

    def given_order(self, zl: np.ndarray) -> np.ndarray:
        """Multipliers of the kept rows, clipped to >= 0, in the order of the rows given
        (zero for the all-zero rows left out)."""
        out = np.zeros(self.n_given)
        out[self.source] = np.maximum(zl, 0.0)
        return out

    def K(self, x: np.ndarray) -> np.ndarray:
        return self.Ks @ x if self._through_X is None else self._through_X[0](x)

    def KT(self, v: np.ndarray) -> np.ndarray:
        return self.KsT @ v if self._through_X is None else self._through_X[1](v)

    def GT_z(self, zl: np.ndarray, zq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """G^T z split into its x and t parts."""
        return -self.KT(zl) - zq[:, 1:].ravel(), -zq[:, 0]

    def G_u(self, x: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return -self.K(x), -np.concatenate([t[:, None], x[self.xi_block]], axis=1)

    def factor(self, cones: Cones, deadline: Deadline = NEVER) -> bool:
        """Factor P + G^T W^-2 G with t eliminated: H plus a block-diagonal matrix."""
        m, d, md = self.m, self.d, self.md
        split = bool(self.row_form.any())  # m = 1: blocks are columns
        alpha, c, S = cones.inv_sq_blocks(self.block_cols if split else None)
        if not (np.all(np.isfinite(S)) and np.all(np.isfinite(alpha))):
            return False
        kb = len(self.block_cols)
        if m == 1 and S.shape[0] == kb:  # the blocks are S itself (no copy: 490 MB and 2 s
            blocks = S  # at 100 columns of d = 784)
        else:  # the formed blocks, in the order of block_cols
            blocks = np.zeros((kb, md, md))
            blocks.reshape(kb, m, d, m, d)[:, np.arange(m), :, np.arange(m), :] += S.reshape(
                kb, m, d, d).transpose(1, 0, 2, 3)
        deadline.check()
        if self.r:
            wz = 1.0 / cones.wl**2  # W^{-2} of the rows
            if split:
                self.gram.cone_row_weights(wz)
            self._add_row_blocks(blocks, wz)
            loop_single, loop_several = (part is None for part in self._outer)
            with_rows = np.diff(self.bounds)[self.block_cols] > 0
            if not (loop_single or loop_several):
                with_rows[:] = False
            gb = self.group_bounds
            for at, col in zip(np.flatnonzero(with_rows), self.block_cols[with_rows],
                               strict=True):  # columns, not patterns
                deadline.check()
                base = col * (m + 1)
                for j in range(m if loop_single else 0):  # rows touching block j only
                    lo, hi = gb[base + j], gb[base + j + 1]
                    if hi > lo:
                        Kj = self.rows[lo:hi, j * d:(j + 1) * d]
                        blocks[at, j * d:(j + 1) * d, j * d:(j + 1) * d] += Kj.T @ (
                            wz[lo:hi, None] * Kj)
                lo, hi = gb[base + m], gb[base + m + 1]
                if loop_several and hi > lo:
                    Kc = self.rows[lo:hi]
                    blocks[at] += Kc.T @ (wz[lo:hi, None] * Kc)
        self.alpha, self.c = alpha, c
        soc = None
        if m == 1:
            with np.errstate(over="ignore"):
                soc = SocInverse(cones.eta**2, cones.w[:, 1:], np.diff(self.bounds) == 0)
        return self.gram.factor(blocks, soc, deadline)

    def solve(self, cones: Cones, bx, bt, bzl, bzq):
        """Solve [P G^T; G -W^2] [du; dz] = [b_u; b_z] with the current factor."""
        alpha, c = self.alpha, self.c
        wq = cones.unscale_q(cones.unscale_q(bzq))  # W^{-2} bzq
        gx, gt = self.GT_z(bzl / cones.wl**2, wq)
        rx, rt = bx + gx, bt + gt  # b_u + G^T W^{-2} b_z
        rhs = rx - (c * (rt / alpha)[:, None]).ravel()  # eliminate t
        dx = self.gram.solve(rhs)
        dt = (rt - np.einsum("bi,bi->b", c, dx[self.xi_block])) / alpha
        Gl, Gq = self.G_u(dx, dt)
        dzl = (Gl - bzl) / cones.wl**2
        dzq = cones.unscale_q(cones.unscale_q(Gq - bzq))
        return dx, dt, dzl, dzq

    def residual(self, cones: Cones, rhs, dx, dt, dzl, dzq):
        """rhs - [P G^T; G -W^2] [du; dz]."""
        bx, bt, bzl, bzq = rhs
        gx, gt = self.GT_z(dzl, dzq)
        Gl, Gq = self.G_u(dx, dt)
        return (bx - self.gram.matvec(dx) - gx, bt - gt, bzl - Gl + cones.wl**2 * dzl,
                bzq - Gq + cones.scale_q(cones.scale_q(dzq)))

    def solve_refined(self, cones: Cones, rhs, refine: int):
        sol = self.solve(cones, *rhs)
        for _ in range(refine):  # iterative refinement on the unreduced system
            corr = self.solve(cones, *self.residual(cones, rhs, *sol))
            sol = tuple(a + b for a, b in zip(sol, corr, strict=True))
        return sol


def solve_ipm(
    gram: Gram, Aty: np.ndarray, beta: float, m: int, d: int, owner: np.ndarray,
    rows: np.ndarray, tol: float = 1e-9, max_iter: int = 100,
    time_limit: float | None = None, refine: int = 1, deadline: Deadline | None = None,
    samples: RowSamples | None = None, refine_from: float | None = None,
) -> ReducedResult:
    """Solve the restricted program (module docstring) given its Gram matrix.

    ``rows`` (r, m d) are the selected cone rows, ``owner`` (r,) the column (0..k-1) each
    belongs to; zero rows are dropped; ``samples``, when given, are the same rows as signed
    rows of X (products with them then go through X: ``RowSamples``).  Stops when the
    relative gap and the relative primal and dual residuals are below ``tol``; returns the
    best iterate seen (x shaped (k, m d)), with status Solved, AlmostSolved (within ``ALMOST``
    tol; also when an iterate is ``DIVERGED`` times worse than such a best one),
    MaxIterations, MaxTime or NumericalError.  Each direction gets ``refine`` steps of
    iterative refinement once that worst measure is at most ``refine_from`` (default
    ``REFINE_FROM``; every iteration in row form, ``Kkt.row_form``).  The time limit is the
    earlier of ``deadline`` and ``time_limit`` seconds from the start; factorizations are
    interrupted by it too (``MaxTime`` with the best iterate, or zero before the first).
    """
    start = time.perf_counter()
    deadline = (deadline or NEVER).sooner(time_limit, start)
    refine_from = REFINE_FROM if refine_from is None else refine_from
    kkt = Kkt(gram, m, d, owner, rows, samples)
    if kkt.row_form.any():  # a Woodbury difference (``take_cone_rows``): refine more,
        refine = max(refine, ROW_FORM_REFINE)  # and from the first iteration
        refine_from = np.inf
    r, B = kkt.r, kkt.B
    q_x, q_t = -Aty, np.full(B, beta)
    # initial point (CVXOPT): solve with W = I, then shift s and z into the cones
    cones = Cones(np.ones(r), np.ones(r), unit_blocks(B, d), unit_blocks(B, d))
    try:
        factored = kkt.factor(cones, deadline)
    except DeadlineExpired:
        return ReducedResult(np.zeros((kkt.k, kkt.md)), "MaxTime", 0,
                             time.perf_counter() - start)
    if not factored:
        return ReducedResult(np.zeros((kkt.k, kkt.md)), "NumericalError", 0,
                             time.perf_counter() - start)
    x, t, zl, zq = kkt.solve(cones, -q_x, -q_t, np.zeros(r), np.zeros((B, d + 1)))
    sl, sq = -zl, -zq
    shift_into_cones(sl, sq)
    shift_into_cones(zl, zq)
    nu = r + B
    status = "MaxIterations"
    best = (np.inf, x, zl)  # (worst of gap and residuals, x, row multipliers)
    iterations = 0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        try:
            while iterations < max_iter:
                iterations += 1
                Hx = gram.matvec(x)
                gx, gt = kkt.GT_z(zl, zq)
                Gl, Gq = kkt.G_u(x, t)
                res = (Hx + q_x + gx, q_t + gt, sl + Gl, sq + Gq)  # (P u + q + G^T z, G u + s)
                mu_sum = float(sl @ zl + np.einsum("bi,bi->", sq, zq))
                pobj = 0.5 * float(x @ Hx) - float(Aty @ x) + beta * float(t.sum())
                gap = mu_sum / max(1.0, abs(pobj))
                pres = np.sqrt(float(res[2] @ res[2]) + float(np.sum(res[3] ** 2))) / max(
                    1.0, np.sqrt(float(x @ x) + float(t @ t)))
                dres = np.sqrt(float(res[0] @ res[0]) + float(res[1] @ res[1])) / max(
                    1.0, np.sqrt(float(Aty @ Aty) + B * beta**2))
                worst = max(gap, pres, dres)
                if worst < best[0]:
                    best = (worst, x.copy(), zl.copy())
                reason = stop_reason(worst, tol, deadline)
                if reason:
                    status = reason
                    break
                if best[0] <= ALMOST * tol and worst > DIVERGED * best[0]:
                    break  # at the Newton systems' accuracy: the best iterate, AlmostSolved
                cones = Cones(sl, zl, sq, zq)
                if not kkt.factor(cones, deadline):
                    status = "NumericalError"
                    break
                mu = mu_sum / nu
                steps = refine if worst <= refine_from else 0
                lam_l, lam_q = cones.lam_l, cones.lam_q

                def direction(vl, vq, cones=cones, res=res, steps=steps):
                    """Newton direction for the scaled complementarity rhs v
                    (W^-1 ds + W dz = v)."""
                    rhs = (-res[0], -res[1], -res[2] - cones.wl * vl, -res[3] - cones.scale_q(vq))
                    dx, dt, dzl, dzq = kkt.solve_refined(cones, rhs, steps)
                    return dx, dt, dzl, dzq, *cones.slack_direction(vl, vq, dzl, dzq)

                # predictor (affine scaling): v = -lam, then Mehrotra's corrector
                dx, dt, dzl, dzq, dsl, dsq = direction(-lam_l, -lam_q)
                dx, dt, dzl, dzq, dsl, dsq = direction(
                    *corrector_rhs(cones, sl, zl, sq, zq, dsl, dzl, dsq, dzq, mu))
                a = step_length(sl, zl, sq, zq, dsl, dzl, dsq, dzq)
                if a is None:
                    status = "NumericalError"
                    break
                x, t = x + a * dx, t + a * dt
                sl, sq, zl, zq = sl + a * dsl, sq + a * dsq, zl + a * dzl, zq + a * dzq
        except DeadlineExpired:  # inside a factorization: the best iterate so far
            status = "MaxTime"
    # near the optimum the Newton systems lose accuracy: the best iterate seen
    worst, x, zl = best
    if status != "Solved" and worst <= ALMOST * tol:
        status = "AlmostSolved"
    return ReducedResult(x.reshape(kkt.k, kkt.md), status, iterations,
                         time.perf_counter() - start, row_duals=kkt.given_order(zl))


def stop_reason(worst: float, tol: float, deadline: Deadline) -> str | None:
    """Why an interior-point iteration stops at an iterate whose largest relative gap or
    residual is ``worst``: NumericalError, Solved or MaxTime; None to go on."""
    if not np.isfinite(worst):
        return "NumericalError"
    if worst <= tol:
        return "Solved"
    return "MaxTime" if deadline.expired() else None


def unit_blocks(B: int, d: int) -> np.ndarray:
    """B second-order blocks at their centre (1, 0, ..., 0)."""
    e = np.zeros((B, d + 1))
    e[:, 0] = 1.0
    return e

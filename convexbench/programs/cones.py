"""Dual norms over polyhedral cones, used by the certificates (``programs/``) and the native
solver (``native/``): the one NNLS projection that prices a two-layer group
(:func:`cone_price`), and the SOCP that prices three-layer atoms (:func:`atom_prices`)."""

from __future__ import annotations

from collections.abc import Callable

import clarabel
import numpy as np
import scipy.sparse as sp
from scipy.linalg import get_lapack_funcs, qr_delete, solve_triangular
from scipy.optimize import nnls

VIOLATION_RTOL = 1e-12  # a row counts as violated below -VIOLATION_RTOL ||g|| ||a_i||
MAX_ROUNDS = 50  # row-generation rounds; more only tightens the (valid) upper bound
WARM_NNLS_MIN_D = 200  # nnls_warm from this dimension on, scipy's NNLS below it: measured
# on Fashion-MNIST (d = 784) one projection 15.7 -> 4.5 s; on UCI data (d <= 60) scipy's
# compiled loop was 3-17x faster than this Python one (uci:pima relu2 certificate 0.05 s
# against 0.87 s)
ADD_PER_STEP = 16  # NNLS: indices entering the support per step (the most violating)
PRICE_GAP = 1e-9  # accuracy asked of each atom of a batch, relative to max_j ||g_j||


def cone_price(g: np.ndarray, A: np.ndarray, start_rows: int | None = None,
               warm: np.ndarray | None = None, check: Callable[[], None] | None = None
               ) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """max {g^T u : ||u|| <= 1, A u >= 0}, the (unnormalized) projection u = g + A^T mu of g
    onto {u : A u >= 0}, and the multipliers mu as (rows, values).

    By Moreau's decomposition the projection is g + A^T mu* with
    mu* = argmin_{mu >= 0} ||g + A^T mu||, a non-negative least-squares problem, and the
    price is its norm.  Row generation: NNLS on the most violated rows (and the rows of
    ``warm``, e.g. those of positive multiplier at an earlier pricing) only, then add the rows
    its projection violates until none is left; from dimension ``WARM_NNLS_MIN_D`` on each
    NNLS starts from the previous one's support (:func:`nnls_warm`).  A restricted NNLS (or
    an inexact one) always gives an upper bound, and when its projection satisfies every
    row the KKT conditions of the full projection hold: exact.  The violation test is
    relative to ||g|| and to each row's norm, so the answer does not depend on the scale of
    g or A.  ``check`` (e.g. a deadline's) is called between rounds and NNLS steps; it
    interrupts the pricing by raising.
    """
    none = (np.zeros(0, np.int64), np.zeros(0))
    if not np.any(g):
        return 0.0, np.zeros_like(g), *none
    if A.shape[0] == 0:
        return float(np.linalg.norm(g)), g.copy(), *none
    vals = A @ g
    if vals.min() >= 0:  # g is in the cone
        return float(np.linalg.norm(g)), g.copy(), *none
    tol = VIOLATION_RTOL * float(np.linalg.norm(g)) * np.linalg.norm(A, axis=1)
    k = start_rows or 3 * g.shape[0]
    rows = np.argsort(vals)[: min(k, A.shape[0])]
    support = np.zeros(0, np.int64)
    if warm is not None and len(warm):
        support = np.asarray(warm, dtype=np.int64)
        rows = np.union1d(rows, support)
    u, mu = g, np.zeros(len(rows))
    for _ in range(MAX_ROUNDS):
        if check is not None:
            check()
        sub = A[rows]
        try:
            if g.shape[0] >= WARM_NNLS_MIN_D:
                mu = nnls_warm(sub, -g, np.isin(rows, support), check=check)
                if mu is None:
                    raise RuntimeError("NNLS did not converge")
            else:
                mu, _ = nnls(sub.T, -g, maxiter=50 * max(len(rows), 10))
        except RuntimeError:  # iteration limit: the cone-free value is a valid upper bound
            return float(np.linalg.norm(g)), g.copy(), *none
        u = g + sub.T @ mu
        vals = A @ u
        bad = np.flatnonzero(vals < -tol)
        if len(bad) == 0:
            break
        support = rows[mu > 0]
        extra = bad[np.argsort(vals[bad])[: max(len(rows), 1)]]
        rows = np.union1d(rows, extra)
    keep = mu > 0
    return float(np.linalg.norm(u)), u, rows[keep], mu[keep]


_POTRF = get_lapack_funcs("potrf", (np.zeros(1),))
_DOWNDATES = 4  # at most this many indices leaving the support: downdates, not a refactor


def _grown(M: np.ndarray, s: int, size: int) -> np.ndarray:
    """A size x size zero array with M's leading s x s block."""
    out = np.zeros((size, size))
    out[:s, :s] = M[:s, :s]
    return out


def nnls_warm(B: np.ndarray, c: np.ndarray, passive: np.ndarray | None = None,
              max_iter: int | None = None, check: Callable[[], None] | None = None
              ) -> np.ndarray | None:
    """argmin_{mu >= 0} ||B^T mu - c|| for B (r, d), by the Lawson-Hanson active-set method
    with the Cholesky factor of the support's Gram block B_S B_S^T extended row by row
    (O(s d) per added index; refactored on removals), started from the support ``passive``
    (a boolean (r,) mask, e.g. an earlier solution's: the method then needs only the changes
    of the support).  None when it does not converge in ``max_iter`` (default 5 r) support
    changes.  ``check`` is called before every step (it may raise to interrupt)."""
    r = B.shape[0]
    if r == 0:
        return np.zeros(0)
    row_sq = np.einsum("ij,ij->i", B, B)
    ztol = 1e-12 * float(np.linalg.norm(c)) * np.sqrt(np.max(row_sq, initial=0.0))
    support = _Support(B, c, 1e-13 * float(np.max(row_sq, initial=0.0)))
    start = np.flatnonzero(passive) if passive is not None else np.zeros(0, np.int64)
    for j in start:
        support.add(int(j))
    mu = np.zeros(r)
    while len(support.idx):  # warm start: shrink the support until its solution is positive
        z = support.solve()
        if z.min() > 0:
            mu[support.idx] = z
            break
        support.keep(z > 0)
    banned = np.zeros(r, dtype=bool)  # dependent on the support (numerically)
    per_step = 1  # indices entering per step: doubled after a clean step, 1 after backtracking
    for _ in range(max_iter or 5 * r + 10):
        if check is not None:
            check()
        idx = support.idx
        w = B @ (c - support.rows.T @ mu[idx])  # minus the gradient: positive ones may enter
        w[idx] = -np.inf
        w[banned] = -np.inf
        top = np.argpartition(-w, min(per_step, r) - 1)[:per_step]
        top = top[w[top] > ztol]
        if len(top) == 0:
            return mu
        added = [bool(support.add(int(j))) for j in top[np.argsort(-w[top])]]
        if not any(added):
            banned[top] = True
            continue
        banned[:] = False
        per_step = min(2 * per_step, ADD_PER_STEP)  # back to 1 below when a step backtracks
        while True:
            z = support.solve()
            if z.min(initial=np.inf) > 0:
                mu[:] = 0.0
                mu[support.idx] = z
                break
            per_step = 1
            old = mu[support.idx]
            neg = z <= 0
            ratio = old[neg] / (old[neg] - z[neg])
            alpha = float(np.min(ratio))
            new = old + alpha * (z - old)
            stay = new > 0
            stay[np.flatnonzero(neg)[ratio <= alpha]] = False
            mu[:] = 0.0
            mu[support.idx[stay]] = new[stay]
            support.keep(stay)
    return None


class _Support:
    """The support S of an NNLS iterate, its Gram block B_S B_S^T and the Cholesky factor of
    that block, extended by one row per added index and refactored from the kept Gram block
    on removals (LAPACK ``potrf``; no product with B)."""

    def __init__(self, B: np.ndarray, c: np.ndarray, dtol: float):
        self.B, self.c, self.dtol = B, c, dtol
        self.idx = np.zeros(0, np.int64)
        self._L = np.zeros((64, 64))  # the factor in the leading s x s block
        self._G = np.zeros((64, 64))  # B_S B_S^T in the leading s x s block (lower part)
        self._rows = np.zeros((64, B.shape[1]))  # B_S, contiguous (B[idx] copied at each use
        # cost more than the products: 3078 additions of up to 556 x 784 rows, full-size
        # Fashion-MNIST)

    @property
    def rows(self) -> np.ndarray:
        """B_S (s, d), in the support's order."""
        return self._rows[:len(self.idx)]

    @property
    def L(self) -> np.ndarray:
        s = len(self.idx)
        return self._L[:s, :s]

    def add(self, j: int) -> bool:
        """Append index j; False (and no change) when its row is numerically dependent."""
        s = len(self.idx)
        bj = self.B[j]
        col = self.rows @ bj
        lj = solve_triangular(self.L, col, lower=True, check_finite=False) if s else col
        bb = float(bj @ bj)
        d2 = bb - float(lj @ lj)
        if not d2 > self.dtol:
            return False
        if s + 1 > self._L.shape[0]:
            size = 2 * (s + 1)
            self._L, self._G = (_grown(self._L, s, size), _grown(self._G, s, size))
            rows = np.zeros((size, self._rows.shape[1]))
            rows[:s] = self._rows[:s]
            self._rows = rows
        self._L[s, :s] = lj
        self._L[s, s] = np.sqrt(d2)
        self._G[s, :s] = col
        self._G[s, s] = bb
        self._rows[s] = bj
        self.idx = np.append(self.idx, j)
        return True

    def keep(self, mask: np.ndarray) -> None:
        """Keep the indices ``mask`` (in the support's order): a truncation of the factor
        when only the last ones leave; Givens downdates of it when a few leave
        (``scipy.linalg.qr_delete`` on R = L^T, O(s^2) each); else a new factorization of
        the kept Gram block (LAPACK ``potrf``, s^3 / 3; no product with B)."""
        mask = np.asarray(mask, dtype=bool)
        m = len(mask)
        idx = self.idx[mask]
        s = len(idx)
        pos = np.flatnonzero(mask)
        if s and not mask[:s].all():
            G = np.tril(self._G[:m, :m])[np.ix_(pos, pos)]
            gone = np.flatnonzero(~mask)
            if len(gone) <= _DOWNDATES:
                Q, R = np.eye(m), np.asfortranarray(self._L[:m, :m].T)
                for k in gone[::-1]:
                    Q, R = qr_delete(Q, R, int(k), 1, which="col", overwrite_qr=True,
                                     check_finite=False)
                L = R[:s, :s].T
            else:
                L, info = _POTRF(np.asfortranarray(G + np.tril(G, -1).T), lower=1, clean=1,
                                 overwrite_a=1)
                if info != 0:  # lost definiteness: rebuild by additions
                    self.idx = np.zeros(0, np.int64)
                    for j in idx:
                        self.add(int(j))
                    return
            self._L[:s, :s] = L
            self._G[:s, :s] = G
            self._rows[:s] = self._rows[:m][mask]
        self.idx = idx

    def solve(self) -> np.ndarray:
        """The least-squares multipliers on the support (B_S B_S^T z = B_S c)."""
        q = self.rows @ self.c
        half = solve_triangular(self.L, q, lower=True, check_finite=False)
        return solve_triangular(self.L, half, lower=True, trans=1, check_finite=False)


def cone_support(g: np.ndarray, A: np.ndarray) -> float:
    """max { g^T u : ||u||_2 <= 1, A u >= 0 }: the price of :func:`cone_price`."""
    return cone_price(g, A)[0]


def max_cone_support(
    G: np.ndarray, cone_rows: list[np.ndarray] | np.ndarray, cheap: np.ndarray | None = None
) -> float:
    """max_i cone_support(G[i], cone_rows[i]) by branch and bound on the cone-free bound.

    ``cheap`` (default ``||G[i]||``) must bound each term from above; groups whose bound is
    below the best exact value found so far are never projected.
    """
    if len(G) == 0:
        return 0.0
    if cheap is None:
        cheap = np.linalg.norm(G, axis=1)
    best = 0.0
    for i in np.argsort(-cheap):
        if cheap[i] <= best:
            break
        best = max(best, cone_support(G[i], cone_rows[i]))
    return best


def atom_price(
    g: np.ndarray, rows: np.ndarray, tol: float = 1e-10, threads: int = 1,
    scale: float | None = None,
) -> tuple[float, np.ndarray, np.ndarray]:
    """max sum_j g_j^T q_j s.t. sum_j ||q_j|| <= 1, rows @ vec(q) >= 0, for g of shape (m, d).

    Solved as an SOCP in Clarabel; the price is an upper bound (the dual objective, up to the
    solver's accuracy, or the Lagrangian bound of the multipliers when smaller; see
    :func:`atom_prices`).  Returns the price, the maximizer q (m, d) and the multipliers of
    the rows (n_rows,).
    """
    return atom_prices([g], [rows], tol=tol, threads=threads,
                       scales=None if scale is None else [scale])[0]


def atom_prices(
    gs: list[np.ndarray], rows_list: list, tol: float = 1e-10, threads: int = 1,
    scales: list[float] | None = None,
) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """:func:`atom_price` of B atoms (``gs[i]`` of shape (m, d), ``rows_list[i]`` dense or
    scipy.sparse (r_i, m d)) by ONE Clarabel SOCP, block-separable across the atoms.

    Variables [q_i (m d), t_i (m)] per atom; min -sum_i g_i^T q_i / s_i subject to
    rows_i q_i >= 0, sum_j t_ij <= 1 and ||q_ij|| <= t_ij, with s_i = max_j ||g_ij|| (or
    ``scales[i]``, e.g. a known bound on the price, when given): every block's price is then
    at most 1, so the solver's absolute tolerances mean the same for every atom whatever its
    scale (prices and multipliers are homogeneous in g).  Per atom the
    price is the larger of its primal value and the smaller of two upper bounds: its dual
    objective (the budget's multiplier, an upper bound up to the solver's accuracy) and the
    Lagrangian bound max_j ||g_j + (rows^T mu)_j|| of its multipliers mu >= 0 (a bound for
    any mu >= 0).  An atom of a batch whose Lagrangian bound and primal value differ by more
    than ``PRICE_GAP`` max_j ||g_j|| (the solver stops on the accuracy of the whole problem,
    not of each block) is solved again on its own.  Returns (price, maximizer q (m, d),
    multipliers of the rows (r_i,)) per atom.
    """
    B = len(gs)
    m, d = gs[0].shape if B else (0, 0)
    md, nv = m * d, m * d + m  # variables per atom
    out: list[tuple[float, np.ndarray, np.ndarray]] = [
        (0.0, np.zeros((m, d)), np.zeros(rows.shape[0])) for rows in rows_list
    ]
    if scales is None:
        scales = [float(np.linalg.norm(g, axis=1).max(initial=0.0)) for g in gs]
    scales = np.asarray(scales, dtype=float)
    live = np.flatnonzero(scales > 0)  # g = 0: price 0 at q = 0
    L = len(live)
    if L == 0:
        return out
    # linear rows first (the nonnegative cone: -rows_i q_i + s = 0), all-zero rows dropped
    r_idx, c_idx, vals, kept, offsets = [], [], [], [], []
    n_lin = 0
    for pos, i in enumerate(live):
        K = sp.coo_matrix(rows_list[i])
        K.eliminate_zeros()
        keep, local = np.unique(K.row, return_inverse=True)
        r_idx.append(n_lin + local)
        c_idx.append(pos * nv + K.col)
        vals.append(-K.data)
        kept.append(keep)
        offsets.append(n_lin)
        n_lin += len(keep)
    # the budgets sum_j t_ij + s = 1, one nonnegative row per atom
    r_idx.append(n_lin + np.repeat(np.arange(L), m))
    c_idx.append((np.arange(L)[:, None] * nv + md + np.arange(m)).ravel())
    vals.append(np.ones(L * m))
    # second-order cones (t_ij, q_ij): -(t_ij, q_ij) + s = 0
    blk = np.arange(L)[:, None, None]
    j = np.arange(m)[None, :, None]
    k = np.arange(d + 1)[None, None, :]
    soc_rows = n_lin + L + (blk * m + j) * (d + 1) + k  # (L, m, d + 1)
    soc_cols = np.where(k == 0, blk * nv + md + j, blk * nv + j * d + k - 1)
    r_idx.append(soc_rows.ravel())
    c_idx.append(np.broadcast_to(soc_cols, soc_rows.shape).ravel())
    vals.append(-np.ones(soc_rows.size))
    n_con = n_lin + L + L * m * (d + 1)
    A = sp.csc_matrix((np.concatenate(vals), (np.concatenate(r_idx), np.concatenate(c_idx))),
                      shape=(n_con, L * nv))
    b = np.zeros(n_con)
    b[n_lin:n_lin + L] = 1.0
    G = np.stack([gs[i].reshape(md) / scales[i] for i in live])  # (L, m d)
    c = np.concatenate([-G, np.zeros((L, m))], axis=1).ravel()
    cones = [clarabel.NonnegativeConeT(n_lin + L)] + [clarabel.SecondOrderConeT(d + 1)] * (L * m)
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.tol_gap_abs = settings.tol_gap_rel = tol
    settings.tol_feas = tol
    settings.max_threads = max(int(threads), 0)
    solver = clarabel.DefaultSolver(sp.csc_matrix((L * nv, L * nv)), c, A, b, cones, settings)
    sol = solver.solve()
    x = np.asarray(sol.x).reshape(L, nv)
    z = np.asarray(sol.z)
    Q = x[:, :md]
    # the dual objective of block i of the min problem is -z_budget_i; its negation bounds
    # the (scaled) price from above
    dual = z[n_lin:n_lin + L]
    primal = np.einsum("ij,ij->i", G, Q)
    # for ANY mu >= 0, max_j ||g_j + (K^T mu)_j|| bounds the price (weak duality): with the
    # solver's multipliers it is a proof, and tighter than the dual objective when the solver
    # stopped short of its tolerances
    w = -(A[:n_lin].T @ np.maximum(z[:n_lin], 0.0)).reshape(L, nv)[:, :md]
    lagrange = np.linalg.norm((G + w).reshape(L, m, d), axis=2).max(axis=1)
    price = np.fmax(primal, np.fmin(np.where(np.isfinite(dual), dual, np.nan), lagrange))
    # the solver stops on the whole problem's accuracy: an atom of a batch whose price is not
    # proved to PRICE_GAP is solved again on its own
    alone = (L > 1) & ~(np.abs(lagrange - primal) <= PRICE_GAP)
    for pos, i in enumerate(live):
        if alone[pos]:
            out[i] = atom_prices([gs[i]], [rows_list[i]], tol=tol, threads=threads,
                                 scales=[scales[i]])[0]
            continue
        mu = np.zeros(rows_list[i].shape[0])  # multipliers of the rows (Lagrangian bounds)
        mu[kept[pos]] = np.maximum(z[offsets[pos]:offsets[pos] + len(kept[pos])], 0.0)
        out[i] = (float(price[pos] * scales[i]), Q[pos].reshape(m, d).copy(), mu * scales[i])
    return out

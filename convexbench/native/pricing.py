"""Exact pricing of groups against a dual point (MATH.md §2): the largest inner product of
``lam^T A_g u`` over the unit ball of a group intersected with its cone.

* two-layer ReLU: ||projection of g onto {u : S X u >= 0}||, by non-negative least squares
  (:func:`convexbench.programs.cones.cone_price`, shared with the certificates);
* three-layer atoms: a small SOCP, max sum_j g_j^T q_j over sum_j ||q_j|| <= 1 and the atom's
  first- and second-layer cone rows, solved with Clarabel directly.

Each function returns the price and a maximizer (a point of the group's cone), which seeds the
cone rows of a newly added group.
"""

from __future__ import annotations

import clarabel
import numpy as np
import scipy.sparse as sp

PRICE_GAP = 1e-9  # accuracy asked of each atom of a batch, relative to max_j ||g_j||


def multiplier_bounds(g: np.ndarray, w: np.ndarray) -> np.ndarray:
    """min_{t >= 0} ||g_c + t w_c|| per row c: upper bounds on cone prices from old
    multipliers (w_c = A_c^T mu_c for any mu_c >= 0)."""
    ww = np.einsum("cd,cd->c", w, w)
    gw = np.einsum("cd,cd->c", g, w)
    t = np.where(ww > 0, np.maximum(-gw, 0.0) / np.where(ww > 0, ww, 1.0), 0.0)
    return np.linalg.norm(g + t[:, None] * w, axis=1)


def halfspace_bounds(norms: np.ndarray, vals: np.ndarray, row_norms: np.ndarray
                     ) -> np.ndarray:
    """Upper bounds on cone prices from the single most violated row of each column.

    ``vals`` (n, C) holds a_i^T g_c; projecting g_c onto {u : a_i^T u >= 0} leaves
    sqrt(||g_c||^2 - (a_i^T g_c)_-^2 / ||a_i||^2), which bounds the price over the cone.
    """
    safe = np.where(row_norms > 0, row_norms, np.inf)
    worst = np.max(np.maximum(-vals, 0.0) / safe[:, None], axis=0)
    return np.sqrt(np.maximum(norms**2 - worst**2, 0.0))


def atom_price(
    g: np.ndarray, rows: np.ndarray, tol: float = 1e-10, threads: int = 1
) -> tuple[float, np.ndarray, np.ndarray]:
    """max sum_j g_j^T q_j s.t. sum_j ||q_j|| <= 1, rows @ vec(q) >= 0, for g of shape (m, d).

    Solved as an SOCP in Clarabel; the price is an upper bound (the dual objective, up to the
    solver's accuracy, or the Lagrangian bound of the multipliers when smaller; see
    :func:`atom_prices`).  Returns the price, the maximizer q (m, d) and the multipliers of
    the rows (n_rows,).
    """
    return atom_prices([g], [rows], tol=tol, threads=threads)[0]


def atom_prices(
    gs: list[np.ndarray], rows_list: list, tol: float = 1e-10, threads: int = 1
) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """:func:`atom_price` of B atoms (``gs[i]`` of shape (m, d), ``rows_list[i]`` dense or
    scipy.sparse (r_i, m d)) by ONE Clarabel SOCP, block-separable across the atoms.

    Variables [q_i (m d), t_i (m)] per atom; min -sum_i g_i^T q_i / s_i subject to
    rows_i q_i >= 0, sum_j t_ij <= 1 and ||q_ij|| <= t_ij, with s_i = max_j ||g_ij||: every
    block's price is then at most 1, so the solver's absolute tolerances mean the same for
    every atom whatever its scale (prices and multipliers are homogeneous in g).  Per atom the
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
    scales = np.array([float(np.linalg.norm(g, axis=1).max(initial=0.0)) for g in gs])
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
            out[i] = atom_prices([gs[i]], [rows_list[i]], tol=tol, threads=threads)[0]
            continue
        mu = np.zeros(rows_list[i].shape[0])  # multipliers of the rows (Lagrangian bounds)
        mu[kept[pos]] = np.maximum(z[offsets[pos]:offsets[pos] + len(kept[pos])], 0.0)
        out[i] = (float(price[pos] * scales[i]), Q[pos].reshape(m, d).copy(), mu * scales[i])
    return out

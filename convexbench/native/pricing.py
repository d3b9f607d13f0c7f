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

    Solved as an SOCP in Clarabel; the dual objective is used (it bounds the price from
    above up to the solver's accuracy).  Returns the price, the maximizer q (m, d) and the
    multipliers of the rows (n_rows,).
    """
    m, d = g.shape
    nq = m * d
    n_rows = rows.shape[0]
    keep = np.flatnonzero(np.any(rows != 0, axis=1))
    rows = rows[keep]
    nr = rows.shape[0]
    # variables [q (m d), t (m)]; minimize -g^T q
    c = np.concatenate([-g.ravel(), np.zeros(m)])
    lin = sp.csr_matrix(-rows) if nr else sp.csr_matrix((0, nq))
    budget = sp.hstack([sp.csr_matrix((1, nq)), sp.csr_matrix(np.ones((1, m)))])
    soc_rows = []
    for j in range(m):
        t_row = sp.csr_matrix(([-1.0], ([0], [nq + j])), shape=(1, nq + m))
        q_rows = sp.csr_matrix(
            (-np.ones(d), (np.arange(d), j * d + np.arange(d))), shape=(d, nq + m)
        )
        soc_rows += [t_row, q_rows]
    A = sp.vstack(
        [sp.hstack([lin, sp.csr_matrix((nr, m))]), budget, *soc_rows]
    ).tocsc()
    b = np.zeros(A.shape[0])
    b[nr] = 1.0
    cones = [clarabel.NonnegativeConeT(nr + 1)] + [clarabel.SecondOrderConeT(d + 1)] * m
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.tol_gap_abs = settings.tol_gap_rel = tol
    settings.tol_feas = tol
    settings.max_threads = max(int(threads), 0)
    solver = clarabel.DefaultSolver(sp.csc_matrix((nq + m, nq + m)), c, A, b, cones, settings)
    sol = solver.solve()
    q = np.asarray(sol.x[:nq]).reshape(m, d)
    # dual objective of the min problem is -b^T z; the price is its negation, an upper bound
    dual_price = float(np.asarray(sol.z) @ b)
    primal_price = float(g.ravel() @ q.ravel())
    price = max(dual_price, primal_price) if np.isfinite(dual_price) else primal_price
    mu = np.zeros(n_rows)  # multipliers of the cone rows (Lagrangian bound for later)
    mu[keep] = np.maximum(np.asarray(sol.z[:nr]), 0.0)
    return price, q, mu

"""Dual norms over polyhedral cones: the one NNLS projection that prices a group, used by the
certificates (``programs/``) and the native solver (``native/families.py``)."""

from __future__ import annotations

import numpy as np
from scipy.optimize import nnls

VIOLATION_RTOL = 1e-12  # a row counts as violated below -VIOLATION_RTOL ||g|| ||a_i||
MAX_ROUNDS = 50  # row-generation rounds; more only tightens the (valid) upper bound


def cone_price(g: np.ndarray, A: np.ndarray, start_rows: int | None = None
               ) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """max {g^T u : ||u|| <= 1, A u >= 0}, the (unnormalized) projection u = g + A^T mu of g
    onto {u : A u >= 0}, and the multipliers mu as (rows, values).

    By Moreau's decomposition the projection is g + A^T mu* with
    mu* = argmin_{mu >= 0} ||g + A^T mu||, a non-negative least-squares problem, and the
    price is its norm.  Row generation: NNLS on the most violated rows only, then add the rows
    its projection violates until none is left.  A restricted NNLS (or an inexact one) always
    gives an upper bound, and when its projection satisfies every row the KKT conditions of
    the full projection hold: exact.  The violation test is relative to ||g|| and to each
    row's norm, so the answer does not depend on the scale of g or A.
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
    u, mu = g, np.zeros(len(rows))
    for _ in range(MAX_ROUNDS):
        sub = A[rows]
        try:
            mu, _ = nnls(sub.T, -g, maxiter=50 * max(len(rows), 10))
        except RuntimeError:  # iteration limit: the cone-free value is a valid upper bound
            return float(np.linalg.norm(g)), g.copy(), *none
        u = g + sub.T @ mu
        vals = A @ u
        bad = np.flatnonzero(vals < -tol)
        if len(bad) == 0:
            break
        extra = bad[np.argsort(vals[bad])[: max(len(rows), 1)]]
        rows = np.union1d(rows, extra)
    keep = mu > 0
    return float(np.linalg.norm(u)), u, rows[keep], mu[keep]


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

"""Dual norms over polyhedral cones, used to price groups in the dual certificates."""

from __future__ import annotations

import numpy as np
from scipy.optimize import nnls


def cone_support(g: np.ndarray, A: np.ndarray) -> float:
    """max { g^T u : ||u||_2 <= 1, A u >= 0 } = ||projection of g onto {u : A u >= 0}||.

    By Moreau's decomposition the projection is g + A^T lam* with
    lam* = argmin_{lam >= 0} ||g + A^T lam||, a non-negative least-squares problem; any
    lam >= 0 gives an upper bound, so an inexact solve still yields a valid (larger) value.
    """
    if not np.any(g):
        return 0.0
    if A.shape[0] == 0:
        return float(np.linalg.norm(g))
    try:
        _, rnorm = nnls(A.T, -g, maxiter=50 * A.shape[0])
    except RuntimeError:  # iteration limit: fall back to the cone-free bound
        return float(np.linalg.norm(g))
    return float(rnorm)


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

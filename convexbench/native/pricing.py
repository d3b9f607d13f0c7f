"""Cheap upper bounds on the prices of groups against a dual point (MATH.md §2), the largest
inner product of ``lam^T A_g u`` over the unit ball of a group intersected with its cone.  The
exact prices come from ``programs/cones.py``, shared with the certificates:

* two-layer ReLU: ||projection of g onto {u : S X u >= 0}||, by non-negative least squares
  (:func:`convexbench.programs.cones.cone_price`);
* three-layer atoms: a small SOCP, max sum_j g_j^T q_j over sum_j ||q_j|| <= 1 and the atom's
  first- and second-layer cone rows, solved with Clarabel directly
  (:func:`convexbench.programs.cones.atom_prices`).

Both return the price and a maximizer (a point of the group's cone), which seeds the cone rows
of a newly added group.
"""

from __future__ import annotations

import numpy as np


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

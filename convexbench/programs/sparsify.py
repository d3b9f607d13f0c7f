"""Carathéodory purification: an optimal solution with at most n + 1 nonzero groups.

Interior-point solvers return the relative interior of the optimal face, which can use many
more groups than needed when the optimum is not unique.  Every group's contribution to the
predictions and to the penalty is linear in a positive rescaling of the group, and positive
rescaling keeps every cone constraint, so moving along a null direction of the
(n + 1) x k matrix [contributions; norms] keeps predictions and objective fixed while a group
reaches zero.  Repeating until the matrix has full column rank leaves at most n + 1 groups:
the sparse optimum whose existence MATH.md §2 (claim 4) asserts.
"""

from __future__ import annotations

import numpy as np

from convexbench.programs.base import ConvexProgram, Solution


def _units(program: ConvexProgram, solution: Solution):
    """Rescalable units of the solution: (key, index) of each nonzero group or atom."""
    if program.model == "relu3":
        norms = {k: np.linalg.norm(solution[k], axis=2).sum(axis=1) for k in ("W", "Wp")}
    else:
        norms = {k: np.linalg.norm(v, axis=1) for k, v in solution.items() if k in ("V", "W", "U")}
    return norms


def _contribution(program: ConvexProgram, key: str, index: np.ndarray, solution: Solution):
    """Predictions of the given groups alone, shape (n, k)."""
    block = solution[key][index]
    if program.model == "relu3":
        pre = np.einsum("nd,gmd->ngm", program.X, block)
        h = np.einsum("ngm,ngm->ng", program.first[:, index, :], pre)
        out = program.second[:, index] * h
        return -out if key == "Wp" else out
    out = program.masks[:, index] * (program.X @ block.T)
    return -out if key == "W" else out


def sparsify(program: ConvexProgram, solution: Solution, rel_tol: float = 1e-6) -> Solution:
    """A solution with the same predictions and penalty and at most n + 1 nonzero groups."""
    out = {k: np.array(v, copy=True) for k, v in solution.items()}
    norms = _units(program, out)
    top = max((float(v.max(initial=0.0)) for v in norms.values()), default=0.0)
    if top == 0.0:
        return out
    cut = rel_tol * top
    for key in norms:  # groups below rel_tol of the largest are solver noise: drop them
        small = norms[key] <= cut
        out[key][small] = 0.0
        norms[key] = np.where(small, 0.0, norms[key])
    members = [(key, int(i)) for key in norms for i in np.flatnonzero(norms[key])]
    if len(members) <= program.n + 1:
        return out
    columns = []
    for key in norms:
        index = np.flatnonzero(norms[key])
        if len(index):
            columns.append(np.vstack([_contribution(program, key, index, out), norms[key][index]]))
    A = np.hstack(columns)  # (n + 1, k): contributions and norms of each unit
    scale = np.linalg.norm(A, axis=0)
    _, sing, Vt = np.linalg.svd(A / scale, full_matrices=True)
    rank = int(np.sum(sing > 1e-10 * sing[0]))
    null = (Vt[rank:] / scale).T  # (k, m): A @ null = 0
    theta = np.ones(A.shape[1])  # unit i is rescaled by theta_i >= 0
    for col in range(null.shape[1]):
        direction = null[:, col]
        if not np.any(direction < -1e-15):
            direction = -direction
        neg = direction < -1e-15
        if not np.any(neg):
            continue
        ratios = np.full(len(theta), np.inf)
        ratios[neg] = theta[neg] / -direction[neg]
        first = int(np.argmin(ratios))
        theta = np.maximum(theta + ratios[first] * direction, 0.0)
        theta[first] = 0.0
        # keep the remaining null directions from moving the eliminated unit again
        rest = null[:, col + 1 :]
        rest -= np.outer(direction, rest[first] / direction[first])
    alive = theta > 1e-12
    for position, (key, i) in enumerate(members):
        out[key][i] *= theta[position] if alive[position] else 0.0
    return out

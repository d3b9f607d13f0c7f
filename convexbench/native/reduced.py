"""The restricted program on a small working set, solved accurately by Clarabel directly.

    min_x  1/2 ||sum_c A_c x_c - y||^2 + beta sum_{c, j} ||x_cj||   s.t.  selected rows K x >= 0

with a few columns (k) and only the cone rows the outer loop has selected.  The conic form is
built here with sparse matrices (no cvxpy): variables [x (k m d), t (k m)] with (t_b, x_b) in a
second-order cone per block and P = A^T A (Gram form, dense k m d square; used while k m d is
at most n), or variables [x, t, r] with r = A x - y and P = I on r (residual form, otherwise).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import clarabel
import numpy as np
import scipy.sparse as sp

_OK = {"Solved", "AlmostSolved"}


@dataclass
class ReducedResult:
    x: np.ndarray  # (k, m d)
    status: str  # Clarabel's status as text
    iterations: int
    seconds: float

    @property
    def ok(self) -> bool:
        return self.status in _OK


def _soc_block(n_blocks: int, d: int, x_offset: int, t_offset: int, n_vars: int) -> sp.csc_matrix:
    """Rows -[t_b; x_b] of each second-order cone (t_b, x_b), stacked block after block."""
    per = d + 1
    rows = np.arange(n_blocks * per)
    b = rows // per
    within = rows % per
    cols = np.where(within == 0, t_offset + b, x_offset + b * d + within - 1)
    return sp.csc_matrix((-np.ones(len(rows)), (rows, cols)), shape=(len(rows), n_vars))


def solve_reduced(
    A: np.ndarray,
    y: np.ndarray,
    beta: float,
    m: int,
    owner: np.ndarray,
    rows: np.ndarray,
    tol: float = 1e-9,
    time_limit: float | None = None,
    direct_solve_method: str | None = None,
) -> ReducedResult:
    """Solve the restricted program: ``A`` (k, n, m d) prediction blocks, cone rows ``rows``
    (r, m d) owned by the columns ``owner`` (r,)."""
    start = time.perf_counter()
    k, n, md = A.shape
    d = md // m
    nx, nt = k * md, k * m
    flat = A.transpose(1, 0, 2).reshape(n, nx)  # (n, k m d)
    gram = nx <= 4 * n  # the residual form makes Clarabel factor a dense n x n front
    n_vars = nx + nt + (0 if gram else n)
    q = np.zeros(n_vars)
    q[nx : nx + nt] = beta
    blocks: list[sp.spmatrix] = []
    cones: list = []
    b_parts: list[np.ndarray] = []
    if gram:
        H = flat.T @ flat
        P = sp.block_diag([sp.triu(sp.csc_matrix(H)), sp.csc_matrix((nt, nt))], format="csc")
        q[:nx] = -(flat.T @ y)
    else:
        P = sp.block_diag(
            [sp.csc_matrix((nx + nt, nx + nt)), sp.identity(n, format="csc")], format="csc"
        )
        # A x - r = y  as a zero cone:  [A, 0, -I] v + s = y, s = 0
        eq = sp.hstack([sp.csc_matrix(flat), sp.csc_matrix((n, nt)), -sp.identity(n)])
        blocks.append(eq)
        b_parts.append(y)
        cones.append(clarabel.ZeroConeT(n))
    if len(owner):
        r_idx = np.repeat(np.arange(len(owner)), md)
        c_idx = (owner[:, None] * md + np.arange(md)[None, :]).ravel()
        vals = -rows.ravel()
        nz = vals != 0
        lin = sp.csc_matrix((vals[nz], (r_idx[nz], c_idx[nz])), shape=(len(owner), n_vars))
        blocks.append(lin)
        b_parts.append(np.zeros(len(owner)))
        cones.append(clarabel.NonnegativeConeT(len(owner)))
    blocks.append(_soc_block(nt, d, 0, nx, n_vars))
    b_parts.append(np.zeros(nt * (d + 1)))
    cones += [clarabel.SecondOrderConeT(d + 1)] * nt
    Amat = sp.vstack(blocks, format="csc")
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.tol_gap_abs = settings.tol_gap_rel = tol
    settings.tol_feas = tol
    settings.tol_ktratio = min(1e-6, tol)
    settings.max_iter = 200
    if direct_solve_method:
        settings.direct_solve_method = direct_solve_method
    if time_limit is not None:
        settings.time_limit = max(float(time_limit), 1e-3)
    solver = clarabel.DefaultSolver(P, q, Amat, np.concatenate(b_parts), cones, settings)
    sol = solver.solve()
    x = np.asarray(sol.x[:nx], dtype=float).reshape(k, md)
    return ReducedResult(x, str(sol.status), int(sol.iterations), time.perf_counter() - start)

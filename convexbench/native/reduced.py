"""The restricted program on a small working set, solved accurately by Clarabel directly.

    min_x  1/2 ||sum_c A_c x_c - y||^2 + beta sum_{c, j} ||x_cj||   s.t.  selected rows K x >= 0

with a few columns (k) and only the cone rows the outer loop has selected.  The conic form is
built here with sparse matrices (no cvxpy): variables [x (k m d), t (k m)] with (t_b, x_b) in a
second-order cone per block, P = A^T A (dense k m d square, the caller accumulates it over row
chunks) and q = -A^T y.  A residual form (r = A x - y, P = I on r) was measured much slower:
Clarabel then factors a dense n x n front.
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


def _upper_csc(H: np.ndarray) -> sp.csc_matrix:
    """The upper triangle of a dense symmetric matrix as CSC, without index-pair temporaries
    (column j of the upper triangle is row j of the lower one)."""
    N = H.shape[0]
    counts = np.arange(1, N + 1)
    indptr = np.zeros(N + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    indices = (np.arange(indptr[-1]) - np.repeat(indptr[:-1], counts)).astype(np.int32)
    data = H[np.tri(N, dtype=bool)]
    return sp.csc_matrix((data, indices, indptr), shape=(N, N))


def solve_reduced(
    H: np.ndarray,
    Aty: np.ndarray,
    beta: float,
    m: int,
    d: int,
    owner: np.ndarray,
    rows: np.ndarray,
    tol: float = 1e-9,
    time_limit: float | None = None,
    direct_solve_method: str | None = None,
    threads: int = 1,
) -> ReducedResult:
    """Solve the restricted program given its Gram matrix ``H`` = A^T A and ``Aty`` = A^T y
    (A: the k columns' prediction blocks side by side, k m d wide), with cone rows ``rows``
    (r, m d) owned by the columns ``owner`` (r,)."""
    start = time.perf_counter()
    nx = H.shape[0]
    md = m * d
    k = nx // md
    nt = k * m
    n_vars = nx + nt
    q = np.zeros(n_vars)
    q[:nx] = -Aty
    q[nx:] = beta
    P = sp.block_diag([_upper_csc(H), sp.csc_matrix((nt, nt))], format="csc")
    blocks: list[sp.spmatrix] = []
    cones: list = []
    b_parts: list[np.ndarray] = []
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
    settings.max_threads = max(int(threads), 0)
    if direct_solve_method:
        settings.direct_solve_method = direct_solve_method
    if time_limit is not None:
        settings.time_limit = max(float(time_limit), 1e-3)
    solver = clarabel.DefaultSolver(P, q, Amat, np.concatenate(b_parts), cones, settings)
    sol = solver.solve()
    x = np.asarray(sol.x[:nx], dtype=float).reshape(k, md)
    return ReducedResult(x, str(sol.status), int(sol.iterations), time.perf_counter() - start)

"""The restricted program on a small working set, solved accurately by Clarabel directly.

    min_x  1/2 ||sum_c A_c x_c - y||^2 + beta sum_{c, j} ||x_cj||   s.t.  selected rows K x >= 0

with a few columns (k) and only the cone rows the outer loop has selected.  The conic form is
built here with sparse matrices (no cvxpy): variables [x (k m d), t (k m)] with (t_b, x_b) in a
second-order cone per block, P = A^T A (dense k m d square, the caller accumulates it over row
chunks) and q = -A^T y.  A residual form (r = A x - y, P = I on r) was measured much slower:
Clarabel then factors a dense n x n front.

The hinge and logistic losses (``solve_reduced_loss``) have no Gram form: their restricted
program is built from A itself, with n slacks (hinge) or 2 n exponential cones (logistic).
"""

from __future__ import annotations

import functools
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
    direction: np.ndarray | None = None  # a dual direction (n,) when the solver provides one
    # multipliers (>= 0) of the cone rows passed to the solver, in their order, when it
    # provides them: for any such mu_c, max_j ||g_cj + (K_c^T mu_c)_j|| bounds column c's
    # price (weak duality), about beta for the columns of a solved working set
    row_duals: np.ndarray | None = None

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


def _group_constraints(nx: int, m: int, d: int, owner: np.ndarray, rows: np.ndarray,
                       n_vars: int) -> tuple[list[sp.spmatrix], list[np.ndarray], list]:
    """Selected cone rows K x >= 0 (rows (r, m d) owned by the columns ``owner``) and one
    second-order cone (t_b, x_b) per block, for variables [x (nx), t (nx / d), ...]."""
    md, nt = m * d, nx // d
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
    return blocks, b_parts, cones


PREFERRED_METHOD = "faer"  # Clarabel's KKT solver for the restricted programs when the build
# has it: its supernodal LDL factors their dense n x N prediction block faster than QDLDL, one
# thread each (measured on the restricted hinge programs of uci:credit-approval at 1e-3
# lambda_max: relu2 25-40% faster, relu3 10-20%, the same iterations)


def clarabel_method_error(method: str) -> str | None:
    """None if this Clarabel build accepts ``direct_solve_method=method`` (tried on a
    one-variable program), else why not."""
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    try:
        settings.direct_solve_method = method
        clarabel.DefaultSolver(sp.csc_matrix((1, 1)), np.array([1.0]),
                               sp.csc_matrix(np.array([[-1.0]])), np.array([0.0]),
                               [clarabel.NonnegativeConeT(1)], settings).solve()
    except Exception as exc:  # an unsupported method is reported, not raised
        return f"clarabel {method} KKT solver not available in this build ({exc})"
    return None


@functools.lru_cache(maxsize=1)
def default_method() -> str | None:
    """``PREFERRED_METHOD`` if this Clarabel build accepts it (checked once), else None
    (Clarabel's own default)."""
    return None if clarabel_method_error(PREFERRED_METHOD) else PREFERRED_METHOD


def _settings(tol: float, time_limit: float | None, direct_solve_method: str | None,
              threads: int) -> clarabel.DefaultSettings:
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.tol_gap_abs = settings.tol_gap_rel = tol
    settings.tol_feas = tol
    settings.tol_ktratio = min(1e-6, tol)
    settings.max_iter = 200
    settings.max_threads = max(int(threads), 0)
    method = direct_solve_method or default_method()
    if method:
        settings.direct_solve_method = method
    if time_limit is not None:
        settings.time_limit = max(float(time_limit), 1e-3)
    return settings


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
    k = nx // (m * d)
    nt = nx // d
    n_vars = nx + nt
    q = np.zeros(n_vars)
    q[:nx] = -Aty
    q[nx:] = beta
    P = sp.block_diag([_upper_csc(H), sp.csc_matrix((nt, nt))], format="csc")
    blocks, b_parts, cones = _group_constraints(nx, m, d, owner, rows, n_vars)
    settings = _settings(tol, time_limit, direct_solve_method, threads)
    solver = clarabel.DefaultSolver(P, q, sp.vstack(blocks, format="csc"),
                                    np.concatenate(b_parts), cones, settings)
    sol = solver.solve()
    x = np.asarray(sol.x[:nx], dtype=float).reshape(k, m * d)
    return ReducedResult(x, str(sol.status), int(sol.iterations), time.perf_counter() - start)


def solve_reduced_loss(
    A: np.ndarray,
    y: np.ndarray,
    loss: str,
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
    """The restricted program with the squared, hinge or logistic loss (labels +-1 for the
    last two), from the prediction operator ``A`` (n, k m d) itself:

    * squared: min 1/2 ||r||^2 + beta sum t, A x - r = y (n dense rows instead of the dense
      N x N Gram matrix: the form for working sets wider than the data has rows);

    * hinge: min sum s + beta sum t, s >= 0, s_i >= 1 - y_i (A x)_i.  The multipliers
      alpha of the margin rows give the dual direction -y alpha (``ReducedResult.direction``),
      which a subgradient at the optimum cannot (margins exactly 1);
    * logistic: log(1 + exp(u_i)) <= s_i with u = -y * (A x), written as
      exp(u_i - s_i) <= a_i, exp(-s_i) <= b_i, a_i + b_i <= 1 (two exponential cones each).
    """
    start = time.perf_counter()
    n, nx = A.shape
    k, nt = nx // (m * d), nx // d
    n_loss = 3 * n if loss == "logistic" else n  # r, s, or s, a, b
    n_vars = nx + nt + n_loss
    s0 = nx + nt
    q = np.zeros(n_vars)
    q[nx:s0] = beta
    if loss != "squared":
        q[s0:s0 + n] = 1.0
    P = sp.csc_matrix((n_vars, n_vars))
    blocks, b_parts, cones = _group_constraints(nx, m, d, owner, rows, n_vars)
    yA = None if loss == "squared" else sp.csc_matrix(y[:, None] * A)
    eye = sp.identity(n, format="csc")
    if loss == "squared":
        fit = sp.hstack([sp.csc_matrix(A), sp.csc_matrix((n, nt)), -eye], format="csc")
        blocks = [fit] + blocks
        b_parts = [y] + b_parts
        cones = [clarabel.ZeroConeT(n)] + cones
        P = sp.csc_matrix((np.ones(n), (s0 + np.arange(n), s0 + np.arange(n))),
                          shape=(n_vars, n_vars))
    elif loss == "hinge":
        # margin rows first: their multipliers are alpha
        margin = sp.hstack([-yA, sp.csc_matrix((n, nt)), -eye], format="csc")
        nonneg = sp.hstack([sp.csc_matrix((n, nx + nt)), -eye], format="csc")
        blocks = [margin, nonneg] + blocks
        b_parts = [-np.ones(n), np.zeros(n)] + b_parts
        cones = [clarabel.NonnegativeConeT(2 * n)] + cones
    elif loss == "logistic":
        a0, b0 = s0 + n, s0 + 2 * n
        i = np.arange(n)
        # exp cone triples (x, y, z) in R^3 with y exp(x / y) <= z, rows of b - G v:
        # (-y_i (A x)_i - s_i, 1, a_i) and (-s_i, 1, b_i); then a + b <= 1
        rows_x = sp.csr_matrix((np.ones(n), (3 * i, i)), shape=(3 * n, n)) @ yA
        first = sp.hstack([rows_x, sp.csc_matrix((3 * n, n_vars - nx))], format="csc")
        ones = np.ones(n)
        first = first + sp.csc_matrix((ones, (3 * i, s0 + i)), shape=(3 * n, n_vars))
        first = first - sp.csc_matrix((ones, (3 * i + 2, a0 + i)), shape=(3 * n, n_vars))
        g1 = sp.csc_matrix((np.concatenate([ones, -ones]),
                            (np.concatenate([3 * i, 3 * i + 2]),
                             np.concatenate([s0 + i, b0 + i]))), shape=(3 * n, n_vars))
        h = np.zeros(3 * n)
        h[1::3] = 1.0
        budget = sp.csc_matrix((np.concatenate([ones, ones]),
                                (np.concatenate([i, i]), np.concatenate([a0 + i, b0 + i]))),
                               shape=(n, n_vars))
        blocks = [first, g1, budget] + blocks
        b_parts = [h, h.copy(), np.ones(n)] + b_parts
        cones = [clarabel.ExponentialConeT()] * (2 * n) + [clarabel.NonnegativeConeT(n)] + cones
    else:
        raise ValueError(f"solve_reduced_loss: unknown loss {loss!r}")
    settings = _settings(tol, time_limit, direct_solve_method, threads)
    solver = clarabel.DefaultSolver(P, q, sp.vstack(blocks, format="csc"),
                                    np.concatenate(b_parts), cones, settings)
    sol = solver.solve()
    x = np.asarray(sol.x[:nx], dtype=float).reshape(k, m * d)
    direction = None
    if loss == "hinge":
        alpha = np.clip(np.asarray(sol.z[:n], dtype=float), 0.0, 1.0)
        direction = -y * alpha
    return ReducedResult(x, str(sol.status), int(sol.iterations), time.perf_counter() - start,
                         direction)

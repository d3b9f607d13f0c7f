"""Cholesky factorization in place that reads the clock (native solves under a time limit)."""

from __future__ import annotations

import numpy as np
from scipy.linalg import get_lapack_funcs, solve_triangular

from convexbench.native.deadline import NEVER, PIECE_FLOPS, Deadline

_CHOLESKY_PANEL = 512  # columns per step of the Cholesky factorization under a deadline
_SURE_FLOP_RATE = 1e10  # flops per second LAPACK's Cholesky surely reaches (measured here:
# ~1e11 in double precision, 2e11 in single, on 2 cores): with 4 times the time this rate
# needs left, one uninterrupted call (twice as fast as the panels at N = 12000, float32)


def cholesky_lower(M: np.ndarray, deadline: Deadline = NEVER) -> int:
    """Cholesky factor of the symmetric matrix in the lower triangle of the Fortran-ordered
    ``M`` (float32 or float64), in place, the strict upper triangle left alone (LAPACK's
    ``potrf`` with ``clean=0``); returns LAPACK's ``info`` (0: positive definite).

    Without a deadline, when the whole factorization is one piece of work
    (``deadline.PIECE_FLOPS``) or when much more time is left than it can take
    (``_SURE_FLOP_RATE``), LAPACK itself.  Otherwise left-looking by panels of
    ``_CHOLESKY_PANEL`` columns, reading the clock between products (``DeadlineExpired``):
    measured 1.1-1.3 times LAPACK's time on one core, N = 3000 and 8000."""
    N = M.shape[0]
    potrf = get_lapack_funcs("potrf", (M,))
    flops = N**3 / 3.0
    left = deadline.left()
    if left is None or flops <= PIECE_FLOPS or left > 4.0 * flops / _SURE_FLOP_RATE:
        return int(potrf(M, lower=1, clean=0, overwrite_a=1)[1])
    deadline.check()
    tl = None
    for j in range(0, N, _CHOLESKY_PANEL):
        e = min(j + _CHOLESKY_PANEL, N)
        D = np.tril(M[j:e, j:e])
        if j:
            left = M[j:e, :j]  # the panel's rows of the finished columns of L
            D -= np.tril(left @ left.T)
            for rows in deadline.pieces(N - e, 2.0 * j * (e - j)):
                deadline.check()
                lo, hi = e + rows.start, e + rows.stop
                M[lo:hi, j:e] -= M[lo:hi, :j] @ left.T
        L, info = potrf(np.asfortranarray(D), lower=1, clean=1, overwrite_a=1)
        if info:
            return int(j + info)
        if tl is None or len(tl[0]) != (e - j) * (e - j + 1) // 2:
            tl = np.tril_indices(e - j)
        M[j:e, j:e][tl] = L[tl]
        if e < N:
            Linv_t = solve_triangular(L, np.eye(e - j, dtype=L.dtype), lower=True,
                                      check_finite=False).T
            for rows in deadline.pieces(N - e, 2.0 * (e - j) ** 2):
                lo, hi = e + rows.start, e + rows.stop
                M[lo:hi, j:e] = M[lo:hi, j:e] @ Linv_t
        deadline.check()
    return 0

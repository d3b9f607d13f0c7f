"""The gated working set's Gram matrix in single precision, with exact products.

The Newton matrix of the active-set method (``newton.py``) is the native solver's largest
array: 8 N^2 bytes in double precision, 2.5 times X and the masks on the bench's gated2
instance (N = 1140).  ``MixedGram`` keeps H = A^T W A in float32 (half of that) only to factor
the Newton matrices.  Every product with H (gradients, objective values, line searches, the
stopping test) is exact in float64, matrix-free from X and the columns' row weights
(A_c = diag(a_c) X), and every Newton solve is the float32 Cholesky solve refined by
preconditioned conjugate gradients on the exact float64 system.
"""

from __future__ import annotations

import numpy as np

from convexbench.native.deadline import NEVER, Deadline
from convexbench.native.dense_gram import PackedGram
from convexbench.native.families import ColumnFamily
from convexbench.native.gram import NewtonViews, RowWeightedProducts, conjugate_gradients

_PRECONDITIONER_RIDGES = (0.0, 1e-7, 1e-5, 1e-3)  # relative: float32 Cholesky breakdowns


class MixedGram(RowWeightedProducts, NewtonViews):
    """H = A^T W A for columns A_c = diag(a_c) X (one block of d each): float32 copy in a
    ``PackedGram`` for factoring, exact float64 products from X and ``coef`` = (n, k) a_c
    times sqrt(W)."""

    def __init__(self, X: np.ndarray, coef: np.ndarray, packed: PackedGram):
        super().__init__(X, coef)
        self.packed = packed

    def diag_blocks(self, d: int, deadline: Deadline = NEVER) -> np.ndarray:
        """The k diagonal blocks H_cc = X^T diag(a_c^2) X, exact (2 n d^2 flops each: the
        clock is read between them)."""
        sq = self.coef**2
        out = np.empty((self.k, self.d, self.d))
        for c in range(self.k):
            deadline.check()
            out[c] = (self.X * sq[:, c, None]).T @ self.X
        return out

    def solve_principal(self, idx: np.ndarray, blocks: np.ndarray, rhs: np.ndarray,
                        ridge: float = 0.0, deadline: Deadline = NEVER) -> np.ndarray | None:
        """(H[idx][:, idx] + blockdiag(blocks) + ridge I)^{-1} rhs (``idx`` whole groups, in
        order; ``blocks`` one per group): conjugate gradients on the exact system,
        preconditioned by the float32 Cholesky factor.  None when no factor exists or the
        iteration does not converge (the caller then tries a larger ridge); the factorization
        and the iteration read the clock (``DeadlineExpired``)."""
        scale = max(1.0, float(np.max(self.diag[idx])))
        for extra in _PRECONDITIONER_RIDGES:  # a ridge in the preconditioner only
            if self.packed.factor_principal(idx, blocks.astype(np.float32),
                                            ridge + extra * scale, deadline):
                break
        else:
            return None
        groups = np.asarray(idx)[::self.d] // self.d
        d = self.d

        def apply(v: np.ndarray) -> np.ndarray:
            full = np.zeros((self.k, d))
            full[groups] = v.reshape(-1, d)
            Hv = self.matvec(full.ravel()).reshape(self.k, d)[groups]
            return (Hv + np.einsum("gij,gj->gi", blocks, v.reshape(-1, d))).ravel() + ridge * v

        def precondition(v: np.ndarray) -> np.ndarray:
            return self.packed.solve_factored(idx, v.astype(np.float32)).astype(np.float64)

        return conjugate_gradients(apply, precondition, np.asarray(rhs, dtype=np.float64),
                                   deadline=deadline)


def mixed_gram(fam: ColumnFamily, cols: np.ndarray, y: np.ndarray,
               weights: np.ndarray | None = None, deadline: Deadline = NEVER
               ) -> tuple[MixedGram, np.ndarray]:
    """The ``MixedGram`` of a gated working set and A^T y (exact); the build reads the
    clock between row chunks (``DeadlineExpired``)."""
    packed, b = fam.gram(cols, y, weights=weights, dtype=np.float32, deadline=deadline)
    coef = fam.row_weights(cols)
    if weights is not None:
        coef = coef * np.sqrt(weights)[:, None]
    return MixedGram(fam.X, coef, packed), b

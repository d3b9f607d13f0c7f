"""Dense and low-rank Gram matrices H = A^T A of a working set, for the interior-point method
(``ipm.py``) and the Newton method (``newton.py``), behind the ``gram.NewtonViews`` protocol.

Two representations of H = A^T A (A: the n x N prediction operator of the working set):

* ``PackedGram`` (N <= 2 n): H lives in the *upper* triangle of a Fortran-ordered N x N array
  (its diagonal kept aside); the Newton matrix is written into the *lower* triangle and
  factored there by LAPACK (``dpotrf`` leaves the upper triangle alone).  One N x N array
  for the whole solve; Clarabel on the same program held several times as much (measured:
  resident-memory growth 90 -> 18 MB on relu2 n=1000, d=20, P=500).
* ``LowRankGram`` (N > 2 n, e.g. d = 49 images with many active groups): A itself, and the
  Newton systems B + A^T A (B block diagonal) solved by the Woodbury identity with one
  n x n Cholesky factor.  ``RowWeightedGram`` for two-layer columns A_c = diag(a_c) X keeps
  X and the weights only, and builds the n x n matrix of the Woodbury identity in Hadamard
  form for the columns without cone rows (n^2 k instead of n^2 k d flops an iteration).
  Crossover measured on uci:breast-cancer-wisc-diag (n = 427, d = 30; one factorization and
  four solves, one thread): relu2 11.5 / 10.1 ms (packed / row-weighted) at N = 2 n, 2.4 /
  7.4 ms at N = n; gated2 10.0 / 3.6 ms at N = 2 n, 2.3 / 4.0 ms at N = n.
"""

from __future__ import annotations

import mmap
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.linalg import cho_factor, cho_solve, get_blas_funcs, get_lapack_funcs, lapack

from convexbench.native.cholesky import cholesky_lower
from convexbench.native.deadline import NEVER, Deadline
from convexbench.native.gram import NewtonViews, group_curvature

_PANEL = 64  # columns mirrored per step (bounds the temporaries of the mirror: N x 64;
# 16 spent a third of the mirror's time in index arithmetic, uci:pima relu2)


def zeros_mapped(shape: tuple[int, ...], dtype: type = np.float64) -> np.ndarray:
    """A zero Fortran-ordered host array; from 1 MiB on in pages of its own (an anonymous
    memory map, returned to the system when the array is freed).  Through malloc, freeing
    the restricted solves' N x N arrays raised glibc's mmap threshold to their size, and the
    heap then kept several MB more than was in use (measured: peak resident growth 13.7 ->
    10.7 MB on the bench's relu2 n=1000 d=20 P=500, 11.5 -> 8.3 MB on gated2)."""
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    if nbytes < 1 << 20:
        return np.zeros(shape, dtype=dtype, order="F")
    return np.ndarray(shape, dtype=dtype, buffer=mmap.mmap(-1, nbytes), order="F")


@dataclass
class PackedGram(NewtonViews):
    """H = A^T A in the upper triangle of ``store`` (Fortran order), diagonal in ``diag``;
    float64, or float32 for ``mixed.MixedGram`` (which does its products elsewhere)."""

    store: np.ndarray  # (N, N), order F; the lower triangle is workspace
    diag: np.ndarray  # (N,)

    @property
    def size(self) -> int:
        return self.store.shape[0]

    def matvec(self, x: np.ndarray) -> np.ndarray:
        """H x from the upper triangle and ``diag``.  The stored diagonal may hold a factor's
        (huge near the end of an interior-point solve: correcting the product afterwards lost
        all accuracy), so H's own diagonal is put in for the product and the factor's back."""
        held = np.diagonal(self.store).copy()
        np.fill_diagonal(self.store, self.diag)
        y = get_blas_funcs("symv", (self.store,))(1.0, self.store, x, lower=0)
        np.fill_diagonal(self.store, held)
        return y

    def full(self) -> np.ndarray:
        """H as an ordinary dense symmetric array (a copy; for fallbacks and tests)."""
        H = np.triu(self.store, 1)
        H += H.T
        H[np.diag_indices_from(H)] = self.diag
        return H

    @classmethod
    def empty(cls, N: int, dtype: type = np.float64) -> PackedGram:
        return cls(zeros_mapped((N, N), dtype), np.zeros(N, dtype=dtype))

    def add_rank_update(self, A: np.ndarray) -> None:
        """H += A^T A for a row chunk A (nb, N), in place (upper triangle)."""
        if A.shape[0] == 0:
            return
        # A.T is Fortran-contiguous when A is C-contiguous: no copy for BLAS
        syrk = get_blas_funcs("syrk", (self.store,))
        syrk(1.0, np.ascontiguousarray(A, dtype=self.store.dtype).T, beta=1.0, c=self.store,
             trans=0, lower=0, overwrite_c=1)

    def finish(self) -> None:
        """Record the diagonal once all updates are in."""
        self.diag = np.diagonal(self.store).copy()

    def factor(self, blocks: np.ndarray, soc: SocInverse | None = None,
               deadline: Deadline = NEVER) -> bool:
        """Cholesky of H + blockdiag(blocks) (k blocks of md x md) in the lower triangle
        (``soc``, the blocks' inverses in closed form, is of no use here)."""
        M, N = self.store, self.size
        starts = np.arange(blocks.shape[0]) * blocks.shape[1]
        diag = np.diag_indices(N)
        reg = 1e-13 * max(1.0, float(np.max(self.diag)) if N else 1.0)
        for attempt in range(3):
            _mirror_upper(M)
            M[diag] = self.diag
            add_lower_blocks(M, starts, blocks)
            if attempt:  # not numerically positive definite: a tiny ridge
                M[diag] += reg * 100.0**attempt
            if cholesky_lower(M, deadline) == 0:
                return True
        return False

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """(H + blockdiag)^{-1} rhs with the last factor."""
        return lapack.dpotrs(self.store, rhs, lower=1)[0]

    # -- for the active-set Newton method (``newton.py``): ``solve_principal`` factors in the
    # lower triangle as ``factor`` does; the others read the upper triangle and ``diag`` only
    def solve_principal(self, idx: np.ndarray, blocks: np.ndarray, rhs: np.ndarray,
                        ridge: float = 0.0, deadline: Deadline = NEVER) -> np.ndarray | None:
        """(H[idx][:, idx] + blockdiag(blocks) + ridge I)^{-1} rhs, for ``idx`` whole columns
        (``blocks``: (len(idx) / md, md, md), one per column, in order), factored like
        ``factor`` in the lower triangle of the one N x N array.  None when not numerically
        positive definite."""
        if not self.factor_principal(idx, blocks, ridge, deadline):
            return None
        return self.solve_factored(idx, rhs)

    def factor_principal(self, idx: np.ndarray, blocks: np.ndarray, ridge: float = 0.0,
                         deadline: Deadline = NEVER) -> bool:
        """Cholesky of H[idx][:, idx] + blockdiag(blocks) + ridge I in the lower triangle, the
        variables outside ``idx`` decoupled (unit rows); False when not numerically positive
        definite."""
        M, N = self.store, self.size
        md = blocks.shape[1]
        keep = np.zeros(N, dtype=bool)
        keep[idx] = True
        _mirror_upper(M)
        tl = np.tril_indices(md, -1)
        for g in np.flatnonzero(~keep.reshape(-1, md)[:, 0]):  # decouple the other columns
            lo, hi = g * md, (g + 1) * md
            M[lo:hi, :lo] = 0.0
            M[hi:, lo:hi] = 0.0
            M[lo:hi, lo:hi][tl] = 0.0
        M[np.diag_indices(N)] = np.where(keep, self.diag + ridge, 1.0)
        add_lower_blocks(M, idx[::md], blocks)
        return cholesky_lower(M, deadline) == 0

    def solve_factored(self, idx: np.ndarray, rhs: np.ndarray) -> np.ndarray:
        """The solve with the last ``factor_principal`` factor (in the store's precision)."""
        full = np.zeros(self.size, dtype=self.store.dtype)
        full[idx] = rhs
        return get_lapack_funcs("potrs", (self.store,))(self.store, full, lower=1)[0][idx]

    def columns(self, idx: np.ndarray) -> np.ndarray:
        """H[:, idx] (N x len(idx)) from the upper triangle and ``diag``, built run by run of
        consecutive indices (whole groups), with no temporaries larger than the output."""
        M, N = self.store, self.size
        out = np.empty((N, len(idx)))
        breaks = np.flatnonzero(np.diff(idx) != 1) + 1
        for pos, run in zip(np.concatenate([[0], breaks]), np.split(idx, breaks), strict=True):
            lo, hi = int(run[0]), int(run[-1]) + 1
            part = out[:, pos:pos + hi - lo]
            part[:lo] = M[:lo, lo:hi]
            part[hi:] = M[lo:hi, hi:].T
            block = np.triu(M[lo:hi, lo:hi], 1)
            part[lo:hi] = block + block.T
            part[lo:hi][np.diag_indices(hi - lo)] = self.diag[lo:hi]
        return out

    def diag_blocks(self, md: int, deadline: Deadline = NEVER) -> np.ndarray:
        """The k diagonal blocks H_cc (k, md, md)."""
        k = self.size // md
        at = np.arange(k)[:, None, None] * md
        i, j = np.arange(md)[None, :, None], np.arange(md)[None, None, :]
        up = self.store[at + np.minimum(i, j), at + np.maximum(i, j)]
        up[:, np.arange(md), np.arange(md)] = self.diag.reshape(k, md)
        return up


def block_rows(rows: np.ndarray, owner: np.ndarray, k: int) -> sp.csr_matrix:
    """K as a sparse r x (k w) matrix: row i of ``rows`` (r, w) placed in the block of its
    column ``owner[i]``, sharing its values with ``rows``."""
    r, w = rows.shape
    cols = owner[:, None].astype(np.int32) * w + np.arange(w, dtype=np.int32)
    return sp.csr_matrix((rows.ravel(), cols.ravel(),
                          np.arange(0, r * w + 1, w, dtype=np.int32)),
                         shape=(r, k * w), copy=False)


@dataclass
class RowSamples:
    """Cone rows that are signed rows of X (two-layer ReLU): row i is sign[i] X[sample[i]].
    Products with the rows then read X (n x d) instead of the r x d copies of its rows:
    2.5x faster at r = 21600 rows over n = 1000 samples of d = 784 (fashion-mnist 2v4 n=500)."""

    X: np.ndarray  # (n, d)
    sample: np.ndarray  # (r,) int
    sign: np.ndarray  # (r,) +-1

    def take(self, order: np.ndarray) -> RowSamples:
        """The rows ``order`` (indices into these rows)."""
        return RowSamples(self.X, self.sample[order], self.sign[order])

    def products(self, owner: np.ndarray, k: int) -> tuple[Callable, Callable]:
        """(x -> K x, z -> K^T z) for x of k blocks of d (flat) and the rows' owners (each
        (owner, sample) once): K x gathers from X V^T (n d k flops), K^T z is a sparse k x n
        matrix times X (r d)."""
        X, sample, sign = self.X, self.sample, self.sign
        n, d = X.shape
        pattern = sp.csr_matrix((np.arange(1, len(owner) + 1, dtype=float), (owner, sample)),
                                shape=(k, n))
        position = pattern.data.astype(np.int64) - 1  # csr order -> row order
        signed = sign[position]

        def K(x: np.ndarray) -> np.ndarray:
            return sign * (X @ x.reshape(k, d).T)[sample, owner]

        def KT(z: np.ndarray) -> np.ndarray:
            pattern.data = signed * z[position]
            return (pattern @ X).ravel()

        return K, KT


@dataclass
class SocInverse:
    """Closed-form inverses of the Newton blocks that are a second-order cone's alone (one
    block of d per column, no cone rows): there B_c = S_c = (I - 2 w w^T / (2 w0^2 - 1)) /
    eta^2 (``nt_cones.Cones.inv_sq_blocks``, w = w_c[1:]), and as w0^2 - ||w||^2 = 1
    (Sherman-Morrison)
    B_c^{-1} = eta^2 (I + 2 w w^T): a multiple of the identity plus a rank-one term."""

    eta2: np.ndarray  # (k,)
    w: np.ndarray  # (k, d)
    plain: np.ndarray  # (k,) bool: the columns whose block is S_c alone


@dataclass
class LowRankGram(NewtonViews):
    """H = A^T A kept as its n x N factor A, in column blocks A_c (k, n, md): for working sets
    more than twice as wide as the data has rows (N > 2 n).  The Newton matrix B + A^T A
    (B block diagonal) is solved by the Woodbury identity with one n x n Cholesky factor."""

    A: np.ndarray  # (k, n, md)

    def __post_init__(self) -> None:
        k, _, md = self.A.shape
        self.diag = np.einsum("knj,knj->kj", self.A, self.A).ravel()
        self._k, self._md = k, md
        self._flat_A: np.ndarray | None = None  # A as one n x N array, made on first use

    @property
    def size(self) -> int:
        return self._k * self._md

    def matvec(self, x: np.ndarray) -> np.ndarray:
        return self._adjoint(self._apply(x))

    def full(self) -> np.ndarray:
        flat = self.A.transpose(1, 0, 2).reshape(self.A.shape[1], -1)
        return flat.T @ flat

    def _apply(self, u: np.ndarray) -> np.ndarray:
        """A u (n,)."""
        return np.einsum("knj,kj->n", self.A, u.reshape(self._k, self._md))

    def _adjoint(self, z: np.ndarray) -> np.ndarray:
        """A^T z (N,)."""
        return np.einsum("knj,n->kj", self.A, z).ravel()

    def _closed_form(self, soc: SocInverse | None) -> np.ndarray:
        """The columns whose B_c^{-1} is taken from ``soc`` (none here: see subclasses)."""
        return np.zeros(self._k, dtype=bool)

    def _row_form_columns(self) -> np.ndarray:
        """The columns whose cone rows are taken in row form (none here: see subclasses)."""
        return np.zeros(self._k, dtype=bool)

    def _factor_row_form(self, deadline: Deadline) -> bool:
        return True

    @staticmethod
    def _soc_finite(soc: SocInverse) -> bool:
        return bool(np.all(np.isfinite(soc.eta2)) and np.all(np.isfinite(soc.w)))

    def factor(self, blocks: np.ndarray, soc: SocInverse | None = None,
               deadline: Deadline = NEVER) -> bool:
        """B = blockdiag(blocks) = L L^T per block (or in closed form from ``soc``, where a
        subclass can use it); C = I + A B^{-1} A^T (``_sample_matrix``), Cholesky factored."""
        self._plain = self._closed_form(soc)
        taken = self._row_form_columns()
        if taken.any() and (soc is None or not self._soc_finite(soc)):
            return False
        self._soc = soc if (self._plain.any() or taken.any()) else None
        self._rest = np.flatnonzero(~self._plain & ~taken)
        # ``blocks`` holds the formed blocks: those of the columns not taken in row form
        formed = np.flatnonzero(~taken)
        position = np.searchsorted(formed, self._rest)
        Linv = _block_cholesky_inverses(blocks, position, deadline)
        if Linv is None or not self._factor_row_form(deadline):
            return False
        # the blocks' triangular inverses, once per factor: the solves below are then
        # products (np.linalg.solve on L redid an LU per block and call: measured 6.6 of 14 s
        # on uci:conn-bench-sonar-mines-rocks, relu3, d = 60)
        self._Linv = Linv
        C = self._sample_matrix(deadline)
        C[np.diag_indices_from(C)] += 1.0
        # C is symmetric: its transpose is the same matrix in Fortran order, factored in place
        self._C = C.T
        return cholesky_lower(self._C, deadline) == 0

    def _sample_matrix(self, deadline: Deadline = NEVER) -> np.ndarray:
        """A B^{-1} A^T = Y^T Y (n x n), Y_c = L_c^{-1} A_c^T (in pieces of columns under a
        deadline)."""
        k, n, md = self.A.shape
        C = None
        for part in deadline.pieces(k, 2.0 * md * n * (n + md)):
            deadline.check()
            Y = self._Linv[part] @ self.A[part].transpose(0, 2, 1)  # (k', md, n)
            flat = Y.reshape(-1, n)
            if C is None:
                C = flat.T @ flat
            else:
                C += flat.T @ flat
        return C if C is not None else np.zeros((n, n))

    def _block_solve(self, v: np.ndarray) -> np.ndarray:
        """B^{-1} v: L^{-T} L^{-1} v block by block, in closed form for the ``_plain`` columns
        (a Cholesky factor of S_c = (I - 2 w w^T / (2 w0^2 - 1)) / eta^2 loses its smallest
        eigenvalue as w0 grows; mixing the two inverses in one Woodbury solve stalled the
        method at a relative gap ~1e-7: measured on uci:breast-cancer-wisc-diag, gated2)."""
        v = v.reshape(self._k, self._md)
        out = np.empty_like(v)
        if len(self._rest):
            w = np.einsum("kij,kj->ki", self._Linv, v[self._rest])
            out[self._rest] = np.einsum("kji,kj->ki", self._Linv, w)
        if self._soc is not None:
            p, soc = self._plain, self._soc
            wv = np.einsum("ki,ki->k", soc.w[p], v[p])
            out[p] = soc.eta2[p, None] * (v[p] + 2.0 * wv[:, None] * soc.w[p])
        self._row_form_solve(v, out)
        return out.reshape(-1)

    def _row_form_solve(self, v: np.ndarray, out: np.ndarray) -> None:
        """B_c^{-1} v_c into ``out`` for the columns taken in row form (none here)."""

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """(B + A^T A)^{-1} rhs = u - B^{-1} A^T C^{-1} A u with u = B^{-1} rhs."""
        u = self._block_solve(rhs)
        w = lapack.dpotrs(self._C, self._apply(u), lower=1)[0]
        return u - self._block_solve(self._adjoint(w))

    # -- views of H for the active-set Newton method (``newton.py``)
    def _flat(self) -> np.ndarray:
        """A as one n x N array (made once, on first use)."""
        if self._flat_A is None:
            self._flat_A = self.A.transpose(1, 0, 2).reshape(self.A.shape[1], -1)
        return self._flat_A

    def principal_upper(self, idx: np.ndarray) -> np.ndarray:
        """H[idx][:, idx] = A[:, idx]^T A[:, idx] (symmetric, Fortran order)."""
        Ai = self._flat()[:, idx]
        return (Ai.T @ Ai).T

    def columns(self, idx: np.ndarray) -> np.ndarray:
        """H[:, idx] (N x len(idx))."""
        flat = self._flat()
        return flat.T @ flat[:, idx]

    def diag_blocks(self, md: int, deadline: Deadline = NEVER) -> np.ndarray:
        """The k diagonal blocks H_cc (k, md, md) (``md``: the column width)."""
        return np.einsum("kni,knj->kij", self.A, self.A)

    @property
    def newton_width(self) -> int:
        """At most 2 n: wider Newton matrices are left to the interior-point method."""
        return 2 * self.A.shape[1]

    def solve_newton_system(self, groups: np.ndarray, c: np.ndarray, w: np.ndarray,
                            rhs: np.ndarray, ridge: float = 0.0, deadline: Deadline = NEVER
                            ) -> np.ndarray | None:
        """The Newton system as a dense |S| d square (H[idx][:, idx] = A_idx^T A_idx) by
        Cholesky; None when not numerically positive definite."""
        s, d = w.shape
        idx = (np.asarray(groups)[:, None] * d + np.arange(d)).ravel()
        ti, tj = np.triu_indices(d)
        base = np.arange(s)[:, None] * d
        deadline.check()
        M = self.principal_upper(idx)
        if ridge:
            M[np.diag_indices_from(M)] += ridge
        M[(base + ti).ravel(), (base + tj).ravel()] += group_curvature(c, w)[:, ti, tj].ravel()
        try:
            factor = cho_factor(M, lower=False, overwrite_a=True, check_finite=False)
        except np.linalg.LinAlgError:
            return None
        return cho_solve(factor, rhs, check_finite=False)


class RowWeightedGram(LowRankGram):
    """A ``LowRankGram`` whose columns weight the rows of the data, A_c = diag(a_c) X (two-layer
    models, m = 1; ``coef`` = (n, k) the a_c): products through X and the weights, A itself
    formed only on demand (views for ``newton.py``, fallbacks).  C = I + sum_c A_c B_c^{-1}
    A_c^T in sample space, for the columns whose B_c^{-1} = eta2_c (I + 2 w_c w_c^T)
    (``SocInverse``; Hadamard product o, M = [a_c]):

        (X X^T) o (M diag(eta2) M^T) + V V^T,   V_c = sqrt(2 eta2_c) a_c o (X w_c),

    2 n^2 k flops with X X^T formed once, instead of n^2 k d for Y^T Y; the other columns
    (cone rows: relu2) by Y^T Y, Y_c = L_c^{-1} X^T diag(a_c) (one product with X^T for all),
    where columns with the same weights up to sign (relu2's v_i and w_i of one pattern: A_c
    = -A_c') count once, with F F^T = B_c^{-1} + B_c'^{-1} in place of L_c^{-T}."""

    def __init__(self, X: np.ndarray, coef: np.ndarray):
        self.X, self.coef = X, coef
        self._k, self._md = coef.shape[1], X.shape[1]
        self.diag = ((coef**2).T @ X**2).ravel()
        self._XXt: np.ndarray | None = None  # X X^T, on first use
        self._flat_A: np.ndarray | None = None
        # the columns' operators up to sign: equal |a_c|, one id
        self._twin = np.unique(np.abs(coef).T, axis=0, return_inverse=True)[1].ravel()
        self._taken = np.zeros(self._k, dtype=bool)  # columns in row form (take_cone_rows)

    @property
    def A(self) -> np.ndarray:  # (k, n, md), formed on each use
        return self.coef.T[:, :, None] * self.X[None]

    def _apply(self, u: np.ndarray) -> np.ndarray:
        return np.einsum("nk,nk->n", self.coef, self.X @ u.reshape(self._k, self._md).T)

    def _adjoint(self, z: np.ndarray) -> np.ndarray:
        return ((self.coef * z[:, None]).T @ self.X).ravel()

    def _closed_form(self, soc: SocInverse | None) -> np.ndarray:
        if soc is None or not self._soc_finite(soc):
            return np.zeros(self._k, dtype=bool)
        return soc.plain.copy()

    # -- cone rows in row form: for a column c with few rows K_c (r_c x d; weights rho_c, the
    # rows' W^{-2}), B_c = S_c + K_c^T diag(rho_c) K_c with S_c^{-1} = eta2 (I + 2 w w^T) in
    # closed form (``SocInverse``), and by the Woodbury identity on the rows
    #     B_c^{-1} = S_c^{-1} - S_c^{-1} K_c^T M_c^{-1} K_c S_c^{-1},
    #     M_c = diag(1 / rho_c) + K_c S_c^{-1} K_c^T   (r_c x r_c),
    # so that A_c B_c^{-1} A_c^T is the column's Hadamard term (as for a column without rows)
    # less W_c W_c^T, W_c = diag(a_c) X S_c^{-1} K_c^T L_c^{-T} (n x r_c, L_c L_c^T = M_c):
    # n^2 r_c flops an iteration instead of the formed block's d^2 r_c + d^3 and the
    # n^2 d + n d^2 of Y_c (fashion-mnist 2v4 n=500, d = 784: ~400 rows a column)
    def take_cone_rows(self, bounds: np.ndarray, rows: np.ndarray,
                       samples: RowSamples | None = None) -> np.ndarray:
        """Decide, once per restricted solve, which columns' cone rows (``rows`` (r, d), those
        of column c at ``bounds[c]:bounds[c + 1]``; ``samples``: the same as signed rows of
        X, when they are) are taken in row form: where it costs fewer flops an iteration, and
        only while X K^T and W (n x r each, kept for the solve) fit in ``ROW_FORM_BYTES``.
        Returns the (k,) mask."""
        n, d = self.X.shape
        counts = np.diff(bounds).astype(float)
        row_form = n * n * counts + counts**3 / 3.0
        formed = 0.5 * n * n * d + d * d * n + 2.0 * d**3 + counts * d * d
        take = (counts > 0) & (counts < d) & (row_form < formed) & (formed > ROW_FORM_MIN_FLOPS)
        if 16.0 * n * counts[take].sum() > ROW_FORM_BYTES:
            take[:] = False
        self._taken = take
        if not take.any():
            return take
        cols = np.flatnonzero(take)
        self._row_bounds = np.asarray(bounds)
        # the taken columns' rows, laid out column after column (offsets)
        self._row_offsets = np.concatenate([[0], np.cumsum(np.diff(bounds)[take])])
        chosen = np.concatenate([np.arange(bounds[c], bounds[c + 1]) for c in cols])
        # products with the taken rows, for all taken columns at once (through X when the
        # rows are X's: the per-column loop over the rows cost ~10 ms a solve at 96 columns
        # of ~225 rows, d = 784)
        owner = np.repeat(np.arange(len(cols)), np.diff(self._row_offsets))
        if samples is not None:
            self._taken_K, self._taken_KT = samples.take(chosen).products(owner, len(cols))
        else:
            Ks = block_rows(np.ascontiguousarray(rows[chosen], dtype=float), owner, len(cols))
            KsT = Ks.T
            self._taken_K, self._taken_KT = (lambda u: Ks @ u), (lambda h: KsT @ h)
        # diag(a_c) X K_c^T, Fortran order (each column's part contiguous for its product),
        # and W's array, written at each factorization
        XKa = np.asfortranarray(self.X @ rows[chosen].T)  # (n, r_taken)
        for i, c in enumerate(cols):
            XKa[:, self._row_offsets[i]:self._row_offsets[i + 1]] *= self.coef[:, c][:, None]
        self._XKa, self._W = XKa, np.empty_like(XKa)
        self._KKt = [rows[bounds[c]:bounds[c + 1]] @ rows[bounds[c]:bounds[c + 1]].T
                     for c in cols]
        return take

    def cone_row_weights(self, rho: np.ndarray) -> None:
        """The rows' weights (W^{-2}) for the next ``factor``."""
        self._rho = rho

    def _row_form_columns(self) -> np.ndarray:
        return self._taken

    def _factor_row_form(self, deadline: Deadline) -> bool:
        """L_c^{-1} (L_c the Cholesky factor of M_c) and W = [W_c] for the columns taken in
        row form: W_c = eta2 diag(a_c) X K_c^T L_c^{-T} + 2 eta2 (a_c o X w) (L_c^{-1} K_c w)^T."""
        taken = np.flatnonzero(self._row_form_columns())
        if not len(taken):
            return True
        soc, bounds, off = self._soc, self._row_bounds, self._row_offsets
        eta2, w = soc.eta2[taken], soc.w[taken]
        aXw = self.coef[:, taken] * (self.X @ w.T)  # (n, kt)
        Kw_all = self._taken_K(w.ravel())
        W = self._W  # Fortran order
        potrf, trtri = get_lapack_funcs(("potrf", "trtri"), (W,))
        self._row_linv: list[np.ndarray] = []
        for i, c in enumerate(taken):
            deadline.check()
            lo, hi = bounds[c], bounds[c + 1]
            Kw = Kw_all[off[i]:off[i + 1]]
            M = np.outer(Kw, 2.0 * eta2[i] * Kw)
            M += eta2[i] * self._KKt[i]
            M[np.diag_indices_from(M)] += 1.0 / self._rho[lo:hi]
            # LAPACK on Fortran-ordered arrays (M is symmetric: M.T is M in that order);
            # numpy's cholesky and a C-ordered trtri copied and ran 5-10x slower here
            L = _cholesky_with_ridge(M.T, potrf)
            if L is None:
                return False
            Linv, info = trtri(L, lower=1, overwrite_c=1)
            if info != 0:
                return False
            self._row_linv.append(Linv)
            part = W[:, off[i]:off[i + 1]]
            np.matmul(self._XKa[:, off[i]:off[i + 1]], eta2[i] * Linv.T, out=part)
            part += np.outer(aXw[:, i], (2.0 * eta2[i]) * (Linv @ Kw))
        return True

    def _row_form_solve(self, v: np.ndarray, out: np.ndarray) -> None:
        """B_c^{-1} v_c for the columns in row form (the Woodbury identity above), the
        products with their rows for all of them at once."""
        taken = np.flatnonzero(self._row_form_columns())
        if not len(taken):
            return
        e2, w, off = self._soc.eta2[taken, None], self._soc.w[taken], self._row_offsets
        U = e2 * (v[taken] + 2.0 * np.einsum("ki,ki->k", w, v[taken])[:, None] * w)
        KU = self._taken_K(U.ravel())
        for i, Linv in enumerate(self._row_linv):
            part = slice(off[i], off[i + 1])
            KU[part] = Linv.T @ (Linv @ KU[part])
        G = self._taken_KT(KU).reshape(U.shape)
        out[taken] = U - e2 * (G + 2.0 * np.einsum("ki,ki->k", w, G)[:, None] * w)

    def _sample_matrix(self, deadline: Deadline = NEVER) -> np.ndarray:
        """(Under a deadline in pieces of rows or columns of about ``PIECE_FLOPS`` each.)"""
        n, d = self.X.shape
        C = np.zeros((n, n))
        if self._soc is not None:
            p = self._plain | self._row_form_columns()  # their Hadamard terms
            Mp, eta2 = self.coef[:, p], self._soc.eta2[p]
            if self._XXt is None:
                XXt = np.empty((n, n))
                for rows in deadline.pieces(n, 2.0 * n * d):
                    deadline.check()
                    np.matmul(self.X[rows], self.X.T, out=XXt[rows])
                self._XXt = XXt
            Mw = Mp * eta2
            V = Mp * (self.X @ self._soc.w[p].T) * np.sqrt(2.0 * eta2)
            for rows in deadline.pieces(n, 2.0 * n * (Mp.shape[1] + V.shape[1]) + 2.0 * n):
                deadline.check()
                Cr = C[rows]
                np.matmul(Mw[rows], Mp.T, out=Cr)
                Cr *= self._XXt[rows]
                Cr += V[rows] @ V.T
        if self._row_form_columns().any():  # less W W^T (the rows' Woodbury terms), into
            # the triangle the Cholesky factor reads (the lower one of C^T, Fortran order)
            W, Ct = self._W, C.T
            syrk = get_blas_funcs("syrk", (W,))
            for part in deadline.pieces(W.shape[1], 1.0 * n * n):
                deadline.check()
                syrk(-1.0, W[:, part], beta=1.0, c=Ct, trans=0, lower=1, overwrite_c=1)
        if len(self._rest):
            factors, cols = self._rest_factors(deadline)  # (g, d, d): F_g^T; one column each
            for part in deadline.pieces(len(cols), 2.0 * d * n * (n + d)):
                deadline.check()
                Y = (factors[part].reshape(-1, d) @ self.X.T).reshape(-1, d, n)
                Y *= self.coef[:, cols[part]].T[:, None, :]
                flat = Y.reshape(-1, n)
                C += flat.T @ flat
        return C

    def _rest_factors(self, deadline: Deadline = NEVER) -> tuple[np.ndarray, np.ndarray]:
        """F_g^T with sum over the ``_rest`` columns of A_c B_c^{-1} A_c^T = sum_g A_g F_g F_g^T
        A_g^T: L_c^{-1} for a column alone, the Cholesky factor of B_c^{-1} + B_c'^{-1} for twin
        columns (all columns alone when one such sum is not numerically positive definite)."""
        rest, Linv = self._rest, self._Linv
        twin = np.unique(self._twin[rest], return_inverse=True)[1].ravel()
        count = np.bincount(twin)
        if count.max() < 2:
            return Linv, rest
        # positions in rest of the twinned columns, twins next to each other
        pos = np.flatnonzero(count[twin] > 1)
        pos = pos[np.argsort(twin[pos], kind="stable")]
        starts = np.flatnonzero(np.diff(twin[pos], prepend=-1))
        # L^{-T} L^{-1} per twin by batched BLAS products (an einsum over the same indices
        # took 69 s for 200 blocks of d = 784 against 4.5 s), the clock read between pieces
        squares = np.empty((len(pos), Linv.shape[1], Linv.shape[1]))
        for part in deadline.pieces(len(pos), 2.0 * Linv.shape[1] ** 3):
            deadline.check()
            np.matmul(Linv[pos[part]].transpose(0, 2, 1), Linv[pos[part]], out=squares[part])
        total = np.add.reduceat(squares, starts)
        del squares
        try:
            F = np.linalg.cholesky(total)
        except np.linalg.LinAlgError:
            return Linv, rest
        alone = np.flatnonzero(count[twin] == 1)
        return (np.concatenate([Linv[alone], F.transpose(0, 2, 1)]),
                np.concatenate([rest[alone], rest[pos[starts]]]))


Gram = PackedGram | LowRankGram

ROW_FORM_BYTES = 1 << 30  # the most X K^T and W (n x rows each, float64) kept for cone rows
# in row form (fashion-mnist 2v4 n=500 relu2: 21600 rows, 350 MB)
ROW_FORM_MIN_FLOPS = 2e7  # row form only for columns whose formed block costs more an iteration
# (below, its per-column Python work costs more than it saves: uci:spectf, n = 60, d = 44,
# relu2 0.48 -> 0.76 s; uci:musk-1, n = 357, d = 166, 3e7 flops a column: 34 -> 28 s)


def _cholesky_with_ridge(M: np.ndarray, potrf) -> np.ndarray | None:
    """Lower Cholesky factor of M (Fortran order; LAPACK ``potrf``), with a tiny ridge
    relative to its largest diagonal entry when it is not numerically positive definite;
    None when it stays indefinite."""
    scale = float(np.max(np.abs(np.diagonal(M)), initial=0.0))
    for attempt in range(4):
        ridge = 0.0 if attempt == 0 else 1e-15 * 100.0**attempt * scale
        L, info = potrf(M + ridge * np.eye(len(M)) if ridge else M, lower=1, clean=1)
        if info == 0:
            return L
    return None

_TRTRI_MIN_D = 64  # from this block size each block's inverse is LAPACK's trtri (d^3 / 3 flops;
# np.linalg.inv, an LU solve against the identity, took 12.1 s for 200 blocks of d = 784
# against 3.3 s); below it one batched np.linalg.inv is as fast as the loop


def _block_cholesky_inverses(blocks: np.ndarray, which: np.ndarray,
                             deadline: Deadline = NEVER) -> np.ndarray | None:
    """L_c^{-1} for the Cholesky factors L_c of ``blocks[which]`` (``which`` sorted and
    distinct; the blocks are read in place when it takes them all; each with a tiny ridge,
    relative to its largest diagonal entry, when it is not numerically positive definite);
    None when a block stays indefinite.  In pieces of blocks, the clock read between them
    (``DeadlineExpired``): at d = 784 one pass over 200 blocks is seconds of LAPACK."""
    md = blocks.shape[1]
    out = np.empty((len(which), md, md))
    eye = np.eye(md)
    trtri = get_lapack_funcs("trtri", (blocks,))
    whole = len(which) == len(blocks)  # ``which`` is sorted and distinct: all blocks
    for part in deadline.pieces(len(which), 2.0 * md**3):
        deadline.check()
        rest = blocks[part] if whole else blocks[which[part]]  # a view when all are taken
        for attempt in range(4):
            try:  # not numerically positive definite: a tiny ridge per block
                if attempt == 0:
                    L = np.linalg.cholesky(rest)
                else:
                    scale = np.abs(np.diagonal(rest, axis1=1, axis2=2)).max(axis=1, initial=0.0)
                    ridge = 1e-15 * 100.0**attempt
                    L = np.linalg.cholesky(rest + (ridge * scale)[:, None, None] * eye)
                break
            except np.linalg.LinAlgError:
                continue
        else:
            return None
        if md < _TRTRI_MIN_D:
            out[part] = np.linalg.inv(L)
            continue
        for i, Lc in zip(range(part.start, part.stop), L, strict=True):
            inverse, info = trtri(Lc, lower=1)
            if info != 0:
                return None
            out[i] = inverse
    return out


def add_lower_blocks(M: np.ndarray, starts: np.ndarray, blocks: np.ndarray) -> None:
    """Add each block (md x md) to the lower triangle of M's diagonal block at its start."""
    ti, tj = np.tril_indices(blocks.shape[1])
    at = np.asarray(starts)[:, None]
    M[(at + ti).ravel(), (at + tj).ravel()] += blocks[:, ti, tj].ravel()


def _mirror_upper(M: np.ndarray) -> None:
    """Copy the strict upper triangle of M into its strict lower triangle, in panels."""
    N = M.shape[0]
    for j in range(0, N, _PANEL):
        e = min(j + _PANEL, N)
        if e < N:
            M[e:, j:e] = M[j:e, e:].T
        block = M[j:e, j:e]
        block[...] = np.triu(block) + np.triu(block, 1).T

"""A dense primal-dual interior-point method for the restricted program, in one N x N array.

    min_{x, t}  1/2 x^T H x - b^T x + beta sum_b t_b
    s.t.        K x >= 0            (selected cone rows, each owned by one column)
                ||x_b|| <= t_b      (one second-order cone per block of d variables)

N = k m d is the size of the working set.  The method is the Mehrotra predictor-corrector of
CVXOPT's ``coneqp`` (Vandenberghe 2010) with Nesterov-Todd scaling, specialised to this
structure: the t variables are eliminated block by block and every cone row acts on one
column only, so the Newton matrix is H plus a block-diagonal matrix.

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

Near the optimum the Newton systems lose accuracy: every direction gets one step of
iterative refinement on the unreduced KKT system, and the best iterate is returned.
"""

from __future__ import annotations

import mmap
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.linalg import cho_factor, cho_solve, get_blas_funcs, get_lapack_funcs, lapack

from convexbench.native.cholesky import cholesky_lower
from convexbench.native.deadline import NEVER, Deadline, DeadlineExpired
from convexbench.native.gram import NewtonViews, group_curvature
from convexbench.native.reduced import ReducedResult

_PANEL = 16  # columns mirrored per step (bounds the temporaries of the mirror: N x 16)

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
            _add_lower_blocks(M, starts, blocks)
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
        _add_lower_blocks(M, idx[::md], blocks)
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


@dataclass
class SocInverse:
    """Closed-form inverses of the Newton blocks that are a second-order cone's alone (one
    block of d per column, no cone rows): there B_c = S_c = (I - 2 w w^T / (2 w0^2 - 1)) /
    eta^2 (``_Cones.inv_sq_blocks``, w = w_c[1:]), and as w0^2 - ||w||^2 = 1 (Sherman-Morrison)
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

    def factor(self, blocks: np.ndarray, soc: SocInverse | None = None,
               deadline: Deadline = NEVER) -> bool:
        """B = blockdiag(blocks) = L L^T per block (or in closed form from ``soc``, where a
        subclass can use it); C = I + A B^{-1} A^T (``_sample_matrix``), Cholesky factored."""
        self._plain = self._closed_form(soc)
        self._soc = soc if self._plain.any() else None
        self._rest = np.flatnonzero(~self._plain)
        rest = blocks[self._rest]
        scale = np.abs(np.diagonal(rest, axis1=1, axis2=2)).max(axis=1, initial=0.0)
        eye = np.eye(blocks.shape[1])
        for attempt in range(4):
            try:  # not numerically positive definite: a tiny ridge per block
                ridge = 0.0 if attempt == 0 else 1e-15 * 100.0**attempt
                L = np.linalg.cholesky(rest + (ridge * scale)[:, None, None] * eye)
                break
            except np.linalg.LinAlgError:
                continue
        else:
            return False
        # the blocks' triangular inverses, once per factor: the solves below are then
        # products (np.linalg.solve on L redid an LU per block and call: measured 6.6 of 14 s
        # on uci:conn-bench-sonar-mines-rocks, relu3, d = 60)
        self._Linv = np.linalg.inv(L)
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
        return out.reshape(-1)

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

    @property
    def A(self) -> np.ndarray:  # (k, n, md), formed on each use
        return self.coef.T[:, :, None] * self.X[None]

    def _apply(self, u: np.ndarray) -> np.ndarray:
        return np.einsum("nk,nk->n", self.coef, self.X @ u.reshape(self._k, self._md).T)

    def _adjoint(self, z: np.ndarray) -> np.ndarray:
        return ((self.coef * z[:, None]).T @ self.X).ravel()

    def _closed_form(self, soc: SocInverse | None) -> np.ndarray:
        if soc is None or not (np.all(np.isfinite(soc.eta2)) and np.all(np.isfinite(soc.w))):
            return np.zeros(self._k, dtype=bool)
        return soc.plain.copy()

    def _sample_matrix(self, deadline: Deadline = NEVER) -> np.ndarray:
        """(Under a deadline in pieces of rows or columns of about ``PIECE_FLOPS`` each.)"""
        n, d = self.X.shape
        C = np.zeros((n, n))
        if self._soc is not None:
            p = self._plain
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
        if len(self._rest):
            factors, cols = self._rest_factors()  # (g, d, d): F_g^T; one column each
            for part in deadline.pieces(len(cols), 2.0 * d * n * (n + d)):
                deadline.check()
                Y = (factors[part].reshape(-1, d) @ self.X.T).reshape(-1, d, n)
                Y *= self.coef[:, cols[part]].T[:, None, :]
                flat = Y.reshape(-1, n)
                C += flat.T @ flat
        return C

    def _rest_factors(self) -> tuple[np.ndarray, np.ndarray]:
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
        total = np.add.reduceat(np.einsum("kji,kjl->kil", Linv[pos], Linv[pos]), starts)
        try:
            F = np.linalg.cholesky(total)
        except np.linalg.LinAlgError:
            return Linv, rest
        alone = np.flatnonzero(count[twin] == 1)
        return (np.concatenate([Linv[alone], F.transpose(0, 2, 1)]),
                np.concatenate([rest[alone], rest[pos[starts]]]))


Gram = PackedGram | LowRankGram


def _add_lower_blocks(M: np.ndarray, starts: np.ndarray, blocks: np.ndarray) -> None:
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
        iu = np.triu_indices(e - j, 1)
        block[iu[1], iu[0]] = block[iu]


class _Cones:
    """Nesterov-Todd scaling of the nonnegative rows and the second-order blocks."""

    def __init__(self, sl, zl, sq, zq):
        self.wl = np.sqrt(sl / zl)  # W = diag(wl)
        self.lam_l = np.sqrt(sl * zl)
        s_det = sq[:, 0] ** 2 - np.einsum("bi,bi->b", sq[:, 1:], sq[:, 1:])
        z_det = zq[:, 0] ** 2 - np.einsum("bi,bi->b", zq[:, 1:], zq[:, 1:])
        s_det, z_det = np.maximum(s_det, 1e-300), np.maximum(z_det, 1e-300)
        sbar = sq / np.sqrt(s_det)[:, None]
        zbar = zq / np.sqrt(z_det)[:, None]
        gamma = np.sqrt(np.maximum(0.5 * (1.0 + np.einsum("bi,bi->b", sbar, zbar)), 1e-300))
        w = sbar.copy()
        w[:, 0] += zbar[:, 0]
        w[:, 1:] -= zbar[:, 1:]
        w /= (2.0 * gamma)[:, None]
        self.w = w  # w^T J w = 1
        self.eta = (s_det / z_det) ** 0.25
        self.lam_q = self.scale_q(zq)

    # W v, W^{-1} v and W^{-2} v for the second-order blocks (v: (B, d+1))
    def _wbar(self, v: np.ndarray, inverse: bool) -> np.ndarray:
        w0, w1 = self.w[:, 0], self.w[:, 1:]
        sign = -1.0 if inverse else 1.0
        w1v = np.einsum("bi,bi->b", w1, v[:, 1:])
        out = np.empty_like(v)
        out[:, 0] = w0 * v[:, 0] + sign * w1v
        out[:, 1:] = (v[:, 1:] + (sign * v[:, 0] + w1v / (1.0 + w0))[:, None] * w1)
        return out

    def scale_q(self, v):
        return self.eta[:, None] * self._wbar(v, False)

    def unscale_q(self, v):
        return self._wbar(v, True) / self.eta[:, None]

    def inv_sq_blocks(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """W^{-2} = (2 a a^T - J) / eta^2 (a = J w) per block, as its tt entry alpha, its xt
        column c and the Schur complement S = D - c c^T / alpha of its xx block D, which
        simplifies to (I - 2 w1 w1^T / (2 w0^2 - 1)) / eta^2 (positive definite)."""
        w0, w1 = self.w[:, 0], self.w[:, 1:]
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            e2 = 1.0 / self.eta**2
            alpha = e2 * (2.0 * w0**2 - 1.0)
            c = -2.0 * (e2 * w0)[:, None] * w1
            S = (-2.0 / (2.0 * w0**2 - 1.0))[:, None, None] * w1[:, :, None] * w1[:, None, :]
            S += np.eye(w1.shape[1])[None]
            S *= e2[:, None, None]
        return alpha, c, S


def _jordan(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    out = np.empty_like(u)
    out[:, 0] = np.einsum("bi,bi->b", u, v)
    out[:, 1:] = u[:, :1] * v[:, 1:] + v[:, :1] * u[:, 1:]
    return out


def _jordan_solve(lam: np.ndarray, v: np.ndarray) -> np.ndarray:
    """x with lam o x = v (second-order blocks)."""
    l0, l1 = lam[:, 0], lam[:, 1:]
    det = l0**2 - np.einsum("bi,bi->b", l1, l1)
    out = np.empty_like(v)
    out[:, 0] = (l0 * v[:, 0] - np.einsum("bi,bi->b", l1, v[:, 1:])) / det
    out[:, 1:] = (v[:, 1:] - out[:, :1] * l1) / l0[:, None]
    return out


def _max_step_q(s: np.ndarray, ds: np.ndarray) -> float:
    """Largest a with s + a ds in the second-order cones (s interior)."""
    if len(s) == 0:
        return np.inf
    a = ds[:, 0] ** 2 - np.einsum("bi,bi->b", ds[:, 1:], ds[:, 1:])
    b = s[:, 0] * ds[:, 0] - np.einsum("bi,bi->b", s[:, 1:], ds[:, 1:])
    c = s[:, 0] ** 2 - np.einsum("bi,bi->b", s[:, 1:], s[:, 1:])
    disc = b * b - a * c
    steps = np.full(len(s), np.inf)
    real = disc >= 0
    root = np.sqrt(np.where(real, disc, 0.0))
    q = -(b + np.copysign(root, b))
    with np.errstate(divide="ignore", invalid="ignore"):
        r1 = np.where(a != 0, q / a, np.inf)
        r2 = np.where(q != 0, c / q, np.inf)
    for r in (r1, r2):
        r = np.where(real & (r > 0), r, np.inf)
        steps = np.minimum(steps, r)
    # leaving through the apex needs ds0 < 0; the quadratic root covers it
    return float(steps.min())


def _max_step_l(s: np.ndarray, ds: np.ndarray) -> float:
    neg = ds < 0
    return float(np.min(-s[neg] / ds[neg])) if np.any(neg) else np.inf


def _shift_into_cones(sl: np.ndarray, sq: np.ndarray) -> None:
    """s <- s + (1 + a) e when s is not strictly inside (CVXOPT's initial point rule)."""
    worst = -np.inf
    if len(sl):
        worst = max(worst, float(-sl.min()))
    if len(sq):
        worst = max(worst, float(np.max(np.linalg.norm(sq[:, 1:], axis=1) - sq[:, 0])))
    if worst >= -1e-8:
        sl += 1.0 + worst
        sq[:, 0] += 1.0 + worst


class _Kkt:
    """The structure of the restricted program and its Newton (KKT) systems.

    Variables u = (x, t); the cone slacks are s = (K x, (t_b, x_b)) = -G u.
    """

    def __init__(self, gram: Gram, m: int, d: int, owner: np.ndarray, rows: np.ndarray):
        self.gram, self.m, self.d = gram, m, d
        N = gram.size
        self.md = m * d
        self.k = N // self.md
        self.B = self.k * m
        nonzero = np.any(rows != 0, axis=1) if len(rows) else np.zeros(0, bool)
        if not nonzero.all():
            owner, rows = owner[nonzero], rows[nonzero]
        if np.any(np.diff(owner) < 0):  # the working set passes them sorted: no copy then
            order = np.argsort(owner, kind="stable")
            owner, rows = owner[order], rows[order]
        self.owner, self.rows = owner, np.ascontiguousarray(rows, dtype=float)
        self.r = len(self.owner)
        self.bounds = np.searchsorted(self.owner, np.arange(self.k + 1))
        self.xi_block = np.arange(N).reshape(self.B, d)  # x indices of each block
        # K as a sparse r x N matrix (row i touches the md variables of its column only),
        # sharing its values with ``rows``; K^T is its transposed (CSC) view, not a copy, made
        # once (made per product: 0.07 of 0.32 ms a product, measured r = 9000, N = 3690)
        cols = self.owner[:, None].astype(np.int32) * self.md + np.arange(self.md, dtype=np.int32)
        self.Ks = sp.csr_matrix((self.rows.ravel(), cols.ravel(),
                                 np.arange(0, self.r * self.md + 1, self.md, dtype=np.int32)),
                                shape=(self.r, N), copy=False)
        self.KsT = self.Ks.T

    def K(self, x: np.ndarray) -> np.ndarray:
        return self.Ks @ x

    def KT(self, v: np.ndarray) -> np.ndarray:
        return self.KsT @ v

    def GT_z(self, zl: np.ndarray, zq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """G^T z split into its x and t parts."""
        return -self.KT(zl) - zq[:, 1:].ravel(), -zq[:, 0]

    def G_u(self, x: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return -self.K(x), -np.concatenate([t[:, None], x[self.xi_block]], axis=1)

    def factor(self, cones: _Cones, deadline: Deadline = NEVER) -> bool:
        """Factor P + G^T W^-2 G with t eliminated: H plus a block-diagonal matrix."""
        k, m, d, md = self.k, self.m, self.d, self.md
        alpha, c, S = cones.inv_sq_blocks()
        if not (np.all(np.isfinite(S)) and np.all(np.isfinite(alpha))):
            return False
        blocks = np.zeros((k, md, md))
        blocks.reshape(k, m, d, m, d)[:, np.arange(m), :, np.arange(m), :] += S.reshape(
            k, m, d, d).transpose(1, 0, 2, 3)
        if self.r:
            wz = 1.0 / cones.wl**2  # W^{-2} of the rows
            for col in np.flatnonzero(np.diff(self.bounds)):  # columns, not patterns
                deadline.check()
                lo, hi = self.bounds[col], self.bounds[col + 1]
                Kc = self.rows[lo:hi]
                blocks[col] += Kc.T @ (wz[lo:hi, None] * Kc)
        self.alpha, self.c = alpha, c
        soc = None
        if m == 1:
            with np.errstate(over="ignore"):
                soc = SocInverse(cones.eta**2, cones.w[:, 1:], np.diff(self.bounds) == 0)
        return self.gram.factor(blocks, soc, deadline)

    def solve(self, cones: _Cones, bx, bt, bzl, bzq):
        """Solve [P G^T; G -W^2] [du; dz] = [b_u; b_z] with the current factor."""
        alpha, c = self.alpha, self.c
        wq = cones.unscale_q(cones.unscale_q(bzq))  # W^{-2} bzq
        gx, gt = self.GT_z(bzl / cones.wl**2, wq)
        rx, rt = bx + gx, bt + gt  # b_u + G^T W^{-2} b_z
        rhs = rx - (c * (rt / alpha)[:, None]).ravel()  # eliminate t
        dx = self.gram.solve(rhs)
        dt = (rt - np.einsum("bi,bi->b", c, dx[self.xi_block])) / alpha
        Gl, Gq = self.G_u(dx, dt)
        dzl = (Gl - bzl) / cones.wl**2
        dzq = cones.unscale_q(cones.unscale_q(Gq - bzq))
        return dx, dt, dzl, dzq

    def residual(self, cones: _Cones, rhs, dx, dt, dzl, dzq):
        """rhs - [P G^T; G -W^2] [du; dz]."""
        bx, bt, bzl, bzq = rhs
        gx, gt = self.GT_z(dzl, dzq)
        Gl, Gq = self.G_u(dx, dt)
        return (bx - self.gram.matvec(dx) - gx, bt - gt, bzl - Gl + cones.wl**2 * dzl,
                bzq - Gq + cones.scale_q(cones.scale_q(dzq)))

    def solve_refined(self, cones: _Cones, rhs, refine: int):
        sol = self.solve(cones, *rhs)
        for _ in range(refine):  # iterative refinement on the unreduced system
            corr = self.solve(cones, *self.residual(cones, rhs, *sol))
            sol = tuple(a + b for a, b in zip(sol, corr, strict=True))
        return sol


def _max_step(sl, zl, sq, zq, dsl, dzl, dsq, dzq) -> float:
    return min(_max_step_l(sl, dsl), _max_step_l(zl, dzl), _max_step_q(sq, dsq),
               _max_step_q(zq, dzq))


def solve_ipm(
    gram: Gram, Aty: np.ndarray, beta: float, m: int, d: int, owner: np.ndarray,
    rows: np.ndarray, tol: float = 1e-9, max_iter: int = 100,
    time_limit: float | None = None, refine: int = 1, deadline: Deadline | None = None,
) -> ReducedResult:
    """Solve the restricted program (module docstring) given its Gram matrix.

    ``rows`` (r, m d) are the selected cone rows, ``owner`` (r,) the column (0..k-1) each
    belongs to; zero rows are dropped.  Stops when the relative gap and the relative primal
    and dual residuals are below ``tol``; returns the best iterate seen (x shaped (k, m d)),
    with status Solved, AlmostSolved (within 100 tol), MaxIterations, MaxTime or
    NumericalError.  The time limit is the earlier of ``deadline`` and ``time_limit``
    seconds from the start; factorizations are interrupted by it too (``MaxTime`` with the
    best iterate, or zero before the first).
    """
    start = time.perf_counter()
    deadline = (deadline or NEVER).sooner(time_limit, start)
    kkt = _Kkt(gram, m, d, owner, rows)
    r, B = kkt.r, kkt.B
    q_x, q_t = -Aty, np.full(B, beta)
    # initial point (CVXOPT): solve with W = I, then shift s and z into the cones
    cones = _Cones(np.ones(r), np.ones(r), _unit(B, d), _unit(B, d))
    try:
        factored = kkt.factor(cones, deadline)
    except DeadlineExpired:
        return ReducedResult(np.zeros((kkt.k, kkt.md)), "MaxTime", 0,
                             time.perf_counter() - start)
    if not factored:
        return ReducedResult(np.zeros((kkt.k, kkt.md)), "NumericalError", 0,
                             time.perf_counter() - start)
    x, t, zl, zq = kkt.solve(cones, -q_x, -q_t, np.zeros(r), np.zeros((B, d + 1)))
    sl, sq = -zl, -zq
    _shift_into_cones(sl, sq)
    _shift_into_cones(zl, zq)
    nu = r + B
    status = "MaxIterations"
    best: tuple[float, np.ndarray] = (np.inf, x)  # (worst of gap and residuals, x)
    iterations = 0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        try:
            while iterations < max_iter:
                iterations += 1
                Hx = gram.matvec(x)
                gx, gt = kkt.GT_z(zl, zq)
                Gl, Gq = kkt.G_u(x, t)
                res = (Hx + q_x + gx, q_t + gt, sl + Gl, sq + Gq)  # (P u + q + G^T z, G u + s)
                mu_sum = float(sl @ zl + np.einsum("bi,bi->", sq, zq))
                pobj = 0.5 * float(x @ Hx) - float(Aty @ x) + beta * float(t.sum())
                gap = mu_sum / max(1.0, abs(pobj))
                pres = np.sqrt(float(res[2] @ res[2]) + float(np.sum(res[3] ** 2))) / max(
                    1.0, np.sqrt(float(x @ x) + float(t @ t)))
                dres = np.sqrt(float(res[0] @ res[0]) + float(res[1] @ res[1])) / max(
                    1.0, np.sqrt(float(Aty @ Aty) + B * beta**2))
                worst = max(gap, pres, dres)
                if not np.isfinite(worst):
                    status = "NumericalError"
                    break
                if worst < best[0]:
                    best = (worst, x.copy())
                if worst <= tol:
                    status = "Solved"
                    break
                if deadline.expired():
                    status = "MaxTime"
                    break
                cones = _Cones(sl, zl, sq, zq)
                if not kkt.factor(cones, deadline):
                    status = "NumericalError"
                    break
                mu = mu_sum / nu
                lam_l, lam_q = cones.lam_l, cones.lam_q

                def direction(vl, vq, cones=cones, res=res):
                    """Newton direction for the scaled complementarity rhs v
                    (W^-1 ds + W dz = v)."""
                    rhs = (-res[0], -res[1], -res[2] - cones.wl * vl, -res[3] - cones.scale_q(vq))
                    dx, dt, dzl, dzq = kkt.solve_refined(cones, rhs, refine)
                    dsl = cones.wl * (vl - cones.wl * dzl)  # ds = W (v - W dz)
                    dsq = cones.scale_q(vq - cones.scale_q(dzq))
                    return dx, dt, dzl, dzq, dsl, dsq

                # predictor (affine scaling): v = -lam
                dx, dt, dzl, dzq, dsl, dsq = direction(-lam_l, -lam_q)
                a_aff = min(1.0, _max_step(sl, zl, sq, zq, dsl, dzl, dsq, dzq))
                sigma = (1.0 - a_aff) ** 3
                # corrector: lam o v = -lam o lam - (W^-1 ds_a) o (W dz_a) + sigma mu e
                cl = -lam_l * lam_l - (dsl / cones.wl) * (cones.wl * dzl) + sigma * mu
                cq = -_jordan(lam_q, lam_q) - _jordan(cones.unscale_q(dsq), cones.scale_q(dzq))
                cq[:, 0] += sigma * mu
                dx, dt, dzl, dzq, dsl, dsq = direction(cl / lam_l, _jordan_solve(lam_q, cq))
                a = min(1.0, 0.99 * _max_step(sl, zl, sq, zq, dsl, dzl, dsq, dzq))
                if not np.isfinite(a) or a < 1e-12:
                    status = "NumericalError"
                    break
                x, t = x + a * dx, t + a * dt
                sl, sq, zl, zq = sl + a * dsl, sq + a * dsq, zl + a * dzl, zq + a * dzq
        except DeadlineExpired:  # inside a factorization: the best iterate so far
            status = "MaxTime"
    if status != "Solved":
        # near the optimum the Newton systems lose accuracy: keep the best iterate seen
        worst, x = best
        if worst <= 100.0 * tol:
            status = "AlmostSolved"
    return ReducedResult(x.reshape(kkt.k, kkt.md), status, iterations,
                         time.perf_counter() - start)


def _unit(B: int, d: int) -> np.ndarray:
    e = np.zeros((B, d + 1))
    e[:, 0] = 1.0
    return e

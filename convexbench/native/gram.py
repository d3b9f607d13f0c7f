"""The gated working set's Gram matrix H = A^T W A without forming it (matrix-free).

For columns A_c = diag(a_c) X (one block of d each, gated ReLU), the dense Gram matrix of a
working set of k columns is N x N with N = k d: at n = 12000, d = 784 (full-size
Fashion-MNIST) 20 columns already make N = 15680, a 1 GB float32 array whose build and
Cholesky factorization took minutes.  ``MatrixFreeGram`` keeps X and the (n, k) row weights:

- products H x = A^T W (A x) in two n x d x k matrix products, exact in float64;
- the diagonal blocks H_cc = X^T diag(a_c^2) X matrix-free (``RowWeightedBlocks``) or
  through their eigendecompositions (``BlockEigen``, for the block preconditioner);
- Newton solves (H_SS + blockdiag(c_g (I - w_g w_g^T)) + ridge I) p = g by conjugate
  gradients on exact products, preconditioned either
  * in sample space (``SampleGram`` attached): the Newton matrix's inverse by Woodbury
    through S = I + (X X^T) o (M diag(1/c) M^T), one float32 n x n Cholesky factorization
    per Newton step (n^3 / 3 flops whatever the width; S's upper triangle is built from X
    by row panels, n^2 (d + s) / 2 flops, X X^T is not kept), and an s x s correction for
    the rank-one terms; 4-6 conjugate-gradient steps per Newton step; memory one n x n
    float32 array; or
  * by the exact block diagonal (eigendecomposition and Sherman-Morrison per block): memory
    k d^2, but 150-400 conjugate-gradient steps per Newton step on Fashion-MNIST (the
    groups' predictions cancel along many directions: block-preconditioned condition
    numbers ~2e3 at 5 columns), and no convergence below 1e-6 within 400 at 20 columns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_factor, cho_solve, solve_triangular

from convexbench.native.cholesky import cholesky_lower
from convexbench.native.deadline import NEVER, Deadline

CG_RTOL = 1e-10  # relative residual of a matrix-free Newton solve
CG_ACCEPT = 1e-6  # ... still accepted when conjugate gradients stall above CG_RTOL
CG_MAX_ITER = 400
_CG_RTOL = 1e-12  # defaults of ``conjugate_gradients`` (the mixed Gram's refined solves)
_CG_ACCEPT = 1e-8
_CG_MAX_ITER = 50


@dataclass
class BlockEigen:
    """Diagonal blocks H_cc = Q_c diag(lam_c) Q_c^T, one per column."""

    Q: np.ndarray  # (k, d, d)
    lam: np.ndarray  # (k, d), ascending

    @property
    def lmax(self) -> np.ndarray:
        return self.lam[:, -1]

    def apply(self, x: np.ndarray) -> np.ndarray:
        """H_cc x_c for every block (x: (k, d))."""
        coords = np.einsum("gji,gj->gi", self.Q, x)
        return np.einsum("gij,gj->gi", self.Q, coords * self.lam)

    def apply_one(self, g: int, v: np.ndarray) -> np.ndarray:
        return self.Q[g] @ (self.lam[g] * (self.Q[g].T @ v))


def group_curvature(c: np.ndarray, w: np.ndarray) -> np.ndarray:
    """c_g (I - w_g w_g^T) per group (s, d, d): the curvature of beta ||x_g|| at x_g, with
    c_g = beta / ||x_g|| and w_g = x_g / ||x_g||."""
    d = w.shape[1]
    return c[:, None, None] * (np.eye(d)[None] - w[:, :, None] * w[:, None, :])


class NewtonViews:
    """What the active-set Newton method (``newton.py``) needs of a Gram matrix held as an
    array (``PackedGram``, ``LowRankGram``, ``MixedGram``): the diagonal blocks, products with
    a few columns, and Newton solves through ``solve_principal``."""

    size: int

    @property
    def newton_width(self) -> int:
        """The widest Newton matrix (variables of the nonzero groups) the method may form."""
        return self.size

    def diagonal_blocks(self, d: int, deadline: Deadline = NEVER) -> DenseBlocks:
        return DenseBlocks(self.diag_blocks(d, deadline), deadline)

    def times_columns(self, idx: np.ndarray, v: np.ndarray) -> np.ndarray:
        """H[:, idx] v."""
        return self.columns(idx) @ v

    def solve_newton_system(self, groups: np.ndarray, c: np.ndarray, w: np.ndarray,
                            rhs: np.ndarray, ridge: float = 0.0, deadline: Deadline = NEVER
                            ) -> np.ndarray | None:
        """(H_SS + blockdiag(c_g (I - w_g w_g^T)) + ridge I)^{-1} rhs on the groups S =
        ``groups``; None when not numerically positive definite."""
        d = w.shape[1]
        idx = (np.asarray(groups)[:, None] * d + np.arange(d)).ravel()
        return self.solve_principal(idx, group_curvature(c, w), rhs, ridge, deadline)


@dataclass
class DenseBlocks:
    """Diagonal blocks H_cc held as arrays (from a dense or mixed Gram matrix)."""

    blocks: np.ndarray  # (k, d, d)
    deadline: Deadline = NEVER

    @property
    def lmax(self) -> np.ndarray:
        k, d = self.blocks.shape[:2]
        out = np.full(k, np.nan)
        if not np.all(np.isfinite(self.blocks)):
            return out
        for part in self.deadline.pieces(k, 10.0 * d**3):
            self.deadline.check()
            out[part] = np.linalg.eigvalsh(self.blocks[part])[:, -1]
        return out

    def apply(self, x: np.ndarray) -> np.ndarray:
        return np.einsum("gij,gj->gi", self.blocks, x)

    def apply_one(self, g: int, v: np.ndarray) -> np.ndarray:
        return self.blocks[g] @ v


class RowWeightedBlocks:
    """Diagonal blocks H_cc = X^T diag(a_c^2) X applied matrix-free (4 n d k flops for all
    k at once), with the bound max(a_c^2) lambda_max(X^T X) for their largest eigenvalues."""

    def __init__(self, X: np.ndarray, coef: np.ndarray, top: float):
        self.X, self.sq = X, coef**2
        self.lmax = top * self.sq.max(axis=0)

    def apply(self, x: np.ndarray) -> np.ndarray:
        return (self.sq * (self.X @ x.T)).T @ self.X

    def apply_one(self, g: int, v: np.ndarray) -> np.ndarray:
        return (self.sq[:, g] * (self.X @ v)) @ self.X


class RowWeightedProducts:
    """Exact float64 products with H = A^T W A for columns A_c = diag(a_c) X, from X and
    ``coef`` = (n, k) a_c sqrt(W), without forming A (shared by ``MatrixFreeGram`` and
    ``mixed.MixedGram``)."""

    def __init__(self, X: np.ndarray, coef: np.ndarray):
        self.X, self.coef = X, coef
        self.k, self.d = coef.shape[1], X.shape[1]
        self.diag = ((coef**2).T @ (X**2)).ravel()  # exact

    @property
    def size(self) -> int:
        return self.k * self.d

    def matvec(self, x: np.ndarray) -> np.ndarray:
        """H x, exact: A^T W (A x) without forming A."""
        z = np.einsum("nk,nk->n", self.coef, self.X @ x.reshape(self.k, self.d).T)
        return ((self.coef * z[:, None]).T @ self.X).ravel()

    def times_columns(self, idx: np.ndarray, v: np.ndarray) -> np.ndarray:
        """H[:, idx] v, one exact product (H's columns are not formed)."""
        full = np.zeros(self.size)
        full[idx] = v
        return self.matvec(full)


class MatrixFreeGram(RowWeightedProducts, NewtonViews):
    """H = A^T W A for columns A_c = diag(a_c) X, from X and ``coef`` = (n, k) a_c sqrt(W)."""

    def __init__(self, X: np.ndarray, coef: np.ndarray):
        super().__init__(X, coef)
        self._eigen: BlockEigen | None = None
        self.sample: SampleGram | None = None  # X X^T, for the sample-space preconditioner

    def diagonal_blocks(self, d: int | None = None, deadline: Deadline = NEVER
                        ) -> BlockEigen | RowWeightedBlocks:
        """The diagonal blocks as the Newton method uses them: eigendecompositions for the
        block preconditioner, matrix-free (no k d^2 array) under the sample-space one."""
        if self.sample is None:
            return self.block_eigen(deadline)
        return RowWeightedBlocks(self.X, self.coef, self.sample.top_eigenvalue())

    def block_eigen(self, deadline: Deadline = NEVER) -> BlockEigen:
        """The eigendecompositions of the k diagonal blocks (2 n d^2 + 10 d^3 flops each,
        on the rows with nonzero weight only; the clock is read between blocks)."""
        if self._eigen is None:
            Q = np.empty((self.k, self.d, self.d))
            lam = np.empty((self.k, self.d))
            for c in range(self.k):
                deadline.check()
                rows = np.flatnonzero(self.coef[:, c])
                Xc = self.X[rows] * self.coef[rows, c, None]
                lam[c], Q[c] = np.linalg.eigh(Xc.T @ Xc)
            self._eigen = BlockEigen(Q, np.maximum(lam, 0.0))
        return self._eigen

    def solve_newton_system(self, groups: np.ndarray, c: np.ndarray, w: np.ndarray,
                            rhs: np.ndarray, ridge: float = 0.0, deadline: Deadline = NEVER
                            ) -> np.ndarray | None:
        """(H_SS + blockdiag(c_g (I - w_g w_g^T)) + ridge I)^{-1} rhs on the groups S =
        ``groups`` (the Newton matrix of the group norm, unit w_g) by preconditioned
        conjugate gradients on exact products: preconditioned in sample space when an
        ``X X^T`` is attached (``sample``), else by the exact block diagonal.  None when the
        preconditioner does not exist or the iteration does not converge (the caller then
        tries a larger ridge)."""
        d = self.d
        rhs = np.asarray(rhs, dtype=np.float64)

        def apply(v: np.ndarray) -> np.ndarray:
            full = np.zeros((self.k, d))
            vg = v.reshape(-1, d)
            full[groups] = vg
            Hv = self.matvec(full.ravel()).reshape(self.k, d)[groups]
            curv = c[:, None] * (vg - w * np.einsum("gi,gi->g", w, vg)[:, None])
            return (Hv + curv).ravel() + ridge * v

        if self.sample is not None:
            precondition = self._sample_space_inverse(groups, c, w, ridge, deadline)
        else:
            precondition = self._block_inverse(groups, c, w, ridge, deadline)
        if precondition is None:
            return None
        return conjugate_gradients(apply, precondition, rhs, rtol=CG_RTOL, accept=CG_ACCEPT,
                                   max_iter=CG_MAX_ITER, deadline=deadline)

    def _block_inverse(self, groups: np.ndarray, c: np.ndarray, w: np.ndarray, ridge: float,
                       deadline: Deadline) -> Callable[[np.ndarray], np.ndarray] | None:
        """v -> blockdiag(H_gg + c_g (I - w_g w_g^T) + ridge I)^{-1} v, each block through
        its eigendecomposition and Sherman-Morrison for the rank-one term."""
        d = self.d
        eig = self.block_eigen(deadline)
        Q, lam = eig.Q[groups], eig.lam[groups]
        QT = Q.transpose(0, 2, 1)
        shift = lam + (c + ridge)[:, None]
        if not np.all(shift > 0):
            return None
        Qw = np.matmul(QT, w[:, :, None])[:, :, 0]
        Binv_w = Qw / shift
        denom = 1.0 - c * np.einsum("gi,gi->g", Qw, Binv_w)
        if not np.all(denom > 0):
            return None

        def precondition(v: np.ndarray) -> np.ndarray:
            coords = np.matmul(QT, v.reshape(-1, d)[:, :, None])[:, :, 0] / shift
            coords += (c * np.einsum("gi,gi->g", Qw, coords) / denom)[:, None] * Binv_w
            return np.matmul(Q, coords[:, :, None])[:, :, 0].ravel()

        return precondition

    def _sample_space_inverse(self, groups: np.ndarray, c: np.ndarray, w: np.ndarray,
                              ridge: float, deadline: Deadline
                              ) -> Callable[[np.ndarray], np.ndarray] | None:
        """v -> K^{-1} v in float32 for K = A^T A + (c + ridge) I - W diag(c) W^T (A: the
        groups' columns, W = blockdiag(w_g)): K0 = A^T A + (c + ridge) I is inverted through
        the n x n matrix S = I + (X X^T) o (A_w diag(1/(c + ridge)) A_w^T) (A_w: the row
        weights; one Cholesky factorization, n^3 / 3 flops) and the rank-s term by Woodbury
        with the s x s matrix T = diag(1/c) - W^T K0^{-1} W."""
        assert self.sample is not None
        n, d = self.X.shape
        coef = self.coef[:, groups]
        cr = c + ridge
        if not np.all(cr > 0):
            return None
        weights = (coef / cr).astype(np.float32)
        coef32 = coef.T.astype(np.float32)
        S = self.sample.hadamard_upper(weights, coef32, deadline)
        S[np.diag_indices(n)] += 1.0
        L = S.T  # its upper triangle, read Fortran-ordered, is L's lower triangle
        if cholesky_lower(L, deadline) != 0:
            return None

        def s_solve(b: np.ndarray) -> np.ndarray:
            half = solve_triangular(L, b.astype(np.float32), lower=True, check_finite=False)
            return solve_triangular(L, half, lower=True, trans=1, check_finite=False)

        F = coef * (self.X @ w.T) / cr  # A (e_g x w_g / cr_g), one column per group
        LF = solve_triangular(L, F.astype(np.float32), lower=True,
                              check_finite=False).astype(np.float64)
        T = LF.T @ LF
        T[np.diag_indices_from(T)] += 1.0 / c - 1.0 / cr
        SF = s_solve(F).astype(np.float64)
        try:
            T_factor = cho_factor(T, lower=True, check_finite=False)
        except np.linalg.LinAlgError:
            return None

        def precondition(v: np.ndarray) -> np.ndarray:
            # y1 = K0^{-1} v = u - C^{-1} A^T q1 (u = C^{-1} v, q1 = S^{-1} A u); its w-parts
            # w_g^T y1_g = w_g^T u_g - F_g^T q1 need no product with A^T; then K^{-1} v =
            # y1 + K0^{-1} W z = u + W z / (c + ridge) - C^{-1} A^T (q1 + S^{-1} F z): one
            # product with A^T instead of two
            u = v.reshape(-1, d) / cr[:, None]
            t = np.einsum("ns,ns->n", coef, self.X @ u.T)  # A u
            q1 = s_solve(t).astype(np.float64)
            wy1 = np.einsum("gi,gi->g", w, u) - F.T @ q1
            z = cho_solve(T_factor, wy1, check_finite=False)
            q = q1 + SF @ z
            out = u + w * (z / cr)[:, None] - ((coef * q[:, None]).T @ self.X) / cr[:, None]
            return out.ravel()

        return precondition


PANEL_BYTES = 1 << 25  # one row panel of X X^T at a time (32 MB): no n x n copy of it is kept


class SampleGram:
    """Products with X X^T in float32 for the sample-space preconditioner, from X (a float32
    copy made on first use and shared by the restricted solves of one native solve).

    X X^T itself is not kept: each Newton step's matrix (X X^T) o (W C^T) is built panel by
    panel from X (its upper triangle only, n^2 (d + k) / 2 flops), so the preconditioner's
    memory is that one n x n float32 array (576 MB at n = 12000; with X X^T kept as well it
    was twice that)."""

    def __init__(self, X: np.ndarray):
        self.X = X
        self._X32: np.ndarray | None = None
        self._top: float | None = None

    def top_eigenvalue(self) -> float:
        """lambda_max(X^T X)."""
        if self._top is None:
            self._top = float(np.linalg.eigvalsh(self.X.T @ self.X)[-1])
        return self._top

    def hadamard_upper(self, weights: np.ndarray, coef: np.ndarray,
                       deadline: Deadline = NEVER) -> np.ndarray:
        """S = (X X^T) o (weights coef) in float32, ``weights`` (n, k) and ``coef`` (k, n), its
        upper triangle (and diagonal) filled, the rest left as it was allocated.  Row panels
        of at most ``PANEL_BYTES`` of X X^T; the clock is read between panels."""
        if self._X32 is None:
            self._X32 = self.X.astype(np.float32)
        X32 = self._X32
        n = X32.shape[0]
        S = np.empty((n, n), dtype=np.float32)
        step = max(1, PANEL_BYTES // (4 * n))
        for lo in range(0, n, step):
            hi = min(lo + step, n)
            deadline.check()
            panel = S[lo:hi, lo:]
            np.matmul(weights[lo:hi], coef[:, lo:], out=panel)
            panel *= X32[lo:hi] @ X32[lo:].T
        return S


def conjugate_gradients(apply: Callable[[np.ndarray], np.ndarray],
                        precondition: Callable[[np.ndarray], np.ndarray], b: np.ndarray,
                        rtol: float = _CG_RTOL, accept: float = _CG_ACCEPT,
                        max_iter: int = _CG_MAX_ITER, deadline: Deadline = NEVER
                        ) -> np.ndarray | None:
    """x with ||apply(x) - b|| <= rtol ||b|| (or ``accept`` ||b|| when the iteration stalls)
    by preconditioned conjugate gradients from precondition(b); None if neither holds or the
    operator is not positive definite along the way; ``DeadlineExpired`` once ``deadline``
    has passed (read every iteration)."""
    bnorm = float(np.linalg.norm(b))
    if bnorm == 0.0:
        return np.zeros_like(b)
    x = precondition(b)
    r = b - apply(x)
    best = (float(np.linalg.norm(r)), x.copy())
    z = precondition(r)
    p = z.copy()
    rz = float(r @ z)
    for _ in range(max_iter):
        if best[0] <= rtol * bnorm:
            break
        deadline.check()
        Ap = apply(p)
        pAp = float(p @ Ap)
        if not (np.isfinite(pAp) and pAp > 0.0):
            break
        step = rz / pAp
        x += step * p
        r -= step * Ap
        norm = float(np.linalg.norm(r))
        if norm < best[0]:
            best = (norm, x.copy())
        z = precondition(r)
        rz, previous = float(r @ z), rz
        p = z + (rz / previous) * p
    x = best[1]
    true = float(np.linalg.norm(b - apply(x)))  # the recursion's residual can drift
    return x if np.isfinite(true) and true <= accept * bnorm else None

"""Sign patterns D = diag(1[X u >= 0]) of the hyperplane arrangement of the data (MATH.md §1).

Patterns are returned as boolean arrays of shape (P, n): row i is the diagonal of D_i.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from convexbench.errors import UserError

DEFAULT_ENUMERATION_LIMIT = 200_000


def cover_count(n: int, r: int) -> int:
    """Cover's count 2 * sum_{k<r} C(n-1, k): the number of cells of n central hyperplanes
    in general position in R^r (the number of sign patterns of data of rank r)."""
    if n <= 0 or r <= 0:
        return 1
    return 2 * sum(math.comb(n - 1, k) for k in range(min(r, n)))


def data_rank(X: np.ndarray, tol: float | None = None) -> int:
    return int(np.linalg.matrix_rank(X, tol=tol))


def unique_pattern_index(patterns: np.ndarray, drop_zero: bool = False) -> np.ndarray:
    """Indices of the distinct rows of a boolean (P, n) array, in order of first appearance."""
    patterns = np.asarray(patterns, dtype=bool)
    if patterns.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    packed = np.packbits(patterns, axis=1)
    _, first = np.unique(packed, axis=0, return_index=True)
    first = np.sort(first)
    if drop_zero:
        first = first[patterns[first].any(axis=1)]
    return first


def unique_patterns(patterns: np.ndarray, drop_zero: bool = False) -> np.ndarray:
    """Distinct rows of a boolean (P, n) array, in order of first appearance."""
    patterns = np.asarray(patterns, dtype=bool)
    return patterns[unique_pattern_index(patterns, drop_zero)]


def sample_patterns(
    X: np.ndarray,
    n_samples: int,
    seed: int = 0,
    drop_zero: bool = True,
    return_directions: bool = False,
):
    """Distinct patterns 1[X u >= 0] for ``n_samples`` Gaussian directions u (seeded).

    With ``return_directions`` also returns one generating direction per pattern, shape
    (P, d), which gated networks use as their gates on new data.
    """
    if n_samples < 1:
        raise UserError("the number of sampled patterns must be at least 1")
    rng = np.random.default_rng(seed)
    U = rng.standard_normal((X.shape[1], n_samples))
    raw = (X @ U >= 0).T
    keep = unique_pattern_index(raw, drop_zero=drop_zero)
    if return_directions:
        return raw[keep], U.T[keep]
    return raw[keep]


@dataclass(frozen=True)
class Arrangement:
    """The result of exact enumeration: every cell pattern, with the counts that check it."""

    patterns: np.ndarray
    directions: np.ndarray
    n: int
    d: int
    rank: int
    cover_count: int

    @property
    def n_patterns(self) -> int:
        return int(self.patterns.shape[0])


def _row_space_coordinates(X: np.ndarray, tol: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates Z (n x r) of the rows of X in an orthonormal basis (r x d) of its row space."""
    _, s, Vt = np.linalg.svd(X, full_matrices=False)
    r = int(np.sum(s > tol * max(1.0, s[0]))) if s.size else 0
    return X @ Vt[:r].T, Vt[:r]


def enumerate_patterns(
    X: np.ndarray,
    limit: int = DEFAULT_ENUMERATION_LIMIT,
    drop_zero: bool = False,
    chunk: int = 4096,
) -> Arrangement:
    """All cells of the central arrangement {x_i^T u = 0} (exact enumeration).

    Works in the row space of X (dimension r = rank X).  Every cell of an arrangement on the
    sphere S^{r-1} has a vertex; at each vertex (the null direction of r-1 rows) the cells
    around it are reached by stepping off each of those hyperplanes to either side.  This finds
    every cell when r <= 3 for any data, and for any r on data in general position.  Refuses
    when Cover's bound on the count or the number of candidate vertices exceeds ``limit``.
    """
    X = np.asarray(X, dtype=float)
    n, d = X.shape
    Z, basis = _row_space_coordinates(X)
    r = Z.shape[1]
    bound = cover_count(n, r)
    n_candidates = math.comb(n, max(r - 1, 0)) * 2 ** max(r, 1)
    if bound > limit or n_candidates > 50 * limit:
        raise UserError(
            f"exact enumeration would give up to {bound} patterns from {n_candidates} candidates "
            f"(n={n}, rank={r}); the limit is {limit}: sample patterns instead"
        )
    if r == 0:
        cells, dirs = np.ones((1, n), dtype=bool), np.zeros((1, 0))
    elif r == 1:
        z = Z[:, 0]
        cells, dirs = np.stack([z >= 0, -z >= 0]), np.array([[1.0], [-1.0]])
    else:
        cells, dirs = _vertex_cells(Z, chunk)
    keep = unique_pattern_index(cells, drop_zero=drop_zero)
    directions = dirs[keep] @ basis if r > 0 else np.zeros((len(keep), d))
    return Arrangement(
        patterns=cells[keep], directions=directions, n=n, d=d, rank=r, cover_count=bound
    )


def _vertex_cells(Z: np.ndarray, chunk: int) -> tuple[np.ndarray, np.ndarray]:
    """Cell patterns around every vertex of the arrangement of the rows of Z (n x r, r >= 2),
    with one interior point of each cell."""
    n, r = Z.shape
    k = r - 1
    subsets = np.array(list(itertools.combinations(range(n), k)), dtype=np.int64)
    signs = np.array(list(itertools.product((-1.0, 1.0), repeat=k)))  # (2^k, k)
    scale = np.max(np.linalg.norm(Z, axis=1))
    found: list[np.ndarray] = []
    points: list[np.ndarray] = []
    for start in range(0, len(subsets), chunk):
        S = subsets[start : start + chunk]
        A = Z[S]  # (b, k, r)
        # null direction of each (k x r) block: last right singular vector
        _, sv, Vt = np.linalg.svd(A, full_matrices=True)
        v = Vt[:, -1, :]  # (b, r)
        ok = sv[:, -1] > 1e-9 * scale if k > 0 else np.ones(len(S), dtype=bool)
        v, A, S = v[ok], A[ok], S[ok]
        if len(S) == 0:
            continue
        # offsets w with A w = sigma for each sign vector (minimum-norm solution)
        W = np.einsum("brk,sk->bsr", np.linalg.pinv(A), signs)  # (b, 2^k, r)
        Wn = np.linalg.norm(W, axis=2, keepdims=True)
        W = W / Wn
        proj_v = Z @ v.T  # (n, b)
        # step small enough not to cross any hyperplane that does not pass through the vertex
        with np.errstate(divide="ignore"):
            nz = np.abs(proj_v) > 1e-12 * scale
            gap = np.where(nz, np.abs(proj_v), np.inf).min(axis=0)  # (b,)
        eps = 0.25 * np.where(np.isfinite(gap), gap, 1.0) / max(scale, 1e-300)
        for sgn in (1.0, -1.0):
            U = sgn * v[:, None, :] + eps[:, None, None] * W  # (b, 2^k, r)
            vals = np.einsum("nr,bsr->bsn", Z, U)
            found.append((vals > 0).reshape(-1, n))
            points.append(U.reshape(-1, r))
    if not found:
        return np.zeros((0, n), dtype=bool), np.zeros((0, r))
    cells = np.concatenate(found, axis=0)
    zero_rows = np.linalg.norm(Z, axis=1) <= 1e-12 * scale
    cells[:, zero_rows] = True  # 1[0 >= 0]
    return cells, np.concatenate(points, axis=0)

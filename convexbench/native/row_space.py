"""Programs with more features than samples, solved in the row space of their data.

Every block of a relu2, gated2 or relu3 solution (``V``, ``W``, ``U``, ``W``/``Wp``: last axis
of length d) enters the program only through X b: in the predictions, the cone rows
(2 D - I) X b >= 0 and, through the norms ||b||, the penalty.  With X = U S Q^T (thin SVD,
Q (d, r) an orthonormal basis of the row space, r = rank X <= n), the part of b orthogonal to
Q changes neither the predictions nor the cone rows and only adds to ||b||, so an optimum has
none of it: the program on the data X Q (n x r) has the same optimal value, its solutions
b' map to solutions b = Q b' with the same norms, and every dual direction (n-vector) is
shared.  When d > n this cuts the variables by d / r at least (uci:trains, n = 8, d = 29:
r = 7; Fashion-MNIST class pairs of 250 images per class at raw pixels, d = 784: r = 499).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from convexbench.programs.base import DUAL_HINT, ConvexProgram, Solution


@dataclass(frozen=True)
class RowSpace:
    """An orthonormal basis Q (d, r) of the row space of a program's data."""

    basis: np.ndarray

    def reduce(self, program: ConvexProgram) -> ConvexProgram:
        """The program on the data X Q (the patterns, atoms, y and beta unchanged)."""
        reduced = copy.copy(program)
        reduced.X = np.ascontiguousarray(program.X @ self.basis)
        directions = getattr(program, "directions", None)
        if directions is not None:  # two-layer: a generating direction u of each pattern
            reduced.directions = directions @ self.basis
        return reduced

    def to_reduced(self, solution: Solution) -> Solution:
        """A solution of the program as one of the reduced program (blocks b -> Q^T b)."""
        return {name: block if name == DUAL_HINT else block @ self.basis
                for name, block in solution.items()}

    def from_reduced(self, solution: Solution) -> Solution:
        """A solution of the reduced program as one of the program (blocks b' -> Q b')."""
        return {name: block if name == DUAL_HINT else block @ self.basis.T
                for name, block in solution.items()}


WIDE_SVD_FLOPS = 2e10  # data with d > n is reduced up to this size (an SVD, n^2 d flops).
# Not data with d <= n: collinear features (uci:arrhythmia, 339 x 262, rank 245;
# audiology-std 128 x 59, rank 53; steel-plates 1456 x 27, rank 26) gained nothing, in
# process, one run each: 0.59-1.10x
SVD_FLOP_RATE = 1e9  # flops per second an SVD is expected to reach at least ...
SVD_SHARE = 0.05  # ... and the share of a time limit it may take


def row_space(program: ConvexProgram, time_limit: float | None = None) -> RowSpace | None:
    """The row space of the program's data when it has more features than samples (d > n,
    so rank r <= n < d), else None; only up to ``WIDE_SVD_FLOPS``, and under a
    ``time_limit`` (seconds) only when the SVD is expected to take at most ``SVD_SHARE`` of
    it.  The rank is numpy's: singular values above max(n, d) eps times the largest (the
    directions left out move every prediction by less than that, relative)."""
    n, d = program.X.shape
    flops = float(n) * n * d
    if d <= n or flops > WIDE_SVD_FLOPS:
        return None
    if time_limit is not None and flops / SVD_FLOP_RATE > SVD_SHARE * time_limit:
        return None
    _, s, Qt = np.linalg.svd(program.X, full_matrices=False)
    if len(s) == 0 or s[0] == 0:
        return None
    rank = int(np.count_nonzero(s > s[0] * max(n, d) * np.finfo(float).eps))
    return RowSpace(np.ascontiguousarray(Qt[:rank].T))

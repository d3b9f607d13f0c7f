"""The programs' scaling law, used to hand solvers data of unit size.

For the squared loss, (X, y, beta) -> (X / a, y / c, beta / (a c)) maps a solution w to
(a / c) w, predictions to z / c and the objective to f / c^2; for hinge and logistic (labels
stay +-1, c = 1) only X and beta are scaled.  The same holds for relu2, gated2 and relu3, whose
blocks all enter the predictions linearly through X (MATH.md §2-3).  Solvers have absolute
tolerances and floors of 1 inside; on unit data they mean the same at every scale.
"""

from __future__ import annotations

import copy

import numpy as np

from convexbench.programs.base import DUAL_HINT, ConvexProgram, Solution


def unit_scaled(program: ConvexProgram) -> tuple[ConvexProgram, float, float]:
    """The program on data X / a, y / c and beta / (a c), with a = max|X| and, for the
    squared loss, c = max|y| (c = 1 for hinge and logistic), and (a, c).  The program itself
    when a = c = 1."""
    a = float(np.max(np.abs(program.X)))
    c = float(np.max(np.abs(program.y))) if program.loss.name == "squared" else 1.0
    a = a if a > 0 else 1.0
    c = c if c > 0 else 1.0
    if a == 1.0 and c == 1.0:
        return program, a, c
    scaled = copy.copy(program)
    scaled.X, scaled.y, scaled.beta = program.X / a, program.y / c, program.beta / (a * c)
    return scaled, a, c


def to_scaled(solution: Solution, a: float, c: float) -> Solution:
    """A solution of the original program as one of ``unit_scaled``'s program."""
    return _rescale(solution, a / c, 1.0 / c)


def from_scaled(solution: Solution, a: float, c: float) -> Solution:
    """A solution of ``unit_scaled``'s program in the original program's units."""
    return _rescale(solution, c / a, c)


def _rescale(solution: Solution, block_factor: float, hint_factor: float) -> Solution:
    """Blocks times ``block_factor``; the dual hint (a residual for the squared loss, scale-
    free otherwise, where c = 1) times ``hint_factor``."""
    return {name: block * (hint_factor if name == DUAL_HINT else block_factor)
            for name, block in solution.items()}

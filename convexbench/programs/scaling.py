"""The programs' scaling law, used to hand solvers data of unit size.

For the squared loss, (X, y, beta) -> (X / a, y / c, beta / (a c)) maps a solution w to
(a / c) w, predictions to z / c and the objective to f / c^2; for hinge and logistic (labels
stay +-1, c = 1) only X and beta are scaled.  The same holds for relu2, gated2 and relu3, whose
blocks all enter the predictions linearly through X (MATH.md §2-3).  Solvers have absolute
tolerances and floors of 1 inside; handed data of about unit size, they mean the same at every
scale.
"""

from __future__ import annotations

import copy

import numpy as np

from convexbench.programs.base import DUAL_HINT, ConvexProgram, Solution

UNIT_BAND = 16.0  # data whose largest entry is within [1/16, 16] is left as it is


def unit_factor(size: float) -> float:
    """1 for ``size`` in [1/UNIT_BAND, UNIT_BAND] (or 0), else the power of two nearest to it.

    Only data far from unit size is rescaled: solvers are tuned for it, and rescaling data
    already near it changed which point an interior-point solver stopped at (measured: ECOS
    on a relu2 program with max|X| = 3.3 went from a certified gap of 4e-7 to 1.1e-6).  A
    power of two divides exactly, so the scaled program is the same program to the last bit.
    """
    if size == 0 or 1.0 / UNIT_BAND <= size <= UNIT_BAND:
        return 1.0
    return float(2.0 ** np.round(np.log2(size)))


def unit_scaled(program: ConvexProgram) -> tuple[ConvexProgram, float, float]:
    """The program on data X / a, y / c and beta / (a c), with a the :func:`unit_factor` of
    max|X| and, for the squared loss, c that of max|y| (c = 1 for hinge and logistic), and
    (a, c).  The program itself when a = c = 1."""
    a = unit_factor(float(np.max(np.abs(program.X))))
    c = unit_factor(float(np.max(np.abs(program.y)))) if program.loss.name == "squared" else 1.0
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


def trace_from_scaled(trace, c: float) -> list[tuple[float, float, float]]:
    """A solver's (seconds, objective, relative violation) trace on ``unit_scaled`` data in
    the original units: objectives times c^2, the rest unchanged."""
    return [(t, objective * c**2, violation) for t, objective, violation in trace]


def _rescale(solution: Solution, block_factor: float, hint_factor: float) -> Solution:
    """Blocks times ``block_factor``; the dual hint (a residual for the squared loss, scale-
    free otherwise, where c = 1) times ``hint_factor``."""
    return {name: block * (hint_factor if name == DUAL_HINT else block_factor)
            for name, block in solution.items()}

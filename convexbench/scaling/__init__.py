"""The complexity harness (MATH.md §4): measured exponents of the polynomial-time claims.

``grid`` (points and their low-rank data), ``measure`` (patterns, sizes, times, memory of one
point; limits recorded), ``fits`` (log-log exponents with bootstrap intervals and verdicts),
``outputs`` (CSV, Markdown/LaTeX tables, seaborn plots) and ``run`` (:func:`run_scaling`).
"""

from convexbench.scaling.fits import Fit, fit_exponent, fit_records
from convexbench.scaling.grid import GridPoint, make_grid, point_data
from convexbench.scaling.measure import PointRecord, SaturationRecord, SolveSettings, run_sweep
from convexbench.scaling.run import (
    ScalingResult,
    run_scaling,
    run_scaling_full,
    run_scaling_quick,
)

__all__ = [
    "Fit", "GridPoint", "PointRecord", "SaturationRecord", "ScalingResult", "SolveSettings",
    "fit_exponent", "fit_records", "make_grid", "point_data", "run_scaling", "run_scaling_full",
    "run_scaling_quick", "run_sweep",
]

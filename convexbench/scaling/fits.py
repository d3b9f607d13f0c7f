"""Log-log exponent fits with seeded bootstrap confidence intervals, and their verdicts.

For a series (every grid axis fixed except one), ``log y = a + k log x`` is fitted by least
squares; ``k`` is the measured exponent.  The confidence interval is the percentile interval
of ``k`` over pairs-bootstrap resamples of the rows (resamples with a single distinct ``x``
are dropped).

Which points enter a fit (``window``).  Polynomial counts have lower-order terms: Cover's count
for rank 3 is ``n^2 - n + 2``, whose local log-log slope is ``2 + (n - 4)/(n^2 - n + 2)``, about
``2 + 1/n``; timings have constant overheads that flatten small sizes the same way.  The
exponent the theory speaks of is the asymptotic one, so by default (``window="upper"``) a fit
uses the upper half of the distinct x values of its series (at least 3 when there are 3).
``window="all"`` fits every point; both slopes are reported (``estimate`` and
``estimate_all``), and pattern fits also report ``reference_finite``: the slope of Cover's
formula itself over the same x values, i.e. what exact counting must give on that range.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from convexbench.names import TWO_LAYER_MODELS
from convexbench.patterns import cover_count
from convexbench.scaling.measure import PointRecord

METRICS = ("patterns", "variables", "time_compile", "time_solve", "time_wall", "memory")
AXES = ("n", "d", "P", "m1")
METRIC_UNITS = {
    "patterns": "count", "variables": "count", "time_compile": "s", "time_solve": "s",
    "time_wall": "s", "memory": "MB",
}
AXIS_LABELS = {
    "n": "samples n", "d": "dimension d", "P": "patterns / atoms in the program P",
    "m1": "first-layer width m1",
}
# the grid coordinates held fixed along a series in each axis
SERIES_KEYS = {"n": ("d", "rank", "m1"), "d": ("n", "rank", "m1"), "P": ("d", "rank", "m1"),
               "m1": ("n", "d", "rank")}
_PER_BACKEND = ("time_compile", "time_solve", "time_wall", "memory")
_METRIC_AXES = {"patterns": ("n", "d")}
DEFAULT_TOLERANCE = 0.05
DEFAULT_BOOTSTRAP = 1000


@dataclass(frozen=True)
class ExponentEstimate:
    """A fitted slope with its bootstrap interval."""

    slope: float
    intercept: float
    ci_low: float
    ci_high: float
    n_points: int
    n_boot: int  # resamples used


@dataclass(frozen=True)
class Fit:
    """One fitted exponent, its reference degree and the verdict."""

    model: str
    metric: str
    axis: str
    backend: str  # "" for backend-independent metrics (patterns, variables)
    series: str  # the fixed coordinates, e.g. "d=5, rank=2, m1=1"
    rank: int
    patterns_mode: str
    n_points: int
    x_min: float
    x_max: float
    estimate: float
    ci_low: float
    ci_high: float
    intercept: float
    estimate_all: float
    reference: float | None
    reference_kind: str  # "exact", "bound" or ""
    reference_finite: float | None
    excluded: int  # rows left out because they hit a limit or did not finish
    verdict: str


def fit_exponent(
    x: Sequence[float],
    y: Sequence[float],
    n_boot: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
    level: float = 0.95,
) -> ExponentEstimate:
    """Least-squares slope of log y on log x with a seeded percentile bootstrap interval
    (NaN when there are only two points: nothing to resample)."""
    lx = np.log(np.asarray(x, dtype=float))
    ly = np.log(np.asarray(y, dtype=float))
    if lx.size < 2 or np.unique(lx).size < 2:
        raise ValueError("a log-log fit needs at least two distinct x values")
    slope, intercept = np.polyfit(lx, ly, 1)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, lx.size, size=(n_boot, lx.size))
    bx, by = lx[idx], ly[idx]
    bx_c = bx - bx.mean(axis=1, keepdims=True)
    sxx = (bx_c**2).sum(axis=1)
    ok = sxx > 1e-12 * max(1.0, float(np.ptp(lx)) ** 2)
    slopes = (bx_c[ok] * (by[ok] - by[ok].mean(axis=1, keepdims=True))).sum(axis=1) / sxx[ok]
    alpha = (1.0 - level) / 2.0
    if lx.size > 2 and slopes.size:
        low, high = np.quantile(slopes, [alpha, 1.0 - alpha])
    else:  # two points determine the line: no residual, no interval
        low = high = math.nan
    # the percentile interval can miss an exact estimate by rounding only: snap it
    eps = 1e-9 * (1.0 + abs(slope))
    low = slope if slope < low <= slope + eps else low
    high = slope if slope - eps <= high < slope else high
    return ExponentEstimate(float(slope), float(intercept), float(low), float(high),
                            int(lx.size), int(slopes.size))


def fit_window(xs: Sequence[float], window: str = "upper") -> list[float]:
    """The distinct x values a fit uses: all of them, or the upper half (at least 3)."""
    distinct = sorted(set(xs))
    if window == "all" or len(distinct) <= 3:
        return distinct
    if window != "upper":
        raise ValueError(f"window must be 'upper' or 'all', got {window!r}")
    keep = max(3, math.ceil(len(distinct) / 2))
    return distinct[-keep:]


def reference_degree(
    model: str, metric: str, axis: str, rank: int, exact: bool
) -> tuple[float | None, str]:
    """The degree the theory gives (MATH.md §1, §4) and whether it is exact or a bound."""
    two_layer = model in TWO_LAYER_MODELS
    if metric == "patterns":
        if axis == "n":
            return float(rank - 1), "exact" if exact else "bound"
        if axis == "d":
            return 0.0, "exact" if exact else ""
    if metric == "variables":
        if axis == "P":
            return 1.0, "exact"
        if axis == "d" and exact:
            return 1.0, "exact"
        if axis == "n" and exact and two_layer:
            return float(rank - 1), "exact"
    if metric.startswith("time") and metric != "time_compile":
        # interior point: O((P d)^3) per solve (MATH.md §4)
        if axis in ("P", "d"):
            return 3.0, "bound"
        if axis == "n" and exact and two_layer:
            return 3.0 * (rank - 1), "bound"
    return None, ""


def verdict(estimate: ExponentEstimate, reference: float | None, kind: str,
            tolerance: float = DEFAULT_TOLERANCE) -> str:
    """A one-phrase verdict comparing the fitted exponent with its reference degree."""
    if reference is None or not kind:
        return "measured (no reference degree)"
    delta = estimate.slope - reference
    if kind == "exact":
        if abs(delta) <= tolerance:
            return f"matches {reference:g} (diff {delta:+.3f}, tolerance {tolerance:g})"
        return f"differs from {reference:g} by {delta:+.3f}"
    if not math.isfinite(estimate.ci_high):  # two points: judge the estimate alone
        side = "within" if estimate.slope <= reference + tolerance else "exceeds"
        return f"{side} bound {reference:g} (2 points, no interval)"
    if estimate.ci_high <= reference + tolerance:
        return f"within bound {reference:g}"
    if estimate.ci_low > reference + tolerance:
        return f"exceeds bound {reference:g}"
    return f"inconclusive: CI straddles bound {reference:g}"


def _value(row: PointRecord, metric: str) -> float | None:
    if metric == "patterns":
        return row.n_patterns_exact if row.n_patterns_exact is not None else row.n_patterns_sampled
    if metric == "variables":
        return row.variables
    if metric == "memory":
        return row.memory_mb if row.memory_mb is not None else row.peak_memory_mb
    return getattr(row, metric)


def _axis_value(row: PointRecord, axis: str) -> float | None:
    return row.n_groups if axis == "P" else getattr(row, axis)


def fit_records(
    records: Sequence[PointRecord],
    n_boot: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
    window: str = "upper",
    tolerance: float = DEFAULT_TOLERANCE,
) -> list[Fit]:
    """Every fit the records support: each metric against each axis varied in a series."""
    fits: list[Fit] = []
    for metric in METRICS:
        rows = _rows_for(records, metric)
        for axis in _METRIC_AXES.get(metric, AXES):
            groups: dict[tuple, list[PointRecord]] = defaultdict(list)
            for row in rows:
                key = (row.model, row.backend if metric in _PER_BACKEND else "",
                       row.patterns_mode, *(getattr(row, k) for k in SERIES_KEYS[axis]))
                groups[key].append(row)
            for key in sorted(groups, key=str):
                fit = _fit_series(groups[key], metric, axis, key, n_boot, seed, window, tolerance)
                if fit is not None:
                    fits.append(fit)
    return fits


def _rows_for(records: Sequence[PointRecord], metric: str) -> list[PointRecord]:
    if metric in _PER_BACKEND:
        return [r for r in records if r.backend]
    if metric != "patterns":  # program sizes: only points whose program was built (or refused)
        records = [r for r in records if r.status != "counted"]
    seen: dict[tuple, PointRecord] = {}
    for r in records:  # backend-independent: one row per grid point
        seen.setdefault((r.model, r.n, r.d, r.rank, r.m1, r.seed, r.patterns_mode), r)
    return list(seen.values())


def _usable(row: PointRecord, metric: str, axis: str) -> bool:
    value, x = _value(row, metric), _axis_value(row, axis)
    if value is None or x is None or not (math.isfinite(value) and value > 0 and x > 0):
        return False
    return row.finished if metric in _PER_BACKEND else True


def _fit_series(rows, metric, axis, key, n_boot, seed, window, tolerance) -> Fit | None:
    model, backend, mode = key[0], key[1], key[2]
    fixed = ", ".join(f"{k}={v}" for k, v in zip(SERIES_KEYS[axis], key[3:], strict=True))
    all_x = {_axis_value(r, axis) for r in rows} - {None}
    if len(all_x) < 2:
        return None  # this axis is not varied along the series
    usable = [r for r in rows if _usable(r, metric, axis)]
    excluded = len(rows) - len(usable)
    rank = rows[0].rank
    counted_exactly = all(r.n_patterns_exact is not None for r in usable)
    exact = counted_exactly if metric == "patterns" else mode == "exact" and counted_exactly
    reference, kind = reference_degree(model, metric, axis, rank, exact)
    xs = [float(_axis_value(r, axis)) for r in usable]
    if len(set(xs)) < 2:
        nan = math.nan
        return Fit(model, metric, axis, backend, fixed, rank, mode, len(usable), nan, nan, nan,
                   nan, nan, nan, nan, reference, kind, None, excluded,
                   f"not fitted: {len(set(xs))} usable x value(s)")
    keep = set(fit_window(xs, window))
    chosen = [r for r, x in zip(usable, xs, strict=True) if x in keep]
    cx = [float(_axis_value(r, axis)) for r in chosen]
    cy = [float(_value(r, metric)) for r in chosen]
    estimate = fit_exponent(cx, cy, n_boot=n_boot, seed=seed)
    every = fit_exponent(xs, [float(_value(r, metric)) for r in usable], n_boot=0, seed=seed)
    finite = None
    if metric == "patterns" and axis == "n":
        ks = sorted(keep)
        finite = fit_exponent(ks, [cover_count(int(k), rank) for k in ks], n_boot=0).slope
    return Fit(
        model=model, metric=metric, axis=axis, backend=backend, series=fixed, rank=rank,
        patterns_mode=mode, n_points=estimate.n_points, x_min=min(cx), x_max=max(cx),
        estimate=estimate.slope, ci_low=estimate.ci_low, ci_high=estimate.ci_high,
        intercept=estimate.intercept, estimate_all=every.slope, reference=reference,
        reference_kind=kind, reference_finite=finite, excluded=excluded,
        verdict=verdict(estimate, reference, kind, tolerance),
    )

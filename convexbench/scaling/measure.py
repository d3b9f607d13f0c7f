"""Measure one grid point: sign patterns, program size, times, memory, objective.

Patterns are counted once per data set (exactly when the arrangement is small enough, and by
sampling, with the saturation curve: distinct patterns against the number of random
directions).  The program is then built once per point and solved ``repeat`` times per
backend.  Limits are recorded, never raised: a point that hits the time or memory limit gets
status ``time_limit`` / ``memory_limit``; every larger point of the same backend is then
skipped (recorded with the same limit) since it would hit it too.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from convexbench.errors import UserError
from convexbench.names import FINISHED_STATUSES
from convexbench.patterns import (
    DEFAULT_ENUMERATION_LIMIT,
    cover_count,
    data_rank,
    enumerate_patterns,
    unique_pattern_index,
)
from convexbench.scaling.grid import GridPoint, point_data

LIMITS = {"time_limit": "time", "memory_limit": "memory", "enumeration_limit": "enumeration"}
MAX_SATURATION_SAMPLES = 20_000
CURVE_POINTS = 16


@dataclass(frozen=True)
class PatternCount:
    """Pattern counts of one data set (independent of the backend)."""

    data_rank: int
    cover_count: int
    n_exact: int | None  # None when exact enumeration was refused (too many patterns)
    seconds_exact: float | None
    samples: int
    n_sampled: int
    curve: tuple[tuple[int, int], ...]  # (number of samples, distinct patterns so far)


@dataclass(frozen=True)
class PointRecord:
    """One tidy row: a grid point solved once by one backend (or counted only)."""

    model: str
    n: int
    d: int
    rank: int
    m1: int
    seed: int
    backend: str
    repeat: int
    data_rank: int
    patterns_mode: str  # "exact" or "sampled"
    cover_count: int
    n_patterns_exact: int | None
    n_patterns_sampled: int
    pattern_samples: int
    cover_match: bool | None  # exact count == Cover's count (general position)
    n_groups: int | None  # patterns (atoms for relu3) in the program
    variables: int | None
    soc_cones: int | None
    linear_rows: int | None
    time_patterns: float | None  # exact enumeration, seconds
    time_setup: float | None  # make_program (patterns/atoms + program object), seconds
    time_build: float | None
    time_compile: float | None
    time_solve: float | None
    time_wall: float | None
    time_certify: float | None
    peak_memory_mb: float | None  # peak resident memory of the solving process
    memory_mb: float | None  # peak minus the resident memory before the solve
    status: str
    verified: bool | None
    objective: float | None
    limit: str  # "", "time", "memory" or "enumeration"
    isolated: bool
    message: str = ""

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATUSES and not self.limit


@dataclass(frozen=True)
class SaturationRecord:
    """One point of a saturation curve."""

    model: str
    n: int
    d: int
    rank: int
    seed: int
    samples: int
    distinct: int
    cover_count: int


@dataclass(frozen=True)
class SolveSettings:
    """How points are solved."""

    beta: float = 1e-2
    accuracy: str = "medium"
    time_limit: float | None = None
    memory_limit_mb: float | None = None
    isolate: bool | None = None  # None or True: isolate (see _use_isolation)
    threads: int = 1
    enumeration_limit: int = DEFAULT_ENUMERATION_LIMIT


# -- patterns ---------------------------------------------------------------------------


def saturation_curve(
    X: np.ndarray, samples: int, seed: int = 0, points: int = CURVE_POINTS
) -> tuple[tuple[int, int], ...]:
    """Distinct patterns among the first s of ``samples`` Gaussian directions, s on a
    geometric grid; the last point equals ``sample_patterns(X, samples, seed,
    drop_zero=False)`` (same directions)."""
    rng = np.random.default_rng(seed)
    U = rng.standard_normal((X.shape[1], samples))
    first = unique_pattern_index((X @ U >= 0).T)  # sorted first appearances
    grid = np.unique(np.geomspace(1, samples, num=min(points, samples)).round().astype(int))
    distinct = np.searchsorted(first, grid, side="left")
    return tuple((int(s), int(c)) for s, c in zip(grid, distinct, strict=True))


def count_patterns(
    X: np.ndarray,
    samples: int | None = None,
    seed: int = 0,
    limit: int = DEFAULT_ENUMERATION_LIMIT,
) -> PatternCount:
    """Exact count (if at most ``limit`` patterns), Cover's count and the saturation curve.

    ``samples`` defaults to four times Cover's count, between 1,000 and 20,000.
    """
    n = X.shape[0]
    r = data_rank(X)
    cover = cover_count(n, r)
    n_exact: int | None = None
    seconds: float | None = None
    if cover <= limit:
        start = time.perf_counter()
        try:
            n_exact = enumerate_patterns(X, limit=limit).n_patterns
            seconds = time.perf_counter() - start
        except UserError:
            n_exact = None
    if samples is None:
        samples = int(min(MAX_SATURATION_SAMPLES, max(1_000, 4 * cover)))
    curve = saturation_curve(X, samples, seed)
    return PatternCount(r, cover, n_exact, seconds, samples, curve[-1][1], curve)


# -- solving ----------------------------------------------------------------------------


def _use_isolation(settings: SolveSettings) -> bool:
    # a fresh child process is the only place where the peak resident memory of one solve
    # can be read (ru_maxrss never decreases within a process), so isolate by default
    return settings.isolate is not False


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _solve_once(program, backend: str, settings: SolveSettings, isolate: bool) -> dict:
    """Solve and measure; a dict of the solve columns of :class:`PointRecord`.

    The columns come from ``SolveResult.as_row`` (the row every harness uses); ``memory_mb``
    is the solving process's peak resident memory minus its resident memory when the run
    started (``SolveResult.memory_mb``).  The limits are also checked
    after the run: a solve that returns but overran the wall-clock or memory limit (e.g. in
    cvxpy's compile step, which no solver option bounds) counts as having hit it.
    """
    from convexbench.backends import solve

    options: dict = {"isolate": True, "memory_limit_mb": settings.memory_limit_mb} if isolate \
        else {}
    start = time.perf_counter()
    try:
        result = solve(program, backend, accuracy=settings.accuracy,
                       time_limit=settings.time_limit, threads=settings.threads, **options)
    except MemoryError:
        return {"status": "memory_limit", "limit": "memory", "time_wall":
                time.perf_counter() - start, "message": "MemoryError during the solve"}
    except UserError as exc:  # e.g. this backend cannot solve this program
        return {"status": "unavailable", "message": str(exc)}
    except Exception as exc:  # a crash is a measurement, not the end of the sweep
        text = str(exc).splitlines()[0] if str(exc) else ""
        return {"status": "error", "time_wall": time.perf_counter() - start,
                "message": f"{type(exc).__name__}: {text}"}
    flat = result.as_row()
    row = {
        "status": flat["status"], "verified": bool(flat["verified"]),
        "objective": flat["objective"], "message": flat["message"],
        **{f"time_{phase}": _finite(flat[f"{phase}_s"])
           for phase in ("build", "compile", "solve", "wall", "certify")},
        "peak_memory_mb": _finite(flat["peak_memory_mb"]), "memory_mb": flat["memory_mb"],
        "limit": LIMITS.get(flat["status"], ""), "isolated": bool(flat["isolated"]),
    }
    wall, used = row["time_wall"], row["memory_mb"]
    if (settings.time_limit is not None and wall is not None and wall > settings.time_limit
            and not row["limit"]):
        row.update(status="time_limit", limit="time",
                   message=f"returned {result.status} after {wall:.3g} s, over the "
                           f"{settings.time_limit:g} s limit")
    if (settings.memory_limit_mb is not None and used is not None
            and used > settings.memory_limit_mb and not row["limit"]):
        row.update(status="memory_limit", limit="memory",
                   message=f"returned {result.status} using {used:.0f} MB, over the "
                           f"{settings.memory_limit_mb:g} MB limit")
    return row


def measure_point(
    point: GridPoint,
    backends: Sequence[str],
    patterns: str | int = "exact",
    repeat: int = 1,
    settings: SolveSettings | None = None,
    skip: Callable[[GridPoint, str], str] | None = None,
) -> tuple[list[PointRecord], list[SaturationRecord]]:
    """Rows for one grid point: ``repeat`` solves per backend (one counting-only row when
    ``backends`` is empty).  ``skip(point, backend)`` returns the limit that makes a solve
    pointless ("" to solve)."""
    settings = settings or SolveSettings()
    X, y = point_data(point)
    sampled = None if patterns == "exact" else int(patterns)
    count = count_patterns(X, sampled, seed=point.seed, limit=settings.enumeration_limit)
    base = PointRecord(
        model=point.model, n=point.n, d=point.d, rank=point.rank, m1=point.m1, seed=point.seed,
        backend="", repeat=0, data_rank=count.data_rank,
        patterns_mode="exact" if sampled is None else "sampled",
        cover_count=count.cover_count, n_patterns_exact=count.n_exact,
        n_patterns_sampled=count.n_sampled, pattern_samples=count.samples,
        cover_match=None if count.n_exact is None else count.n_exact == count.cover_count,
        n_groups=None, variables=None, soc_cones=None, linear_rows=None,
        time_patterns=count.seconds_exact, time_setup=None, time_build=None,
        time_compile=None, time_solve=None, time_wall=None, time_certify=None,
        peak_memory_mb=None, memory_mb=None, status="counted", verified=None,
        objective=None, limit="", isolated=False,
    )
    curve = [SaturationRecord(point.model, point.n, point.d, point.rank, point.seed, s, c,
                              count.cover_count) for s, c in count.curve]
    if not backends:
        return [base], curve
    program, base = _build(point, X, y, sampled, settings, base)
    isolate = _use_isolation(settings)
    rows = []
    for backend in backends:
        for rep in range(repeat):
            row = replace(base, backend=backend, repeat=rep, isolated=isolate)
            skipped = skip(point, backend) if skip else ""
            if program is None:
                rows.append(row)
            elif skipped:
                rows.append(replace(row, status="skipped", limit=skipped,
                                    message=f"a smaller point hit the {skipped} limit"))
            else:
                rows.append(replace(row, **_solve_once(program, backend, settings, isolate)))
    return rows, curve


def _build(point, X, y, sampled, settings, base):
    """The program of a point (None if exact enumeration refuses) and the updated row."""
    from convexbench.programs import make_program

    start = time.perf_counter()
    try:
        program = make_program(
            point.model, X, y, settings.beta, patterns="all" if sampled is None else sampled,
            m1=point.m1, seed=point.seed, limit=settings.enumeration_limit,
        )
    except UserError as exc:
        if sampled is not None or "limit" not in str(exc):
            raise
        return None, replace(base, status="enumeration_limit", limit="enumeration",
                             message=str(exc))
    size = program.size()
    return program, replace(
        base, n_groups=program.n_groups, variables=size["variables"],
        soc_cones=size["soc_cones"], linear_rows=size["linear_rows"],
        time_setup=time.perf_counter() - start,
    )


@dataclass(frozen=True)
class Sweep:
    """Everything a sweep measured."""

    records: tuple[PointRecord, ...]
    saturation: tuple[SaturationRecord, ...]


def run_sweep(
    points: Sequence[GridPoint],
    backends: Sequence[str],
    patterns: str | int = "exact",
    repeat: int = 1,
    settings: SolveSettings | None = None,
    progress: Callable[[str], None] | None = None,
) -> Sweep:
    """Measure every point (smallest first); once a point hits a limit for a backend, the
    points that are at least as large on every axis are skipped for that backend."""
    hit: list[tuple[GridPoint, str, str]] = []

    def skip(point: GridPoint, backend: str) -> str:
        for small, b, limit in hit:
            if b == backend and small.dominates(point):
                return limit
        return ""

    records: list[PointRecord] = []
    saturation: list[SaturationRecord] = []
    for point in points:
        rows, curve = measure_point(point, backends, patterns, repeat, settings, skip)
        for row in rows:
            if row.limit and row.status != "skipped" and row.backend:
                hit.append((point, row.backend, row.limit))
        records.extend(rows)
        saturation.extend(curve)
        if progress:
            progress(_progress_line(point, rows))
    return Sweep(tuple(records), tuple(saturation))


def _progress_line(point: GridPoint, rows: list[PointRecord]) -> str:
    first = rows[0]
    exact = "-" if first.n_patterns_exact is None else first.n_patterns_exact
    solved = ", ".join(
        f"{r.backend}:{r.status}" + (f" {r.time_wall:.2f}s" if r.time_wall else "")
        for r in rows if r.backend
    )
    return (f"{point.model} n={point.n} d={point.d} r={point.rank} m1={point.m1}: patterns "
            f"{exact} (Cover {first.cover_count})" + (f"; {solved}" if solved else ""))

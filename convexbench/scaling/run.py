"""``run_scaling``: a sweep, its fits and its output files (the API behind the CLI)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from convexbench.errors import UserError
from convexbench.scaling.fits import DEFAULT_BOOTSTRAP, Fit, fit_records
from convexbench.scaling.grid import GridPoint, make_grid
from convexbench.scaling.measure import (
    PointRecord,
    SaturationRecord,
    SolveSettings,
    Sweep,
    run_sweep,
)
from convexbench.scaling.outputs import write_outputs


@dataclass(frozen=True)
class ScalingResult:
    """Rows measured, saturation curves, fits and the files written."""

    records: tuple[PointRecord, ...]
    saturation: tuple[SaturationRecord, ...]
    fits: tuple[Fit, ...]
    files: tuple[Path, ...] = field(default=())

    def fits_json(self) -> list[dict[str, Any]]:
        return [asdict(f) for f in self.fits]

    def summary(self) -> dict[str, Any]:
        """A JSON-friendly summary: the fits and the limit/verification counts."""
        rows = [r for r in self.records if r.backend]
        exact = [r for r in self.records if r.cover_match is not None]
        return {
            "fits": self.fits_json(),
            "points": len({(r.model, r.n, r.d, r.rank, r.m1) for r in self.records}),
            "solves": len(rows),
            "limits": {k: sum(r.limit == k for r in rows) for k in ("time", "memory",
                                                                     "enumeration")},
            "verified": sum(bool(r.verified) for r in rows),
            "cover_count_matches": f"{sum(bool(r.cover_match) for r in exact)}/{len(exact)}",
            "files": [str(p) for p in self.files],
        }


def parse_patterns(value: str | int) -> str | int:
    """``exact`` (or ``all``) or a positive number of sampled directions."""
    if isinstance(value, str) and value.strip().lower() in ("exact", "all"):
        return "exact"
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise UserError(
            f"--patterns must be 'exact' or a positive integer, got {value!r}"
        ) from None
    if number < 1:
        raise UserError(f"--patterns must be at least 1, got {number}")
    return number


def _check_backends(backends: Sequence[str]) -> tuple[str, ...]:
    from convexbench.backends import get_backend

    for name in backends:
        info = get_backend(name).info()
        if not info.available:
            raise UserError(f"backend {name} is {info.message}")
    return tuple(backends)


def run_scaling(
    model: str = "relu2",
    n: Sequence[int] = (10, 20, 40, 80),
    d: Sequence[int] = (4,),
    rank: Sequence[int] = (2,),
    m1: Sequence[int] = (1,),
    patterns: str | int = "exact",
    backends: Sequence[str] = ("clarabel",),
    repeat: int = 1,
    time_limit: float | None = None,
    memory_limit_mb: float | None = None,
    seed: int = 0,
    out_dir: str | Path | None = None,
    *,
    beta: float = 1e-2,
    accuracy: str = "medium",
    isolate: bool | None = None,
    n_boot: int = DEFAULT_BOOTSTRAP,
    window: str = "upper",
    plots: bool = True,
    extra_points: Sequence[GridPoint] = (),
    progress: Callable[[str], None] | None = None,
) -> ScalingResult:
    """Sweep the grid ``n x d x rank (x m1)``, fit the exponents, write the outputs.

    ``backends=()`` counts patterns only (no solves).  ``extra_points`` are measured as well
    (e.g. a patterns-only series at larger ``n``).  Limits never stop the sweep: they are
    recorded and the points below them are still fitted.
    """
    if repeat < 1:
        raise UserError(f"--repeat must be at least 1, got {repeat}")
    for name, limit in (("--time-limit", time_limit), ("--memory-limit", memory_limit_mb)):
        if limit is not None and not limit > 0:
            raise UserError(f"{name} must be positive, got {limit}")
    from convexbench.backends import get_preset

    get_preset(accuracy)
    points = make_grid(model, n, d, rank, m1, seed)
    settings = SolveSettings(beta=beta, accuracy=accuracy, time_limit=time_limit,
                             memory_limit_mb=memory_limit_mb, isolate=isolate)
    sweep = run_sweep(points, _check_backends(backends), parse_patterns(patterns), repeat,
                      settings, progress)
    if extra_points:
        more = run_sweep(list(extra_points), (), parse_patterns(patterns), 1, settings, progress)
        sweep = Sweep(sweep.records + more.records, sweep.saturation + more.saturation)
    return finish(sweep, out_dir, n_boot=n_boot, seed=seed, window=window, plots=plots)


def finish(sweep: Sweep, out_dir: str | Path | None, n_boot: int = DEFAULT_BOOTSTRAP,
           seed: int = 0, window: str = "upper", plots: bool = True) -> ScalingResult:
    """Fit the records of a sweep and write the outputs (if ``out_dir``)."""
    fits = tuple(fit_records(sweep.records, n_boot=n_boot, seed=seed, window=window))
    files: tuple[Path, ...] = ()
    if out_dir is not None:
        files = tuple(write_outputs(sweep.records, sweep.saturation, fits, out_dir, plots))
    return ScalingResult(sweep.records, sweep.saturation, fits, files)


def _pattern_series(model: str, ns: Sequence[int], d: int, ranks: Sequence[int],
                    seed: int) -> list[GridPoint]:
    return [GridPoint(model, nn, d, r, 1, seed) for r in ranks for nn in ns]


def run_scaling_quick(out_dir: str | Path | None, seed: int = 0,
                      progress: Callable[[str], None] | None = None) -> ScalingResult:
    """The small sweep of ``convexbench reproduce --quick`` (well under a minute).

    relu2 with all patterns, rank 2, n = 10..80, d = 3, 6, 12 solved by Clarabel (time, memory
    and size exponents), plus exact pattern counts (no solves) for rank 2 and 3 at
    n = 25..200 (the Cover's-count and degree-(r-1) checks).
    """
    return run_scaling(
        "relu2", n=(10, 20, 40, 80), d=(3, 6, 12), rank=(2,), patterns="exact",
        backends=("clarabel",), repeat=1, time_limit=30.0, seed=seed, out_dir=out_dir,
        n_boot=500, extra_points=_pattern_series("relu2", (25, 50, 100, 200), 5, (2, 3), seed),
        progress=progress,
    )


def run_scaling_full(out_dir: str | Path | None, seed: int = 0,
                     progress: Callable[[str], None] | None = None) -> ScalingResult:
    """The sweep of ``convexbench reproduce --full`` (tens of minutes).

    relu2 with all patterns: rank 2 at n = 10..160, d = 3, 6, 12 and rank 3 at n = 10..40,
    three repeats, Clarabel and SCS, a 300 s / 4 GB limit per solve; plus exact pattern counts
    for ranks 2, 3, 4 at n = 25..400 (rank 4 to n = 100, the enumeration limit).
    """
    common = {"patterns": "exact", "backends": ("clarabel", "scs"), "repeat": 3,
              "time_limit": 300.0, "memory_limit_mb": 4096.0, "seed": seed, "progress": progress}
    low = run_scaling("relu2", n=(10, 20, 40, 80, 160), d=(3, 6, 12), rank=(2,), out_dir=None,
                      **common)
    mid = run_scaling("relu2", n=(10, 20, 30, 40), d=(3, 6), rank=(3,), out_dir=None, **common)
    counts = run_sweep(
        _pattern_series("relu2", (25, 50, 100, 200, 400), 6, (2, 3), seed)
        + _pattern_series("relu2", (12, 25, 50, 100), 6, (4,), seed),
        (), "exact", 1, SolveSettings(), progress,
    )
    sweep = Sweep(low.records + mid.records + counts.records,
                  low.saturation + mid.saturation + counts.saturation)
    return finish(sweep, out_dir, seed=seed)

"""The complexity harness: pattern counts, fits, limits, CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from convexbench.cli import main
from convexbench.patterns import cover_count
from convexbench.scaling import (
    GridPoint,
    SolveSettings,
    fit_exponent,
    fit_records,
    make_grid,
    point_data,
    run_sweep,
)
from convexbench.scaling.fits import fit_window
from convexbench.scaling.measure import measure_point, saturation_curve


@pytest.fixture(scope="module")
def counted():
    """Exact pattern counts (no solves) for ranks 2 and 3."""
    points = make_grid("relu2", n=(8, 16, 32, 64), d=(4,), rank=(2, 3))
    return run_sweep(points, backends=())


def test_exact_counts_equal_cover_count(counted):
    assert len(counted.records) == 8
    for row in counted.records:
        assert row.data_rank == row.rank
        assert row.n_patterns_exact == cover_count(row.n, row.rank)
        assert row.cover_match is True
        assert row.n_patterns_sampled <= row.n_patterns_exact


@pytest.mark.parametrize("window", ["upper", "all"])
def test_pattern_exponent_is_rank_minus_one(counted, window):
    fits = [f for f in fit_records(counted.records, window=window)
            if f.metric == "patterns" and f.axis == "n"]
    assert sorted(f.rank for f in fits) == [2, 3]
    for f in fits:
        assert abs(f.estimate - (f.rank - 1)) <= 0.05, (window, f)
        assert f.verdict.startswith("matches")
        assert f.reference == f.rank - 1 and f.reference_kind == "exact"
        # exact counts reproduce Cover's formula, so the slope is the formula's own slope
        assert f.estimate == pytest.approx(f.reference_finite, abs=1e-9)


def test_upper_window_keeps_the_largest_x():
    assert fit_window([10, 20, 40, 80, 160, 320]) == [80, 160, 320]
    assert fit_window([10, 20, 40]) == [10, 20, 40]
    assert fit_window([10, 20, 40, 80], window="all") == [10, 20, 40, 80]


def test_saturation_curve_is_monotone_and_bounded():
    X, _ = point_data(GridPoint("relu2", 30, 4, 2))
    curve = saturation_curve(X, 2000, seed=1)
    samples, distinct = zip(*curve, strict=True)
    assert samples[0] == 1 and samples[-1] == 2000
    assert all(b >= a for a, b in zip(distinct, distinct[1:], strict=False))
    assert distinct[-1] <= cover_count(30, 2)


def test_bootstrap_interval_contains_estimate_and_is_seeded():
    rng = np.random.default_rng(3)
    x = np.repeat([10.0, 20.0, 40.0, 80.0, 160.0], 3)
    y = 0.01 * x**2.5 * np.exp(0.2 * rng.standard_normal(x.size))
    a = fit_exponent(x, y, n_boot=800, seed=7)
    b = fit_exponent(x, y, n_boot=800, seed=7)
    c = fit_exponent(x, y, n_boot=800, seed=8)
    assert a.ci_low <= a.slope <= a.ci_high
    assert a.ci_high - a.ci_low > 0.01
    assert abs(a.slope - 2.5) < 0.3
    assert (a.ci_low, a.ci_high) == (b.ci_low, b.ci_high)
    assert (a.ci_low, a.ci_high) != (c.ci_low, c.ci_high)
    with pytest.raises(ValueError):
        fit_exponent([5.0, 5.0], [1.0, 2.0])


def test_time_limited_point_is_recorded_and_excluded_from_the_fit():
    points = make_grid("relu2", n=(10, 20, 40), d=(3,), rank=(2,))
    sweep = run_sweep(points, backends=("clarabel",))
    assert all(r.status in ("optimal", "optimal_inaccurate") for r in sweep.records)
    limited, _ = measure_point(GridPoint("relu2", 80, 3, 2), ("clarabel",),
                               settings=SolveSettings(time_limit=1e-9))
    assert [r.status for r in limited] == ["time_limit"]
    assert limited[0].limit == "time"
    fits = fit_records(list(sweep.records) + limited, n_boot=200)
    (wall,) = [f for f in fits if f.metric == "time_wall" and f.axis == "n"]
    assert wall.excluded == 1
    assert wall.n_points == 3 and wall.x_max == 40
    assert math.isfinite(wall.estimate) and wall.ci_low <= wall.estimate <= wall.ci_high
    (memory,) = [f for f in fits if f.metric == "memory" and f.axis == "n"]
    assert memory.excluded >= 1 and memory.x_max <= 40


def test_sweep_records_limit_and_skips_larger_points():
    points = make_grid("relu2", n=(10, 20), d=(3,), rank=(2,))
    sweep = run_sweep(points, backends=("clarabel",), settings=SolveSettings(time_limit=1e-9))
    assert [r.status for r in sweep.records] == ["time_limit", "skipped"]
    assert all(r.limit == "time" for r in sweep.records)
    # patterns are still counted and fitted below the limit
    assert all(r.cover_match for r in sweep.records)
    fits = fit_records(sweep.records, n_boot=100)
    (wall,) = [f for f in fits if f.metric == "time_wall" and f.axis == "n"]
    assert wall.verdict.startswith("not fitted") and wall.excluded == 2
    assert any(f.metric == "patterns" and f.verdict.startswith("matches") for f in fits)


def test_cli_json_has_fits(capsys, tmp_path):
    code = main(["scaling", "--model", "gated2", "--n", "8,16,32", "--d", "3", "--rank", "2",
                 "--json", "--out", str(tmp_path)])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    metrics = {(f["metric"], f["axis"]) for f in out["fits"]}
    assert {("patterns", "n"), ("time_wall", "n"), ("memory", "n")} <= metrics
    patterns = next(f for f in out["fits"] if f["metric"] == "patterns")
    assert patterns["estimate"] == pytest.approx(1.0)
    assert out["cover_count_matches"] == "3/3"
    for name in ("points.csv", "fits.csv", "fits.md", "fits.tex", "scaling_n.png",
                 "scaling_n.pdf", "saturation.png"):
        assert (tmp_path / name).stat().st_size > 0


@pytest.mark.parametrize("argv", [
    ["--model", "relu9"],
    ["--model", "relu2", "--n", ""],
    ["--model", "relu2", "--n", "10,,20"],
    ["--model", "relu2", "--n", "10,abc"],
    ["--model", "relu2", "--d", "2.5"],
    ["--model", "relu2", "--d", "3", "--rank", "5"],
    ["--model", "relu2", "--backends", ""],
    ["--model", "relu2", "--patterns", "lots"],
    ["--model", "relu2", "--repeat", "0"],
])
def test_cli_bad_input(capsys, argv):
    code = main(["scaling", *argv])
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert len(err.splitlines()) == 1 and err.startswith("convexbench: error:")

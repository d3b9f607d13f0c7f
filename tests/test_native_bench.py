"""Smoke tests of the benchmark driver (``python -m convexbench.bench native``; not timed)."""

from __future__ import annotations

import numpy as np

from convexbench.bench import native as bench
from convexbench.data.synthetic import planted_data


def test_bench_quick_native_only_prints_a_table(capsys):
    assert bench.main(["native", "--quick", "--no-conic", "--no-scnn", "--only", "relu2"]) == 0
    out = capsys.readouterr().out
    assert "scnn" in out and "beta =" in out
    line = next(line for line in out.splitlines() if " native " in line and "relu2" in line)
    assert "optimal" in line and "True" in line  # certified at 1e-6


def test_bench_loss_option_builds_labelled_instances(capsys):
    assert bench.main(["native", "--quick", "--no-conic", "--no-scnn", "--only", "gated2",
                       "--loss", "hinge"]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if " native " in line and "hinge" in line)
    assert "optimal" in line and "True" in line  # certified at 1e-6 with the hinge loss


def test_bench_runs_every_method_through_the_shared_path(capsys):
    """Conic and native rows come from run_backend (isolated, warm-up, as_row): times to
    the presets' tolerances and ratios against native."""
    assert bench.main(["native", "--quick", "--no-scnn", "--only", "gated2",
                       "--conic", "clarabel"]) == 0
    out = capsys.readouterr().out
    assert "t_1e-4" in out and "t_1e-6" in out and "ratio_1e-6" in out
    line = next(line for line in out.splitlines() if " clarabel " in line and "gated2" in line)
    assert "optimal" in line and "True" in line


def test_time_to_reads_traces_and_certified_final_answers():
    program, _ = bench.build(bench.Instance("t", "gated2", 60, 3, 10))
    result = bench.run_method(program, "native", bench.get_preset("medium"), 60.0)
    assert result.verified and result.trace
    reference = result.objective
    assert bench.time_to(result, reference, 1e-6) is not None
    assert bench.time_to(result, reference * 0.5, 1e-6) is None  # never that close
    row = result.as_row(problem="p")
    assert row["problem"] == "p" and row["backend"] == "native" and row["verified"]


def test_planted_data_is_one_seeded_generator():
    X, y = planted_data(50, 4, seed=1, hidden=8, sphere=True)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0)
    assert y.shape == (50,) and np.all(np.isfinite(y))
    X2, y2 = planted_data(50, 4, seed=1, hidden=8, sphere=True)
    assert np.array_equal(X, X2) and np.array_equal(y, y2)
    Xb, _ = planted_data(10, 3, bias=True)
    assert Xb.shape == (10, 4) and np.all(Xb[:, -1] == 1)


"""Smoke tests of the benchmark driver and the array-module seam (not timed)."""

from __future__ import annotations

import numpy as np

from convexbench import bench
from convexbench.native import xp


def test_bench_quick_native_only_prints_a_table(capsys):
    assert bench.main(["native", "--quick", "--no-conic", "--only", "relu2"]) == 0
    out = capsys.readouterr().out
    assert "scnn" in out and "beta =" in out
    line = next(line for line in out.splitlines() if " native " in line and "relu2" in line)
    assert "optimal" in line and "True" in line  # verified at 1e-6


def test_planted_data_rows_are_normalized():
    X, y = bench.planted_data(50, 4, seed=1)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0)
    assert y.shape == (50,) and np.all(np.isfinite(y))


def test_array_module_seam_defaults_to_numpy():
    assert xp.get_array_module() is np
    xp.set_array_module(np)
    a = xp.to_device([1, 2])
    assert a.dtype == np.float64 and isinstance(xp.to_host(a), np.ndarray)
    xp.set_array_module(None)
    assert xp.get_array_module() is np

"""Smoke tests of the benchmark driver and the array-module seam (not timed)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from convexbench import bench, bench_scnn
from convexbench.certificates import certify
from convexbench.native import xp


def test_bench_quick_native_only_prints_a_table(capsys):
    assert bench.main(["native", "--quick", "--no-conic", "--no-scnn", "--only", "relu2"]) == 0
    out = capsys.readouterr().out
    assert "scnn" in out and "beta =" in out
    line = next(line for line in out.splitlines() if " native " in line and "relu2" in line)
    assert "optimal" in line and "True" in line  # verified at 1e-6


def test_bench_loss_option_builds_labelled_instances(capsys):
    assert bench.main(["native", "--quick", "--no-conic", "--no-scnn", "--only", "gated2",
                       "--loss", "hinge"]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if " native " in line and "hinge" in line)
    assert "optimal" in line and "True" in line  # verified at 1e-6 with the hinge loss


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


def test_scnn_missing_or_foreign_gives_a_reason(monkeypatch):
    monkeypatch.setitem(sys.modules, "scnn", None)  # import fails
    monkeypatch.setitem(sys.modules, "scnn.optimize", None)
    reason = bench_scnn.scnn_available()
    assert reason and "scnn" in reason and "\n" not in reason


@pytest.mark.skipif(bench_scnn.scnn_available() is not None,
                    reason="pilancilab scnn (pyscnn) not installed")
def test_scnn_rfista_reaches_the_native_optimum_on_the_same_patterns():
    inst = bench.Instance("t", "gated2", 120, 4, 30)
    program, beta = bench.build(inst)
    out = bench_scnn.run_scnn(program.X, program.y, beta, bench.gates_of(program, inst),
                              "gated2", "rfista", tol=1e-12, max_seconds=60)
    native = bench._run_method(program, "native")
    ours, theirs = certify(program, native[3]), certify(program, out.solution)
    assert ours.holds(1e-6)
    # same program, same patterns: scnn's answer is n times its own objective, ours at 1e-6
    assert abs(theirs.objective - ours.objective) <= 1e-5 * ours.objective
    assert out.trace and out.trace[-1][0] <= out.wall + 1e-9

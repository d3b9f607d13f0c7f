"""Backend comparison: tables, statistics, skipped backends, crashes, the CLI."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest

from convexbench.analysis.stats import (
    charge_failures,
    performance_profile,
    performance_ratios,
    shifted_geometric_mean,
)
from convexbench.backends.testing import AbortBackend
from convexbench.cli import main
from convexbench.compare import TABLE_COLUMNS, compare
from convexbench.programs import make_program

warnings.filterwarnings("ignore", module="cvxpy")


def _program(seed: int, beta: float = 0.1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((30, 4))
    return make_program("relu2", X, X @ rng.standard_normal(4) + rng.standard_normal(30), beta,
                        patterns=10, seed=seed)


# -- statistics ---------------------------------------------------------------------------

def test_shifted_geometric_mean():
    assert shifted_geometric_mean([2.0, 2.0, 2.0], shift=10) == pytest.approx(2.0)
    assert shifted_geometric_mean([1.0, 100.0], shift=0) == pytest.approx(10.0)
    assert shifted_geometric_mean([1.0, 100.0], shift=10) == pytest.approx(
        math.sqrt(11 * 110) - 10)
    assert math.isnan(shifted_geometric_mean([], shift=10))
    with pytest.raises(ValueError):
        shifted_geometric_mean([1.0], shift=-1)


def test_failures_are_charged_at_the_time_limit():
    charged = charge_failures([1.0, 5.0, float("nan")], [True, False, False], 60.0)
    assert list(charged) == [1.0, 60.0, 60.0]


def test_performance_profile():
    times = pd.DataFrame({"a": [1.0, 2.0, 4.0], "b": [2.0, 1.0, np.inf]},
                         index=["p1", "p2", "p3"])
    ratios = performance_ratios(times)
    assert ratios.loc["p1", "b"] == 2.0 and ratios.loc["p3", "a"] == 1.0
    assert np.isinf(ratios.loc["p3", "b"])
    profile = performance_profile(times)
    assert profile.loc[1.0, "a"] == pytest.approx(2 / 3)
    assert profile.loc[1.0, "b"] == pytest.approx(1 / 3)
    assert profile["a"].iloc[-1] == 1.0 and profile["b"].iloc[-1] == pytest.approx(2 / 3)
    assert (profile.diff().fillna(0) >= 0).all().all()  # non-decreasing in tau


# -- compare ------------------------------------------------------------------------------

def test_compare_with_a_crashing_backend_completes(tmp_path):
    problems = {"p1": _program(1), "p2": _program(2, beta=1.0)}
    table = compare(problems, backends=["clarabel", "scs", "ecos", "mosek", AbortBackend()],
                    accuracy="medium", repeat=2, time_limit=20, shift=1.0, out=tmp_path)
    assert list(table.columns) == TABLE_COLUMNS
    assert len(table) == 10
    crashed = table[table["backend"] == "test-abort"]
    assert (crashed["status"] == "crashed").all() and not crashed["verified"].any()
    ok = table[table["backend"].isin(["clarabel", "scs"])]
    assert ok["verified"].all() and ok["status_agrees"].all()
    # ECOS's points on these two fall short of the medium certificate (gap ~1e-6..1e-5):
    # whatever happens, the row must say so consistently
    ecos = table[table["backend"] == "ecos"]
    said_optimal = ecos["status"] == "optimal"
    assert (ecos["status_agrees"] == (said_optimal == ecos["verified"])).all()
    assert (ecos.loc[~ecos["verified"], "relative_gap"] > 1e-6).all()
    assert (ok["rel_diff_best"].abs() <= 2e-6).all()
    assert (ok["runs"] == 2).all() and (ok["compile_s"] > 0).all()
    assert (ok["peak_memory_mb"] > 0).all()
    summary = table.attrs["summary"].set_index("backend")
    assert summary["sgm_ratio"].min() == pytest.approx(1.0)
    assert summary.loc["test-abort", "sgm_time_s"] == pytest.approx(20.0)  # charged
    mosek = table[table["backend"] == "mosek"]
    if (mosek["status"] == "unavailable").all():
        assert "mosek" in table.attrs["skipped"]
        assert mosek["reason"].str.contains("unavailable").all()
    runs = table.attrs["runs"]
    assert len(runs[runs["backend"] == "clarabel"]) == 4  # 2 problems x 2 repetitions
    for name in ("compare.md", "compare.csv", "compare.tex", "compare_runs.csv",
                 "compare_summary.csv", "performance_profile.png", "performance_profile.pdf",
                 "provenance.json"):
        assert (tmp_path / name).stat().st_size > 0, name
    csv = pd.read_csv(tmp_path / "compare.csv")
    assert list(csv.columns) == TABLE_COLUMNS
    report = (tmp_path / "compare.md").read_text()
    assert "## Skipped backends" in report and "test-abort" in report
    assert "| problem | backend |" in report


def test_compare_cli_writes_tables(tmp_path, capsys):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((25, 3))
    data = tmp_path / "data.npz"
    np.savez(data, X=X, y=np.tanh(X @ rng.standard_normal(3)))
    out = tmp_path / "out"
    code = main(["compare", "--data", str(data), "--beta", "0.1", "--beta", "1",
                 "--backends", "clarabel,scs,mosek", "--accuracy", "low", "--patterns", "8",
                 "--time-limit", "30", "--out", str(out), "--json", "--quiet"])
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert {row["problem"] for row in payload["table"]} == {"beta=0.1", "beta=1"}
    assert set(payload["table"][0]) == set(TABLE_COLUMNS)
    assert (out / "compare.md").exists() and (out / "performance_profile.png").exists()
    assert list(pd.read_csv(out / "compare.csv").columns) == TABLE_COLUMNS


def test_compare_cli_beta_as_a_fraction_of_lambda_max(tmp_path, capsys):
    """``--beta-frac F`` is beta = F ||X^T y||_inf of the data, one problem per fraction."""
    rng = np.random.default_rng(6)
    X = rng.standard_normal((25, 3))
    y = np.tanh(X @ rng.standard_normal(3))
    data = tmp_path / "data.npz"
    np.savez(data, X=X, y=y)
    argv = ["compare", "--data", str(data), "--backends", "clarabel", "--patterns", "8",
            "--out", str(tmp_path / "out"), "--json", "--quiet", "--no-isolate"]
    assert main([*argv, "--beta-frac", "0.1", "--beta-frac", "0.01"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert {row["problem"] for row in payload["table"]} == {"beta=0.1 lambda_max",
                                                            "beta=0.01 lambda_max"}
    lam = float(np.abs(X.T @ y).max())
    assert main([*argv, "--beta", str(0.1 * lam)]) == 0
    by_beta = json.loads(capsys.readouterr().out)["table"][0]["objective"]
    by_frac = next(row["objective"] for row in payload["table"]
                   if row["problem"] == "beta=0.1 lambda_max")
    assert by_frac == pytest.approx(by_beta, rel=1e-6)
    assert main([*argv, "--beta-frac", "-1"]) == 2
    with pytest.raises(SystemExit) as exc:  # one or the other: a usage error
        main([*argv, "--beta", "1", "--beta-frac", "0.1"])
    assert exc.value.code == 2
    assert "not allowed with argument --beta" in capsys.readouterr().err


def test_compare_cli_user_errors(tmp_path, capsys):
    data = tmp_path / "d.npz"
    np.savez(data, X=np.ones((5, 2)), y=np.ones(5))
    assert main(["compare", "--data", str(data), "--beta", "1", "--backends", "nope",
                 "--out", str(tmp_path)]) == 3
    assert main(["compare", "--data", str(tmp_path / "missing.npz"), "--beta", "1"]) == 2
    assert main(["compare", "--data", str(data), "--beta", "1", "--repeat", "0",
                 "--backends", "clarabel", "--out", str(tmp_path)]) == 2
    capsys.readouterr()
    assert main(["compare", "--dataset", "iris", "--beta", "1"]) == 2
    assert "uci:iris" in capsys.readouterr().err


def test_backends_cli_json_reports_mosek(capsys):
    assert main(["backends", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    rows = {row["name"]: row for row in payload["backends"]}
    assert {"clarabel", "ecos", "scs", "cvxopt", "mosek", "gurobi", "copt", "native"} <= set(rows)
    mosek = rows["mosek"]
    assert mosek["available"] is False
    assert mosek["message"].startswith("unavailable: ") and len(mosek["message"]) > 15
    assert set(mosek["presets"]) == {"low", "medium", "high"}
    clarabel = rows["clarabel"]
    assert clarabel["available"] and clarabel["version"]
    assert clarabel["presets"]["high"]["tol_gap_rel"] == 1e-10
    assert payload["presets"]["medium"]["certificate_tolerance"] == 1e-6
    assert main(["backends"]) == 0
    assert "| mosek | no |" in capsys.readouterr().out

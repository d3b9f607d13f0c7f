"""`convexbench solve` and `convexbench patterns`: JSON contract and one-line errors."""

import json

import numpy as np
import pytest

from convexbench.cli import main


@pytest.fixture
def data_file(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 3))
    y = np.maximum(X @ rng.standard_normal(3), 0) + 0.1 * rng.standard_normal(30)
    path = tmp_path / "data.npz"
    np.savez(path, X=X, y=y, X_test=X[:5], y_test=y[:5])
    return path


def run_json(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr().out
    return code, json.loads(out)


REQUIRED = {"model", "loss", "n", "d", "beta", "n_patterns", "backend", "status", "objective",
            "verified", "max_violation", "gap", "nonconvex_objective", "n_active", "times",
            "peak_memory_mb"}


@pytest.mark.parametrize("model", ["relu2", "gated2", "relu3"])
def test_solve_json_contract(capsys, data_file, model):
    code, record = run_json(capsys, "solve", "--data", str(data_file), "--model", model,
                            "--beta", "0.1", "--patterns", "40", "--json")
    assert code == 0
    assert REQUIRED <= set(record)
    assert set(record["times"]) >= {"build", "compile", "solve", "wall"}
    assert record["verified"] is True and record["n"] == 30 and record["d"] == 3
    assert record["nonconvex_objective"] == pytest.approx(record["objective"], rel=1e-6)
    provenance = record["provenance"]
    assert provenance["packages"]["cvxpy"] and provenance["packages"]["numpy"]
    assert provenance["solvers"]["clarabel"] and provenance["parameters"]["model"] == model
    assert provenance["blas"] is not None and provenance["python"].startswith("3.")


def test_solve_all_patterns_is_globally_optimal(capsys, data_file):
    code, record = run_json(capsys, "solve", "--data", str(data_file), "--beta", "0.1",
                            "--patterns", "all", "--json")
    assert code == 0 and record["globally_optimal"] is True
    # Cover's count 2 (1 + 29 + C(29, 2)) = 872, less the all-zero pattern if it is a cell
    assert record["n_patterns"] in (871, 872)


def test_patterns_json(capsys, data_file):
    code, record = run_json(capsys, "patterns", "--data", str(data_file), "--exact", "--json")
    assert code == 0
    assert record["rank"] == 3 and record["n_patterns"] == record["cover_count"] == 872
    code, record = run_json(capsys, "patterns", "--data", str(data_file), "--samples", "50",
                            "--json")
    assert code == 0 and 1 <= record["n_patterns"] <= 50


def _bad_files(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((10, 2))
    files = {}
    files["missing"] = tmp_path / "nope.npz"
    (tmp_path / "garbage.npz").write_bytes(b"not a zip file")
    files["unreadable"] = tmp_path / "garbage.npz"
    np.savez(tmp_path / "noy.npz", X=X)
    files["no_y"] = tmp_path / "noy.npz"
    np.savez(tmp_path / "mismatch.npz", X=X, y=np.ones(9))
    files["mismatch"] = tmp_path / "mismatch.npz"
    Xn = X.copy()
    Xn[0, 0] = np.nan
    np.savez(tmp_path / "nan.npz", X=Xn, y=np.ones(10))
    files["nan"] = tmp_path / "nan.npz"
    np.savez(tmp_path / "inf.npz", X=X, y=np.full(10, np.inf))
    files["inf"] = tmp_path / "inf.npz"
    np.savez(tmp_path / "ok.npz", X=X, y=rng.standard_normal(10))
    files["ok"] = tmp_path / "ok.npz"
    np.savez(tmp_path / "big.npz", X=rng.standard_normal((60, 5)), y=rng.standard_normal(60))
    files["big"] = tmp_path / "big.npz"
    return files


@pytest.mark.parametrize(
    "case, extra",
    [
        ("missing", []),
        ("unreadable", []),
        ("no_y", []),
        ("mismatch", []),
        ("nan", []),
        ("inf", []),
        ("ok", ["--loss", "hinge"]),
        ("ok", ["--loss", "logistic"]),
        ("ok", ["--model", "relu4"]),
        ("ok", ["--loss", "cubic"]),
        ("ok", ["--backend", "nosuchsolver"]),
        ("ok", ["--beta", "0"]),
        ("ok", ["--beta", "-1"]),
        ("ok", ["--beta", "nan"]),
        ("ok", ["--patterns", "many"]),
        ("ok", ["--patterns", "0"]),
        ("big", ["--patterns", "all", "--limit", "100"]),
    ],
)
def test_solve_bad_input_is_one_line_error(tmp_path, capsys, case, extra):
    path = _bad_files(tmp_path)[case]
    args = ["solve", "--data", str(path), "--beta", "0.1", *extra]
    if "--beta" in extra:
        args = ["solve", "--data", str(path), *extra]
    try:
        code = main(args)
    except SystemExit as exc:  # argparse rejects unknown choices with exit 2
        code = exc.code
    captured = capsys.readouterr()
    assert code != 0
    lines = [line for line in captured.err.strip().splitlines() if line]
    assert lines, "an error message is expected"
    assert "Traceback" not in captured.err
    assert lines[-1].startswith("convexbench: error:") or "error:" in lines[-1]


def test_solve_isolated_with_threads(capsys, data_file):
    code, record = run_json(capsys, "solve", "--data", str(data_file), "--beta", "0.1",
                            "--backend", "ecos", "--isolate", "--threads", "1",
                            "--time-limit", "60", "--json")
    assert code == 0 and record["verified"] is True


@pytest.mark.parametrize("extra", [["--threads", "0"], ["--loss", "hinge", "--backend", "nosuch"]])
def test_solve_unsupported_options_are_one_line_errors(tmp_path, capsys, extra):
    path = tmp_path / "pm1.npz"
    rng = np.random.default_rng(3)
    np.savez(path, X=rng.standard_normal((20, 3)), y=np.where(rng.random(20) > 0.5, 1.0, -1.0))
    code = main(["solve", "--data", str(path), "--beta", "0.1", *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and err[0].startswith("convexbench: error:")


# -- regularization paths (issue 16, point 4) -------------------------------------------------

def test_solve_beta_list_is_a_certified_path(capsys, data_file):
    """A list of betas: one verified record per beta, in decreasing order; native warm-starts
    each from the previous solution and reaches the same optima as cold solves."""
    code, records = run_json(capsys, "solve", "--data", str(data_file), "--beta",
                             "0.01,1,0.1", "--patterns", "40", "--backend", "native", "--json")
    assert code == 0 and isinstance(records, list) and len(records) == 3
    assert [r["beta"] for r in records] == [1.0, 0.1, 0.01]
    assert all(r["verified"] and REQUIRED <= set(r) for r in records)
    assert [r["warm_started"] for r in records] == [False, True, True]
    assert [r["path_index"] for r in records] == [0, 1, 2]
    for record in records:
        code, cold = run_json(capsys, "solve", "--data", str(data_file), "--beta",
                              str(record["beta"]), "--patterns", "40", "--backend", "native",
                              "--json")
        assert code == 0 and isinstance(cold, dict) and "warm_started" not in cold
        assert record["objective"] == pytest.approx(cold["objective"], rel=1e-6)


def test_solve_beta_frac_path_with_a_cold_backend(capsys, data_file):
    code, records = run_json(capsys, "solve", "--data", str(data_file), "--beta-frac",
                             "1e-2,1e-1", "--patterns", "20", "--model", "gated2", "--json")
    assert code == 0 and len(records) == 2
    lam = records[0]["lambda_max"]
    assert [r["beta_frac"] for r in records] == [0.1, 0.01]
    assert [r["beta"] for r in records] == pytest.approx([0.1 * lam, 0.01 * lam])
    assert all(r["verified"] for r in records)
    assert [r["warm_started"] for r in records] == [False, False]  # clarabel solves cold


def test_solve_beta_list_human_output(capsys, data_file):
    code = main(["solve", "--data", str(data_file), "--beta", "0.1,1", "--patterns", "20",
                 "--backend", "native"])
    out = capsys.readouterr().out
    assert code == 0
    assert "[1/2]" in out and "[2/2]" in out and "regularization path, 2 betas" in out


@pytest.mark.parametrize("extra", [["--beta", "1,,x"], ["--beta", "1,-0.1"],
                                   ["--beta", "0"], ["--beta", "inf"],
                                   ["--beta-frac", "0.1,nan"]])
def test_solve_bad_beta_list_is_a_usage_error(capsys, data_file, extra):
    code = main(["solve", "--data", str(data_file), *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("convexbench: error:")

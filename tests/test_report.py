"""Report building: tables (Markdown, LaTeX, CSV), figures (PNG, PDF) and the index."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from convexbench.experiments import parse_spec, run_spec
from convexbench.report import build_report
from convexbench.report.tables import to_latex, to_markdown

_BASELINES = [
    {"optimizer": "sgd", "seeds": [0, 1], "iterations": 150, "width": 8, "n_subnetworks": 3},
    {"optimizer": "adam", "seeds": [0, 1], "iterations": 150, "width": 8, "n_subnetworks": 3},
]
TINY = {
    "name": "tiny-report",
    "defaults": {"time_limit": 60},
    "experiments": [
        {"name": "cmp2", "roles": ["comparison", "uci-table"],
         "datasets": ["synthetic:teacher2,n=30,d=3", "uci:acute-inflammation"],
         "models": ["relu2"], "patterns": 15, "baselines": _BASELINES},
        {"name": "cmp3", "roles": ["comparison"], "datasets": ["synthetic:teacher2,n=20,d=3"],
         "models": ["relu3"], "patterns": 15, "baselines": _BASELINES},
        {"name": "fm", "roles": ["fmnist-table"],
         "datasets": ["fashion-mnist:0v9,n=15,size=7"], "patterns": 10,
         "baselines": _BASELINES},
        {"name": "sparse", "roles": ["sparsity"], "datasets": ["synthetic:teacher2,n=30,d=3"],
         "betas": [0.01, 0.05, 0.2], "patterns": 15},
        {"name": "global", "roles": ["global"], "datasets": ["synthetic:teacher2,n=8,d=2"],
         "patterns": "all", "baselines": _BASELINES},
        {"name": "backends", "roles": ["backends"],
         "datasets": ["synthetic:teacher2,n=20,d=2"], "patterns": 8,
         "backends": ["clarabel", "ecos"]},
        {"name": "arr", "roles": ["arrangement"], "kind": "arrangement", "ns": [10, 20, 40],
         "ranks": [2, 3]},
    ],
}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("results")
    summary = run_spec(parse_spec(TINY), path, jobs=2, progress=False)
    if summary.n_errors:
        with sqlite3.connect(path / "results.sqlite") as con:
            errors = con.execute("select cell, error from cells where status='error'").fetchall()
        pytest.fail(f"{summary.n_errors} cell(s) failed: {errors}")
    assert summary.complete
    return path


def test_report_writes_every_item(results: Path, tmp_path: Path) -> None:
    report = build_report(results, tmp_path / "report")
    stems = {item.stem for item in report.items}
    assert {"objective_vs_time_relu2", "objective_vs_time_relu3", "sparsity_vs_beta",
            "pattern_counts", "claims", "uci_binary", "fashion_mnist_pairs",
            "global_optimality"} <= stems
    for item in report.items:
        for rel in item.files:
            path = report.out_dir / rel
            assert path.is_file() and path.stat().st_size > 100, rel
    index = report.index.read_text()
    for item in report.items:
        for rel in item.files:
            assert f"({rel})" in index
    assert "## Provenance" in index and "git commit" in index
    verdicts = {c.number: c.verdict for c in report.claims}
    assert set(verdicts) == {"1", "2a", "2b", "3", "4", "5"}
    for number in ("1", "2a", "3", "4", "5"):
        assert verdicts[number] == "holds", [c.summary for c in report.claims]
    uci = pd.read_csv(report.out_dir / "tables" / "uci_binary.csv")
    assert list(uci["dataset"]) == ["acute-inflammation"]
    for column in ("n", "d", "convex objective", "best non-convex", "median non-convex",
                   "train acc convex", "train acc SGD", "test acc convex", "test acc SGD",
                   "solve time (s)"):
        assert column in uci.columns
    assert uci["convex objective"].notna().all()


def test_report_cli(results: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from convexbench.cli import main

    assert main(["report", str(results), "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "claim 1" in out and (tmp_path / "r" / "README.md").is_file()


def test_table_formats() -> None:
    df = pd.DataFrame({"dataset": ["a_b"], "objective": [1.23456789], "ok": [True]})
    md = to_markdown(df)
    assert md.splitlines()[0] == "| dataset | objective | ok |" and "1.235" in md
    tex = to_latex(df, "Caption 50%", "x")
    assert r"a\_b" in tex and r"50\%" in tex and r"\toprule" in tex


def test_failed_cells_are_listed_never_dropped() -> None:
    import pandas as pd

    from convexbench.report.tables import failed_cells_table

    base = {"experiment": "e", "kind": "convex", "dataset": "d", "model": "relu2",
            "method": "native", "seed": 0, "beta_spec": 0.1, "cell_seconds": 1.0}
    df = pd.DataFrame([
        {**base, "status": "ok", "error": None, "solve_status": "optimal"},
        {**base, "status": "error", "error": "ValueError: boom", "solve_status": None},
        {**base, "status": "ok", "error": None, "solve_status": "time_limit",
         "cell_seconds": 1200.04},
        {**base, "status": "ok", "error": None, "solve_status": "crashed"},
        {**base, "kind": "baseline", "status": "ok", "error": None, "solve_status": None},
    ])
    table = failed_cells_table(df)
    assert list(table["why"]) == ["ValueError: boom", "solve stopped at its time limit",
                                  "solve ended with status crashed"]
    assert list(table["seconds"]) == [1.0, 1200.0, 1.0]
    assert failed_cells_table(df.iloc[:1]).empty

"""Convex cells against SGD/Adam runs of the same model: gated2 runs (the gated network with
the program's gates) pair with gated2 convex cells, relu2 runs with relu2 ones, and panels
pair runs with the convex cells of their own experiment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from convexbench.analysis.claims import GATED_NOTE, claim_global, compare_to_nonconvex
from convexbench.experiments import parse_spec, run_spec
from convexbench.report import build_report, figures

SAMPLING = "sampling and column generation miss"
CONTRADICTS = "contradicts the certificate"


def convex(objective: float, **kw) -> dict:
    row = {"kind": "convex", "status": "ok", "verified": True, "model": "relu2",
           "method": "clarabel", "experiment": "e", "dataset": "synthetic:x", "beta": 0.1,
           "beta_spec": 0.1, "seed": 0, "roles": ("comparison",), "objective": objective,
           "opt_accuracy": "medium", "relative_gap": 0.0, "exact_patterns": False,
           "n_train": 10, "n_patterns": 20, "d": 3, "times_total": 1.0, "times_wall": 1.0}
    row.update(kw)
    return row


def run(objective: float, **kw) -> dict:
    row = {"kind": "baseline", "status": "ok", "model": "relu2", "method": "sgd",
           "experiment": "e", "dataset": "synthetic:x", "beta": 0.1, "beta_spec": 0.1,
           "seed": 0, "roles": ("comparison",), "objective": objective,
           "trace_seconds": [0.01, 0.1, 1.0], "trace_objective": [3 * objective,
                                                                  1.5 * objective, objective]}
    row.update(kw)
    return row


def test_runs_pair_with_convex_cells_of_their_own_model() -> None:
    # relu2 runs end below the relu2 optimum over sampled patterns; gated2 runs above theirs.
    # Pairing by dataset alone would compare every run with the gated2 optimum (7) and hide it.
    frame = pd.DataFrame([convex(8.0), run(7.9), run(8.4, method="adam"),
                          convex(7.0, model="gated2"), run(7.1, model="gated2"),
                          run(7.05, model="gated2", method="adam")])
    comp = compare_to_nonconvex(frame).set_index("model")
    assert comp.loc["relu2", "convex_objective"] == 8.0
    assert comp.loc["relu2", "best_nonconvex"] == 7.9
    assert comp.loc["gated2", "convex_objective"] == 7.0
    assert comp.loc["gated2", "best_nonconvex"] == 7.05
    _, b = claim_global(frame)
    holds = b.details.set_index("model")["holds"]
    assert b.verdict == "fails" and not holds["relu2"] and holds["gated2"]
    assert GATED_NOTE in b.evidence and SAMPLING in b.evidence
    assert CONTRADICTS not in b.evidence


def test_a_gated2_run_below_its_convex_optimum_is_not_explained_by_sampling() -> None:
    frame = pd.DataFrame([convex(7.0, model="gated2"), run(6.9, model="gated2")])
    _, b = claim_global(frame)
    assert b.verdict == "fails"
    assert CONTRADICTS in b.evidence and SAMPLING not in b.evidence
    fine = pd.DataFrame([convex(7.0, model="gated2"), run(7.0 * (1 + 1e-9), model="gated2")])
    assert claim_global(fine)[1].verdict == "holds"
    tiny = pd.DataFrame([convex(7.0, model="gated2", exact_patterns=True, roles=("global",)),
                         run(7.2, model="gated2", roles=("global",))])
    a, _ = claim_global(tiny)
    assert a.verdict == "holds" and GATED_NOTE in a.evidence


def test_relu_only_evidence_does_not_mention_gates() -> None:
    frame = pd.DataFrame([convex(8.0), run(7.9), convex(5.0, model="relu3"),
                          run(5.5, model="relu3")])
    _, b = claim_global(frame)
    assert "gated" not in b.evidence and SAMPLING in b.evidence


def test_objective_figure_has_one_panel_per_experiment_and_dataset(monkeypatch,
                                                                   tmp_path: Path) -> None:
    shown = []
    monkeypatch.setattr(figures, "_save", lambda fig, *args: shown.append((fig, args)) or args)
    frame = pd.DataFrame([
        convex(5.0, model="relu3", experiment="form-A"), run(5.5, model="relu3",
                                                             experiment="form-A"),
        convex(6.0, model="relu3", experiment="form-B"), run(6.5, model="relu3",
                                                             experiment="form-B"),
        convex(4.0, model="relu3", experiment="other", dataset="synthetic:y"),
        run(4.5, model="relu3", experiment="other", dataset="synthetic:y"),
    ])
    figures.objective_vs_time(frame, "relu3", tmp_path)
    fig, _ = shown[-1]
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 3
    for ax, (experiment, dashed) in zip(axes, [("form-A", 5.0), ("form-B", 6.0),
                                               ("other", 4.0)], strict=True):
        assert (f"[{experiment}]" in ax.get_title()) == (experiment != "other")
        lines = {round(float(line.get_ydata()[0]), 9) for line in ax.get_lines()
                 if line.get_linestyle() == "--"}
        assert lines == {dashed}
    figures.objective_vs_time(frame.assign(model="gated2"), "gated2", tmp_path)
    _, (_, stem, _, caption) = shown[-1]
    assert stem == "objective_vs_time_gated2" and "gates are fixed" in caption


SPEC = {
    "name": "gated-report",
    "defaults": {"time_limit": 60},
    "experiments": [{
        "name": "fm", "roles": ["fmnist-table", "comparison"],
        "datasets": ["fashion-mnist:0v9,n=15,size=7"], "models": ["gated2", "relu2"],
        "patterns": 8,
        "baselines": [{"optimizer": "sgd", "seeds": [0, 1], "iterations": 400, "width": 8},
                      {"optimizer": "adam", "seeds": [0], "iterations": 400, "width": 8}],
    }],
}


def test_report_pairs_gated2_runs_with_the_gated2_optimum(tmp_path: Path) -> None:
    summary = run_spec(parse_spec(SPEC), tmp_path / "results", jobs=1, progress=False)
    assert summary.complete and not summary.n_errors
    report = build_report(tmp_path / "results", tmp_path / "report")
    items = {item.stem: item for item in report.items}
    assert {"objective_vs_time_gated2", "objective_vs_time_relu2",
            "fashion_mnist_pairs"} <= set(items)
    assert GATED_NOTE.strip() in items["fashion_mnist_pairs"].caption
    table = pd.read_csv(report.out_dir / "tables" / "fashion_mnist_pairs.csv")
    assert sorted(table["model"]) == ["gated2", "relu2"] and (table["runs"] == 3).all()
    claim = next(c for c in report.claims if c.id == "2b")
    gated = claim.details.set_index("model").loc["gated2"]
    assert gated["holds"] and gated["runs"] == 3
    assert np.isfinite(gated["best_nonconvex"])
    assert GATED_NOTE in claim.evidence
    assert GATED_NOTE.strip() in (report.out_dir / "README.md").read_text()


@pytest.fixture(autouse=True)
def _one_blas_thread():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield

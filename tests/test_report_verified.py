"""Report tables and figures report only verified convex optima, and the relu3 figure names
the form(s) it plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from test_gated_comparison import convex, run

from convexbench.report import figures
from convexbench.report.tables import dataset_table, to_markdown

UCI = {"dataset": "uci:x", "roles": ("uci-table",)}


def test_dataset_table_uses_the_verified_convex_cell_not_the_lowest() -> None:
    frame = pd.DataFrame([
        convex(3.0, verified=False, seed=1, train_accuracy=0.5, n_patterns=7, **UCI),
        convex(4.0, train_accuracy=0.9, **UCI),
        run(4.2, **UCI), run(4.5, method="adam", **UCI),
    ])
    table = dataset_table(frame, "uci-table", "uci")
    assert len(table) == 1
    row = table.iloc[0]
    assert row["convex objective"] == 4.0 and row["convex solve"] == "verified"
    assert row["train acc convex"] == 0.9 and row["P"] == 20
    assert row["best non-convex"] == 4.2 and row["runs"] == 2


def test_dataset_table_says_when_no_convex_cell_is_verified() -> None:
    frame = pd.DataFrame([
        convex(3.0, verified=False, **UCI),
        convex(np.nan, status="error", error="ValueError: boom", seed=1, **UCI),
        run(4.2, **UCI),
        convex(5.0, dataset="uci:y", roles=("uci-table",)), run(5.1, dataset="uci:y",
                                                                 roles=("uci-table",)),
    ])
    table = dataset_table(frame, "uci-table", "uci").set_index("dataset")
    assert list(table.index) == ["x", "y"]
    x = table.loc["x"]
    assert np.isnan(x["convex objective"]) and np.isnan(x["train acc convex"])
    assert np.isnan(x["solve time (s)"]) and pd.isna(x["P"])
    assert x["convex solve"] == "no verified solve (1 unverified, 1 failed)"
    assert x["best non-convex"] == 4.2 and x["n"] == 10
    assert table.loc["y", "convex objective"] == 5.0
    assert "no verified solve" in to_markdown(table.reset_index())


def _title(monkeypatch, frame: pd.DataFrame, tmp_path: Path) -> tuple[str, list[str]]:
    shown = []
    monkeypatch.setattr(figures, "_save", lambda fig, *args: shown.append((fig, args)) or args)
    figures.objective_vs_time(frame, "relu3", tmp_path)
    fig, (_, _stem, title, caption) = shown[-1]
    assert fig._suptitle.get_text().endswith(title[len("Objective vs wall time ("):-1])
    assert caption.startswith(title[len("Objective vs wall time ("):-1])
    return title, [ax.get_title() for ax in fig.axes if ax.get_visible()]


def test_relu3_figure_title_states_the_form_plotted(monkeypatch, tmp_path: Path) -> None:
    def cells(experiment: str, form: str | None) -> list[dict]:
        kw = {"model": "relu3", "experiment": experiment}
        if form is not None:
            kw["opt_form"] = form
        return [convex(5.0, **kw), run(5.5, **kw)]

    title, _ = _title(monkeypatch, pd.DataFrame(cells("comparison-relu3-B", "B")), tmp_path)
    assert title.endswith("(form B))") and "form A" not in title
    title, _ = _title(monkeypatch, pd.DataFrame(cells("comparison-relu3", "A")), tmp_path)
    assert title.endswith("(form A))")
    title, _ = _title(monkeypatch, pd.DataFrame(cells("old", None)), tmp_path)  # default A
    assert title.endswith("(form A))")
    both = pd.DataFrame(cells("comparison-relu3", "A") + cells("comparison-relu3-B", "B"))
    title, panels = _title(monkeypatch, both, tmp_path)
    assert title.endswith("(forms A and B))")
    assert ["form A" in t for t in panels] == [True, False]
    assert ["form B" in t for t in panels] == [False, True]

"""Claim verdicts (MATH.md §5) on hand-made cell frames: relative thresholds without an
absolute floor, tolerances from the accuracy presets, and missing evidence reported as
"partial" / "not tested", never "fails"."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pandas as pd
import pytest

import convexbench.report
from convexbench.analysis.claims import (
    ClaimResult,
    claim_backends,
    claim_equivalence,
    claim_global,
    claim_patterns,
    claim_sparsity,
    claims_frame,
    evaluate_claims,
    relative_difference,
    relative_margin,
    verdict_counts,
)
from convexbench.backends import presets
from convexbench.cli.reproduce import claims_lines
from convexbench.report.index import write_index
from convexbench.report.tables import claims_table, write_table


def convex(objective: float, nonconvex: float | None = None, **kw) -> dict:
    row = {
        "kind": "convex", "status": "ok", "verified": True, "model": "relu2",
        "method": "clarabel", "solve_status": "optimal", "experiment": "e",
        "dataset": "synthetic:x", "beta": 0.1, "beta_spec": 0.1, "seed": 0,
        "roles": ("global",), "objective": objective,
        "nonconvex_objective": objective if nonconvex is None else nonconvex,
        "opt_accuracy": "medium", "relative_gap": 0.0, "exact_patterns": True,
        "n_train": 10, "n_patterns": 20, "n_active": 5,
    }
    row.update(kw)
    return row


def baseline(objective: float, **kw) -> dict:
    row = {"kind": "baseline", "status": "ok", "model": "relu2", "method": "sgd",
           "experiment": "e", "dataset": "synthetic:x", "beta": 0.1, "beta_spec": 0.1,
           "seed": 0, "roles": ("global",), "objective": objective}
    row.update(kw)
    return row


def by_id(claims: list[ClaimResult]) -> dict[str, ClaimResult]:
    return {c.id: c for c in claims}


def test_relative_measures_have_no_floor_and_define_zero() -> None:
    assert relative_difference(1.1e-6, 1e-6) == pytest.approx(0.1)
    assert relative_difference(0.0, 0.0) == 0.0
    assert math.isinf(relative_difference(1e-300, 0.0))
    assert relative_margin(0.9e-6, 1e-6) == pytest.approx(-0.1)
    assert relative_margin(0.0, 0.0) == 0.0
    assert relative_margin(-1.0, 0.0) == -math.inf and relative_margin(1.0, 0.0) == math.inf
    assert math.isnan(relative_difference(float("nan"), 1.0))


def test_equivalence_fails_for_tiny_objectives_off_by_ten_percent() -> None:
    # |1.1e-6 - 1e-6| / max(1, 1e-6) = 1e-7 passed the old absolute floor; 10% must fail
    claim = claim_equivalence(pd.DataFrame([convex(1e-6, 1.1e-6)]))
    assert claim.verdict == "fails", claim.evidence
    assert claim.numbers["max_relative_difference"] == pytest.approx(0.1)
    ok = claim_equivalence(pd.DataFrame([convex(1e-6, 1e-6 * (1 + 1e-7))]))
    assert ok.verdict == "holds", ok.evidence
    both_zero = claim_equivalence(pd.DataFrame([convex(0.0, 0.0)]))
    assert both_zero.verdict == "holds"
    assert claim_equivalence(pd.DataFrame([convex(0.0, 1e-12)])).verdict == "fails"


def test_equivalence_tolerance_comes_from_the_accuracy_preset(
        monkeypatch: pytest.MonkeyPatch) -> None:
    frame = pd.DataFrame([convex(2.0, 2.0 * (1 + 5e-4))])
    assert claim_equivalence(frame).verdict == "fails"  # medium: 10 x 1e-6
    low = frame.assign(opt_accuracy="low")  # 10 x 1e-4 = 1e-3
    assert claim_equivalence(low).verdict == "holds"
    monkeypatch.setitem(presets.PRESETS, "medium", presets.Preset("medium", 1e-4, 10))
    assert claim_equivalence(frame).verdict == "holds"


def test_global_optimality_margin_is_relative_for_tiny_objectives() -> None:
    # a run 10% below a 1e-6 optimum passed the old max(1, .) floor (margin -1e-7 > -1e-6)
    frame = pd.DataFrame([convex(1e-6), baseline(0.9e-6), baseline(2e-6, method="adam")])
    a, b = claim_global(frame)
    assert a.verdict == "fails", a.evidence
    assert a.numbers["min_margin"] == pytest.approx(-0.1)
    assert b.verdict == "not tested"
    fine = pd.DataFrame([convex(1e-6), baseline(1e-6 * (1 - 1e-7)), baseline(3e-6)])
    assert claim_global(fine)[0].verdict == "holds"
    # the certified relative gap widens the allowance
    gap = pd.DataFrame([convex(1e-6, relative_gap=0.2), baseline(0.9e-6)])
    assert claim_global(gap)[0].verdict == "holds"


def test_backend_spread_is_relative_for_tiny_objectives() -> None:
    rows = [convex(1e-6, method="clarabel", roles=("backends",)),
            convex(1.1e-6, method="ecos", roles=("backends",))]
    claim = claim_backends(pd.DataFrame(rows))
    assert claim.verdict == "fails", claim.evidence
    assert claim.numbers["max_relative_spread"] == pytest.approx(0.05 / 1.05)
    rows[1]["objective"] = 1e-6 * (1 + 1e-7)
    assert claim_backends(pd.DataFrame(rows)).verdict == "holds"


def test_backends_single_backend_is_partial_and_unavailable_is_not_tested() -> None:
    one = pd.DataFrame([convex(1.0, roles=("backends",))])
    claim = claim_backends(one)
    assert claim.verdict == "partial" and "two or more verified backends" in claim.evidence
    unavailable = pd.DataFrame([convex(1.0, roles=("backends",), status="error")])
    assert claim_backends(unavailable).verdict == "not tested"
    unverified = pd.DataFrame([convex(1.0, roles=("backends",), verified=False)])
    assert claim_backends(unverified).verdict == "fails"


def test_sparsity_without_beta_sweep_is_partial_not_fails() -> None:
    # the repro: a small spec's relu2 solves satisfy the n + 1 bound but have no beta sweep
    frame = pd.DataFrame([convex(1.0, seed=s, n_active=4) for s in range(4)])
    claim = claim_sparsity(frame)
    assert claim.verdict == "partial", claim.evidence
    assert "no beta sweep" in claim.evidence
    assert [p.name for p in claim.missing] == ["falls as beta grows"]
    # a contradiction is still a failure, whatever is missing
    over = pd.DataFrame([convex(1.0, n_active=12)])
    assert claim_sparsity(over).verdict == "fails"
    # two betas are not a sweep either
    two = pd.DataFrame([convex(1.0, beta=b, roles=("sparsity",), n_active=k)
                        for b, k in ((0.1, 5), (1.0, 2))])
    assert claim_sparsity(two).verdict == "partial"


def test_sparsity_with_falling_sweep_holds_and_rising_sweep_fails() -> None:
    falling = [convex(1.0, beta=b, beta_spec=b, roles=("sparsity",), n_active=k)
               for b, k in ((0.01, 9), (0.1, 5), (1.0, 2))]
    assert claim_sparsity(pd.DataFrame(falling)).verdict == "holds"
    rising = [dict(r, n_active=k) for r, k in zip(falling, (2, 5, 9), strict=True)]
    assert claim_sparsity(pd.DataFrame(rising)).verdict == "fails"


def test_patterns_single_n_is_partial() -> None:
    rows = [{"kind": "arrangement", "status": "ok", "n": 10, "d": 2, "rank": 2,
             "n_patterns": 20, "cover_count": 20, "roles": ("arrangement",)}]
    assert claim_patterns(pd.DataFrame(rows)).verdict == "partial"
    rows[0]["n_patterns"] = 19
    assert claim_patterns(pd.DataFrame(rows)).verdict == "fails"


def test_no_rows_is_not_tested_everywhere(tmp_path: Path) -> None:
    claims = evaluate_claims(pd.DataFrame())
    assert [c.id for c in claims] == ["1", "2a", "2b", "3", "4", "5"]
    assert {c.verdict for c in claims} == {"not tested"}
    assert verdict_counts(claims) == {"holds": 0, "partial": 0, "not tested": 6, "fails": 0}
    assert all(c.evidence.startswith("No evidence") for c in claims)


def test_partial_and_not_tested_are_visible_in_table_index_and_cli(tmp_path: Path) -> None:
    frame = pd.DataFrame([convex(1.0), baseline(1.5)])
    claims = by_id(evaluate_claims(frame))
    assert claims["1"].verdict == "holds" and claims["2a"].verdict == "holds"
    assert claims["4"].verdict == "partial" and claims["5"].verdict == "not tested"
    table = claims_table(list(claims.values()))
    assert list(table.columns) == ["claim", "title", "verdict", "evidence"]
    assert table.equals(claims_frame(list(claims.values())))
    write_table(table, tmp_path, "claims", "Claims", "caption")
    csv = pd.read_csv(tmp_path / "tables" / "claims.csv")
    assert set(csv["verdict"]) == {"holds", "partial", "not tested"}
    assert "partial" in (tmp_path / "tables" / "claims.tex").read_text()
    index = write_index(tmp_path, [], list(claims.values()), [], "t").read_text()
    assert "Summary: 2 hold, 1 partial, 3 not tested, 0 fail." in index
    assert "Missing evidence is never a failure" in index
    lines = claims_lines(list(claims.values()))
    assert "claim 4   partial    Sparsity [no evidence: falls as beta grows]" in lines
    assert lines.splitlines()[-1] == "claims: 2 hold, 1 partial, 3 not tested, 0 fail"


def test_report_imports_no_private_claims_names() -> None:
    folder = Path(convexbench.report.__file__).parent
    for path in sorted(folder.glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "convexbench.analysis.claims":
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{path.name} imports {private}"


def test_no_max_one_floor_left_in_claims_or_report() -> None:
    root = Path(convexbench.report.__file__).parents[1]
    for path in [root / "analysis" / "claims.py", *sorted((root / "report").glob("*.py"))]:
        text = path.read_text().replace(" ", "")
        for floor in ("max(1.0,", "maximum(1.0,", "max(1,|"):
            assert floor not in text, (path.name, floor)

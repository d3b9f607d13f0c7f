"""``convexbench reproduce``: the recipe runs a spec and writes the report; CLI wiring."""

from __future__ import annotations

from pathlib import Path

import pytest

from convexbench.errors import UserError
from convexbench.experiments import parse_spec
from convexbench.orchestration import reproduce

SPEC = {
    "name": "mini",
    "experiments": [
        {"name": "global", "roles": ["global", "comparison"],
         "datasets": ["synthetic:teacher2,n=8,d=2"], "patterns": "all",
         "baselines": [{"optimizer": "sgd", "seeds": [0], "iterations": 100, "width": 6},
                       {"optimizer": "adam", "seeds": [0], "iterations": 100, "width": 6}]},
        {"name": "arr", "roles": ["arrangement"], "kind": "arrangement", "ns": [8, 16, 32],
         "ranks": [2]},
    ],
}


def test_reproduce_with_small_spec(tmp_path: Path) -> None:
    result = reproduce("quick", tmp_path / "reports", jobs=1, progress=False,
                       spec=parse_spec(SPEC))
    assert result.summary.complete
    index = (tmp_path / "reports" / "README.md").read_text()
    assert "reproduce --quick" in index and "figures/objective_vs_time_relu2.png" in index
    assert (tmp_path / "reports" / "results" / "results.sqlite").is_file()
    verdicts = {c.id: c.verdict for c in result.claims}
    assert verdicts["4"] == "partial" and verdicts["5"] == "not tested", verdicts
    assert not result.failed_claims, [c.evidence for c in result.failed_claims]
    assert "1 partial" in index and "partial" in (
        tmp_path / "reports" / "tables" / "claims.csv").read_text()
    again = reproduce("quick", tmp_path / "reports", jobs=1, progress=False,
                      spec=parse_spec(SPEC))
    assert again.summary.n_run == 0


def test_reproduce_rejects_unknown_mode(tmp_path: Path) -> None:
    with pytest.raises(UserError):
        reproduce("medium", tmp_path)


def test_reproduce_help(capsys: pytest.CaptureFixture) -> None:
    from convexbench.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["reproduce", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "--quick" in text and "--full" in text and "--jobs" in text

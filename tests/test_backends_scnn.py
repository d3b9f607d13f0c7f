"""The scnn backends: listed without scnn (unavailable, with the reason), skipped by compare
with that reason; with scnn (pyscnn), solving on the program's own patterns, certified."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from convexbench.backends import get_preset, solve
from convexbench.backends import scnn as scnn_backend
from convexbench.backends.mapping import describe_backends, mapping_markdown
from convexbench.backends.registry import all_backends
from convexbench.compare import compare
from convexbench.data.synthetic import planted_data
from convexbench.errors import UnavailableError
from convexbench.programs import make_program


def _program(model: str, n: int = 80, d: int = 4, patterns: int = 20):
    X, y = planted_data(n, d, seed=3)
    beta = 0.1 * float(np.abs(X.T @ y).max())
    return make_program(model, X, y, beta, patterns=patterns, seed=1)


@pytest.fixture
def no_scnn(monkeypatch):
    """scnn not importable, whatever is installed."""
    for name in ("scnn", "scnn.optimize"):
        monkeypatch.setitem(sys.modules, name, None)
    scnn_backend.scnn_available.cache_clear()
    yield
    scnn_backend.scnn_available.cache_clear()


def test_without_scnn_listed_unavailable_with_a_one_line_reason(no_scnn, capsys):
    from convexbench.cli.backends import run

    rows = {row["name"]: row for row in describe_backends(include_test=False)}
    for name in ("scnn-rfista", "scnn-al"):
        row = rows[name]
        assert not row["available"] and not row["installed"]
        message = row["message"]
        assert message.startswith("unavailable: not installed") and "\n" not in message
    assert "scnn-rfista" in mapping_markdown()

    class Args:
        json, threads = True, 1

    assert run(Args()) == 0
    listed = {b["name"]: b for b in json.loads(capsys.readouterr().out)["backends"]}
    assert "pyscnn" in listed["scnn-al"]["message"]


def test_without_scnn_compare_skips_it_with_the_reason(no_scnn, tmp_path):
    program = _program("gated2")
    table = compare({"p": program}, backends="native,scnn-rfista", time_limit=30,
                    isolate=False, out=tmp_path)
    row = table.set_index("backend").loc["scnn-rfista"]
    assert row["status"] == "unavailable" and "not installed" in row["reason"]
    assert "not installed" in table.attrs["skipped"]["scnn-rfista"]
    assert "scnn-rfista" in (tmp_path / "compare.md").read_text()
    with pytest.raises(UnavailableError, match="not installed"):
        solve(program, "scnn-rfista")


def test_scnn_options_follow_the_presets():
    low, medium = (scnn_backend.scnn_options("al", get_preset(p)) for p in ("low", "medium"))
    assert low["tol"] > medium["tol"] and low["constraint_tol"] > medium["constraint_tol"]
    backend = all_backends()["scnn-rfista"]
    assert backend.supports(_program("relu2")) and backend.supports(_program("gated2")) is None


@pytest.mark.parametrize("model, name", [("gated2", "scnn-rfista"), ("relu2", "scnn-al")])
def test_scnn_solves_the_programs_patterns_and_is_certified(model, name):
    pytest.importorskip("scnn")
    if scnn_backend.scnn_available() is not None:
        pytest.skip(scnn_backend.scnn_available())
    program = _program(model, n=60, d=3, patterns=12)
    # R-FISTA reaches the low preset in well under a second; AL is slow to converge and is
    # given 3 s: its answer, or its last iterate, comes back with a trace either way
    result = solve(program, name, "low", time_limit=30 if name == "scnn-rfista" else 3,
                   isolate=False)
    assert result.trace and result.solution is not None
    assert result.solution[next(iter(program.block_shapes()))].shape[0] == program.n_groups
    if name == "scnn-rfista":
        reference = solve(program, "clarabel", "high", isolate=False).objective
        assert result.verified, result.message
        assert abs(result.objective - reference) <= 1e-4 * reference
    elif result.status != "time_limit":
        assert result.certificate is not None  # certified like every other backend


def test_scnn_stops_at_the_time_limit():
    pytest.importorskip("scnn")
    if scnn_backend.scnn_available() is not None:
        pytest.skip(scnn_backend.scnn_available())
    program = _program("relu2", n=100, d=4, patterns=30)
    result = solve(program, "scnn-al", "high", time_limit=0.5, isolate=False)
    assert result.status == "time_limit" and not result.verified
    assert result.times["wall"] < 3.0

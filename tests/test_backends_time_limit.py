"""--time-limit is wall-clock for the whole solve, cvxpy compilation included, for every backend.

Timing bounds are generous (a loaded 2-core machine): the contract is ``limit + 2 s``.
"""

from __future__ import annotations

import json
import math
import time
import warnings

import numpy as np
import pytest

from convexbench.backends import (
    RawRun,
    certify_run,
    describe_backends,
    get_backend,
    needs_isolation,
    run_isolated,
    safe_info,
    solve,
)
from convexbench.backends.presets import get_preset
from convexbench.backends.testing import TimeLeftBackend
from convexbench.programs import make_program

warnings.filterwarnings("ignore", module="cvxpy")


@pytest.fixture(scope="module")
def compiling():
    """cvxpy alone takes about 4 s to compile this one (160000 cone rows) for Clarabel or SCS,
    well past the limit + 2 s of the test below."""
    rng = np.random.default_rng(4)
    return make_program("relu2", rng.standard_normal((800, 12)), rng.standard_normal(800), 1.0,
                        patterns=200)


@pytest.fixture(scope="module")
def warm(small):
    """Start the forkserver (about 1 s, once per process) before the timed tests."""
    run_isolated(TimeLeftBackend(), small, get_preset("low"), time_limit=30)


@pytest.mark.parametrize("name", ["clarabel", "scs"])
def test_time_limit_includes_cvxpy_compilation(compiling, warm, name):
    """Solvers with a time option of their own used to compile outside the limit."""
    if not safe_info(get_backend(name)).available:
        pytest.skip(f"{name} not installed")
    limit = 0.2
    assert needs_isolation(get_backend(name), limit, None)
    start = time.perf_counter()
    r = solve(compiling, name, "medium", time_limit=limit)
    wall = time.perf_counter() - start
    assert r.status == "time_limit" and not r.verified and r.isolated
    assert r.certificate is None and r.time_limit == limit
    assert wall < limit + 2.0 and r.times["elapsed"] < limit + 2.0
    assert "time limit" in r.message


def test_child_gets_the_time_left(small, warm):
    outcome = run_isolated(TimeLeftBackend(), small, get_preset("low"), time_limit=20)
    given = outcome.raw.extra["time_limit"]
    assert 15 < given < 20  # the limit counts from the parent's call, start-up included
    outcome = run_isolated(TimeLeftBackend(), small, get_preset("low"), time_limit=1e-4)
    assert outcome.raw.status == "time_limit"
    assert "ran out while the child process started" in outcome.raw.message
    assert outcome.elapsed < 2.0
    unlimited = run_isolated(TimeLeftBackend(), small, get_preset("low"))
    assert unlimited.raw.extra["time_limit"] is None


def test_point_cut_by_the_time_limit_is_not_certified(small):
    raw = RawRun("time_limit", "MaxTime", small.zero_solution(), message="stopped")
    r = certify_run(small, raw, "x", None, get_preset("low"), 1.0, None, time_limit=1.0)
    assert r.status == "time_limit" and not r.verified and r.certificate is None
    assert r.objective is not None and math.isfinite(r.objective)
    assert "not certified (stopped at the time limit)" in r.message


def test_which_backends_are_isolated_under_a_time_limit():
    for name in ("clarabel", "scs", "ecos", "cvxopt", "mosek", "gurobi", "copt"):
        backend = get_backend(name)
        assert not backend.enforces_time_limit
        assert needs_isolation(backend, 1.0, None)
        assert not needs_isolation(backend, None, None)
    native = get_backend("native")
    if safe_info(native).available:
        assert not needs_isolation(native, 1.0, None)
        assert needs_isolation(native, 1.0, 100.0)


def test_backends_say_how_they_enforce_time_limits(capsys):
    from convexbench.cli import main

    rows = {row["name"]: row for row in describe_backends(include_test=True)}
    for row in rows.values():
        assert row["time_limit_enforcement"] and row["time_limit"]
    assert "time_limit" in rows["clarabel"]["time_limit_enforcement"]
    assert "after compilation" in rows["clarabel"]["time_limit_enforcement"]
    assert "time_limit_secs" in rows["scs"]["time_limit_enforcement"]
    assert "killed at T+grace" in rows["ecos"]["time_limit_enforcement"]
    assert "killed at T+grace" in rows["test-hang"]["time_limit_enforcement"]
    if rows["native"]["available"]:
        assert "deadline" in rows["native"]["time_limit_enforcement"]

    assert main(["backends", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["time_limit_grace_seconds"] > 0
    assert all(row["time_limit_enforcement"] for row in data["backends"])
    assert main(["backends"]) == 0
    out = capsys.readouterr().out
    assert "kill at T+grace" in out and "wall-clock for the whole solve" in out

"""Regularization paths (issue 16, point 4): warm starts through the backend layer."""

import numpy as np
import pytest

from convexbench.arrays import lambda_max
from convexbench.backends import solve
from convexbench.programs import make_program
from convexbench.training import train_convex, train_convex_path


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 4))
    return X, np.maximum(X @ rng.standard_normal(4), 0) + 0.05 * rng.standard_normal(80)


@pytest.mark.parametrize("isolate", [False, True])
def test_warm_start_reaches_native_in_process_and_isolated(data, isolate):
    """The warm start is handed to native in-process and in an isolated child (where the
    untimed warm-up program, of other shapes, is solved cold); the answer is certified."""
    X, y = data
    first = solve(make_program("relu2", X, y, 1.0, patterns=40), backend="native")
    program = make_program("relu2", X, y, 0.05, patterns=40)
    warm_up = make_program("relu2", X[:20], y[:20], 0.1, patterns=8)
    cold = solve(program, backend="native", isolate=isolate, warm_up=warm_up)
    warm = solve(program, backend="native", isolate=isolate, warm_up=warm_up,
                 warm_start=first.solution)
    assert cold.verified and warm.verified
    assert warm.objective == pytest.approx(cold.objective, rel=1e-6)


def test_conic_backend_ignores_the_warm_start(data):
    X, y = data
    program = make_program("gated2", X, y, 0.1, patterns=20)
    start = program.zero_solution()
    result = solve(program, backend="clarabel", warm_start=start)
    assert result.verified


def test_path_equals_cold_solves(data):
    X, y = data
    betas = list(np.logspace(-1, -3, 4) * lambda_max(X, y))
    path = train_convex_path(X, y, betas[::-1], model="gated2", patterns=30, backend="native")
    assert [t.program.beta for t in path] == pytest.approx(betas)
    assert [t.record["warm_started"] for t in path] == [False, True, True, True]
    for t in path:
        cold = train_convex(X, y, model="gated2", beta=t.program.beta, patterns=30,
                            backend="native")
        assert t.result.verified and cold.result.verified
        assert t.record["objective"] == pytest.approx(cold.record["objective"], rel=1e-6)

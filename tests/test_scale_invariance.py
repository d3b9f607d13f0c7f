""""Verified" means the same at every scale (issue 14).

Scaling law (squared loss, every model): (X, y, beta) -> (a X, c y, a c beta) maps a solution w
to (c / a) w and the objective to c^2 times its own.  The certificate's verdict must not change
under it, and a verified point's network must be within the tolerance of an independent
optimum, whatever a and c.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convexbench.backends import PRESETS, solve
from convexbench.certificates import certify
from convexbench.names import MODELS
from convexbench.programs import make_program
from convexbench.programs.base import DUAL_HINT

TOLS = tuple(preset.tol for preset in PRESETS.values())
BETA = 0.05
exponents = st.integers(min_value=-8, max_value=8)


def _data(seed: int = 0, n: int = 15, d: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """The issue's reproduction: Gaussian X, y a difference of two ReLUs plus noise."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    u1, u2 = rng.standard_normal(d), rng.standard_normal(d)
    y = np.maximum(X @ u1, 0) - np.maximum(X @ u2, 0) + 0.1 * rng.standard_normal(n)
    return X, y


def _program(model: str, a: float = 1.0, c: float = 1.0, beta: float = BETA):
    X, y = _data()
    groups = 30 if model == "relu3" else 50
    return make_program(model, a * X, c * y, a * c * beta, patterns=groups, m1=2, seed=0)


@functools.cache
def _reference(model: str) -> tuple[float, dict]:
    """An independent optimum at unit scale (Clarabel at 1e-12 on the cvxpy program) and a
    verified solution of it."""
    program = _program(model)
    built = program.build_cvxpy()
    built.problem.solve(solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12,
                        tol_feas=1e-12)
    solution = program.solution_from_cvxpy(built)
    assert certify(program, solution).holds(1e-6)
    return float(built.problem.value), solution


def _scaled(solution: dict, a: float, c: float) -> dict:
    return {k: v * (c if k == DUAL_HINT else c / a) for k, v in solution.items()}


@pytest.mark.parametrize("model", MODELS)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ea=exponents, ec=exponents, damage=st.sampled_from([0.0, 1e-7, 1e-5, 1e-3]))
def test_verdict_is_invariant_under_the_scaling_law(model, ea, ec, damage):
    a, c = 10.0**ea, 10.0**ec
    _, solution = _reference(model)
    # a damaged copy (scaled up: feasible but suboptimal) gives verdicts of both kinds
    point = {k: v * (1.0 + damage) for k, v in solution.items() if k != DUAL_HINT}
    base = certify(_program(model), point)
    moved = certify(_program(model, a, c), _scaled(point, a, c))
    assert moved.objective == pytest.approx(c**2 * base.objective, rel=1e-9)
    assert moved.relative_gap == pytest.approx(base.relative_gap, rel=1e-5, abs=1e-9)
    assert moved.relative_violation == pytest.approx(base.relative_violation, rel=1e-5,
                                                     abs=1e-13)
    for tol in TOLS:
        assert moved.holds(tol) == base.holds(tol), (tol, base, moved)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("backend", ["native", "clarabel"])
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ea=exponents, ec=exponents)
def test_a_verified_network_is_within_tolerance_of_an_independent_optimum(
    model, backend, ea, ec
):
    a, c = 10.0**ea, 10.0**ec
    optimum = c**2 * _reference(model)[0]
    program = _program(model, a, c)
    for accuracy, tol in (("low", 1e-4), ("medium", 1e-6)):
        result = solve(program, backend=backend, accuracy=accuracy)
        if not result.verified:
            continue
        network = program.reconstruct(result.solution)
        network_objective = program.nonconvex_objective(network)
        assert network_objective <= optimum * (1 + tol + 1e-9), (accuracy, a, c)
        assert result.objective >= optimum * (1 - tol - 1e-9), (accuracy, a, c)


@settings(max_examples=10, deadline=None)
@given(ea=exponents, ec=exponents)
def test_a_gated_solution_in_relu2_blocks_is_never_verified(ea, ec):
    a, c = 10.0**ea, 10.0**ec
    gated_optimum, gated = _reference("gated2")
    relu_optimum, _ = _reference("relu2")
    assert gated_optimum < relu_optimum * (1 - 1e-3)  # the relaxation is strictly better here
    U = gated["U"]
    point = {"V": U, "W": np.zeros_like(U)}  # same predictions and penalty as the gated one
    relu2 = _program("relu2", a, c)
    cert = certify(relu2, _scaled(point, a, c))
    assert cert.objective == pytest.approx(c**2 * gated_optimum, rel=1e-6)
    assert not cert.holds(1e-2)
    assert cert.relative_violation > 1e-2 or cert.relative_gap < -1e-2


def test_objective_below_the_dual_bound_is_reported_not_clipped():
    _, gated = _reference("gated2")
    U = gated["U"]
    cert = certify(_program("relu2"), {"V": U, "W": np.zeros_like(U)})
    assert cert.gap == pytest.approx(cert.objective - cert.dual_value)
    failure = cert.failure(1e-6)
    assert failure is not None


def test_relu3_prices_are_upper_bounds_of_the_pricing_socp():
    """The relu3 price of each atom is a weak-duality bound >= the SOCP's primal value."""
    import cvxpy as cp

    program = _program("relu3")
    rng = np.random.default_rng(1)
    lam = rng.standard_normal(program.n)
    items = [(g, s) for g in range(8) for s in (1.0, -1.0)]
    bounds = program._exact_prices(lam, items)
    for (g, s), bound in zip(items, bounds, strict=True):
        Q = cp.Variable((program.d, program.m1))
        XQ = program.X @ Q
        coef = s * program.second[:, g] * lam
        inner = cp.sum(cp.multiply(program.first[:, g, :], XQ), axis=1)
        problem = cp.Problem(
            cp.Maximize(coef @ inner),
            [cp.multiply(program.first_signs[:, g, :], XQ) >= 0,
             cp.multiply(2 * program.second[:, g] - 1, inner) >= 0,
             cp.sum(cp.norm(Q, 2, axis=0)) <= 1],
        )
        problem.solve(solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
        assert bound >= problem.value - 1e-9 * max(abs(problem.value), 1e-3)
        assert bound <= problem.value + 1e-6 * abs(problem.value) + 1e-8


@functools.cache
def _logistic_reference(model: str) -> dict:
    X, y = _data()
    labels = np.where(y >= np.median(y), 1.0, -1.0)
    program = make_program(model, X, labels, BETA, loss="logistic", patterns=30, m1=2, seed=0)
    result = solve(program, backend="native", accuracy="high")
    assert result.verified
    return result.solution


@pytest.mark.parametrize("model", ["relu2", "gated2"])
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ea=exponents, damage=st.sampled_from([0.0, 1e-5]))
def test_logistic_verdict_is_invariant_under_scaling_x(model, ea, damage):
    """Labels stay +-1: (X, beta) -> (a X, a beta) maps w -> w / a, objective unchanged."""
    a = 10.0**ea
    X, y = _data()
    labels = np.where(y >= np.median(y), 1.0, -1.0)
    point = {k: v * (1.0 + damage) for k, v in _logistic_reference(model).items()
             if k != DUAL_HINT}
    base_program = make_program(model, X, labels, BETA, loss="logistic", patterns=30, seed=0)
    moved_program = make_program(model, a * X, labels, a * BETA, loss="logistic",
                                 patterns=30, seed=0)
    base = certify(base_program, point)
    moved = certify(moved_program, {k: v / a for k, v in point.items()})
    assert moved.objective == pytest.approx(base.objective, rel=1e-9)
    assert moved.relative_gap == pytest.approx(base.relative_gap, rel=1e-5, abs=1e-9)
    for tol in TOLS:
        assert moved.holds(tol) == base.holds(tol)

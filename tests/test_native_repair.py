"""The feasible point a time-limited two-layer run returns (``native/repair.py``)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convexbench.certificates import certify
from convexbench.losses import get_loss
from convexbench.native import NativeOptions, solve_native
from convexbench.native.families import family_for
from convexbench.native.repair import best_scale, feasible_near
from convexbench.programs import make_program


def pima_relu2(loss: str = "squared"):
    from convexbench.data import load_dataset

    ds = load_dataset("uci:pima", seed=0)
    X = ds.X_train[:200]
    y = np.where(ds.y_train[:200] == np.unique(ds.y_train)[0], -1.0, 1.0)
    beta = 1e-3 * float(np.max(np.abs(X.T @ y)))
    return make_program("relu2", X, y, beta, patterns=30, seed=0, loss=loss)


def test_projection_is_the_nearest_point_of_each_cone():
    """Each projected column lies in its cone, and v - u = -K^T mu with mu >= 0 (Moreau):
    u^T (v - u) = 0 and (v - u)^T k <= 0 for the cone's own points (here the others'
    projections)."""
    program = pima_relu2()
    fam = family_for(program)
    rng = np.random.default_rng(0)
    cols = np.arange(fam.n_columns)
    v = rng.standard_normal((len(cols), fam.d))
    u = np.array([fam.project(int(c), v[i]) for i, c in enumerate(cols)])
    vals = fam.cone_values(cols, u)
    assert vals.min() >= -1e-9 * np.abs(vals).max()
    moved = np.flatnonzero(np.linalg.norm(u - v, axis=1) > 1e-9 * np.linalg.norm(v, axis=1))
    assert len(moved) > 0.5 * len(cols)  # random points are mostly outside their cones
    for i in moved:
        r = v[i] - u[i]
        assert abs(float(u[i] @ r)) <= 1e-8 * float(np.linalg.norm(v[i]) ** 2)
        # any other point of the same cone: a scaled projection of another random vector
        other = fam.project(int(cols[i]), rng.standard_normal(fam.d))
        assert float(r @ other) <= 1e-8 * float(np.linalg.norm(v[i]) * np.linalg.norm(other))


@pytest.mark.parametrize("loss", ["squared", "hinge", "logistic"])
def test_time_limited_run_returns_the_repaired_point(loss):
    """A run stopped by its time limit before any restricted solve returns its (infeasible)
    warm start projected onto the cones: feasible, and better than zero, which is what it
    returned before (repair=False)."""
    program = pima_relu2(loss)
    fam = family_for(program)
    # the optimum of a quick solve, perturbed off its cones
    exact = solve_native(program, NativeOptions()).solution
    rng = np.random.default_rng(1)
    warm = {k: np.asarray(exact[k]) + 0.3 * np.abs(np.asarray(exact[k])).max()
            * rng.standard_normal(np.shape(exact[k])) * (np.asarray(exact[k]) != 0)
            for k in ("V", "W")}
    cols, x = fam.from_solution(warm)
    assert fam.cone_values(cols, x).min() < 0  # infeasible
    zero = program.objective({"V": 0 * warm["V"], "W": 0 * warm["W"]})
    runs = {r: solve_native(program, NativeOptions(time_limit=1e-9, repair=r), warm_start=warm)
            for r in (True, False)}
    for run in runs.values():
        assert run.status == "time_limit"
        assert certify(program, run.solution).relative_violation <= 1e-6
    assert program.objective(runs[False].solution) == pytest.approx(zero)
    assert program.objective(runs[True].solution) < 0.9 * zero


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), loss=st.sampled_from(["squared", "hinge", "logistic"]),
       scale=st.floats(1e-3, 1e3), penalty=st.floats(0.0, 10.0))
def test_best_scale_minimizes_along_the_ray(seed, loss, scale, penalty):
    """best_scale's t is no worse than any t on a fine grid (the objective is convex in t)."""
    rng = np.random.default_rng(seed)
    y = np.where(rng.random(40) < 0.5, -1.0, 1.0)
    z = scale * (y + rng.standard_normal(40))
    fn = get_loss(loss)
    t = best_scale(fn, y, z, penalty * scale)
    assert t >= 0

    def f(s):
        return fn.value(s * z, y) + s * penalty * scale

    grid = np.linspace(0.0, 4.0 * max(t, 1.0 / scale), 2001)
    assert f(t) <= min(f(s) for s in grid) + 1e-9 * f(0.0)  # f(0) = loss(0) > 0


def test_unsupported_family_returns_none():
    """Three-layer columns have no projection here: the repair leaves them alone."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((20, 3)), rng.standard_normal(20)
    program = make_program("relu3", X, y, 0.1, patterns=5, seed=0)
    fam = family_for(program)
    x = rng.standard_normal((2, fam.m * fam.d))
    assert feasible_near(fam, program.loss, y, 0.1, np.arange(2), x, np.inf) is None


@pytest.mark.parametrize("model", ["relu2", "relu3"])
def test_solve_cut_before_any_restricted_iterate_returns_the_scaled_entry_points(
        monkeypatch, model):
    """When the first restricted solve is cut short with no iterate (full-size Fashion-MNIST
    relu2 at T = 60 s), the points of their cones along which the columns entered, scaled,
    are returned: feasible and below zero's objective (zero was returned before).  relu3 has
    no projection: its entry points (pricing maximizers, inside their cones) are scaled as
    they are (uci:semeion relu3 at T = 30 s returned zero, 16963, before; now 4785)."""
    import convexbench.native.working_set as ws
    from convexbench.native.reduced import ReducedResult

    def cut(fam, state, *args, **kwargs):
        return ReducedResult(np.zeros_like(state.x), "MaxTime", 0, 0.0)

    monkeypatch.setattr(ws, "_solve_state", cut)
    program = pima_relu2()
    if model == "relu3":
        program = make_program("relu3", program.X, program.y, program.beta, patterns=20,
                               seed=0)
    zero = program.objective(program.zero_solution())
    # the working set's first round (the whole program, taken under generous limits only,
    # has no entry points)
    run = solve_native(program, NativeOptions(time_limit=100.0, whole_program_flops=0,
                                              whole_switch_ratio=0))
    assert run.status == "time_limit"
    assert certify(program, run.solution).relative_violation <= 1e-6
    assert program.objective(run.solution) < 0.95 * zero
    assert program.n_active(run.solution) > 0


@pytest.mark.parametrize("model", ["relu2", "gated2", "relu3"])
def test_column_predictions_are_the_terms_of_predict(model):
    """Row c of ``column_predictions`` is column c's own prediction, and the rows sum to
    ``predict`` (the repair's scales read them; two-layer builds them from one product)."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 5))
    y = rng.standard_normal(40)
    program = make_program(model, X, y, 0.1, patterns=12, seed=2)
    fam = family_for(program)
    cols = rng.choice(fam.n_columns, size=7, replace=False)
    x = rng.standard_normal((7, fam.m * fam.d))
    Z = fam.column_predictions(cols, x)
    assert Z.shape == (7, 40)
    for i in range(7):
        np.testing.assert_allclose(Z[i], fam.predict(cols[[i]], x[[i]]), rtol=1e-12,
                                   atol=1e-12 * np.abs(Z).max())
    np.testing.assert_allclose(Z.sum(axis=0), fam.predict(cols, x), rtol=1e-10,
                               atol=1e-12 * np.abs(Z).max())
    assert fam.column_predictions(cols[:0], x[:0]).shape == (0, 40)


def test_columns_of_the_set_price_at_most_beta_after_each_restricted_solve(monkeypatch):
    """KKT of the restricted program: its columns' exact prices (over their full cones,
    smaller than the restricted ones) are <= beta at the dual the working set prices with.
    The interior-point method leaves tiny columns that pruning drops; a dual taken after
    that pruning priced columns of the set far above beta (uci:hill-valley relu2 at 1e-3
    lambda_max: 12.5 beta; here uci:ionosphere at 1e-2: 4.9e-6 above it), which cost rounds."""
    import convexbench.native.working_set as ws
    from convexbench.data import load_dataset

    ds = load_dataset("uci:ionosphere", seed=0)
    X, y = ds.X_train, ds.y_train
    beta = 1e-2 * float(np.max(np.abs(X.T @ y)))
    program = make_program("relu2", X, y, beta, patterns=100, seed=0)
    solved = {"ok": False}
    original_solve, original_price = ws._solve_state, ws._price
    excess = []

    def solve_state(*args, **kwargs):
        res = original_solve(*args, **kwargs)
        solved["ok"] = res.status == "Solved"
        return res

    def price(fam, lam, beta_, thresh, in_set, *args, **kwargs):
        if solved["ok"] and in_set.any():
            grads = fam.cheap_prices(lam)[1]
            top = max(fam.exact_price(int(c), grads)[0] for c in np.flatnonzero(in_set))
            excess.append(top / beta_ - 1.0)
        return original_price(fam, lam, beta_, thresh, in_set, *args, **kwargs)

    monkeypatch.setattr(ws, "_solve_state", solve_state)
    monkeypatch.setattr(ws, "_price", price)
    run = solve_native(program, NativeOptions())
    assert run.status == "optimal"
    assert len(excess) >= 3
    assert max(excess) <= 1e-7, excess

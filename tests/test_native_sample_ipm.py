"""The sample-space interior-point method for gated ReLU (squared, hinge and logistic losses)
against Clarabel and the working set, at several scales and under a time limit."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convexbench.backends import solve
from convexbench.certificates import certify
from convexbench.native import NativeOptions, solve_native
from convexbench.native.deadline import Deadline
from convexbench.native.sample_ipm import solve_sample_ipm, use_sample_ipm
from convexbench.programs import make_program

WORKING_SET = NativeOptions(sample_ipm_losses=())


def _program(seed: int, loss: str, n: int = 80, d: int = 5, P: int = 30, factor: float = 0.05,
             y_scale: float = 1.0, x_scale: float = 1.0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * x_scale
    y = np.maximum(X @ rng.standard_normal((d, 3)), 0) @ rng.standard_normal(3)
    y += 0.1 * float(np.std(y)) * rng.standard_normal(n)
    if loss != "squared":
        y = np.where(y >= np.median(y), 1.0, -1.0)
    else:
        y = y * y_scale
    beta = factor * float(np.abs(X.T @ y).max())
    return make_program("gated2", X, y, beta, loss=loss, patterns=P, seed=seed + 1)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), loss=st.sampled_from(["squared", "hinge", "logistic"]),
       factor=st.sampled_from([0.3, 0.05, 1e-3]),
       scale=st.sampled_from([1e-6, 1.0, 1e4]))
def test_certified_and_equal_to_a_reference_at_every_scale(seed, loss, factor, scale):
    """Through solve_native at y (squared) or X (hinge, logistic) scaled by 1e-6 .. 1e4: the
    suite's own certificate holds at 1e-6 and the objective equals the reference's to 1e-6
    (relative): Clarabel's, or for the logistic loss (where Clarabel's exponential cones are
    the less reliable side) the working set's proximal Newton optimum, itself certified."""
    kwargs = {"y_scale": scale} if loss == "squared" else {"x_scale": scale}
    program = _program(seed, loss, factor=factor, **kwargs)
    assert use_sample_ipm(program, NativeOptions())
    run = solve_native(program, NativeOptions())
    assert run.status == "optimal", run.message
    cert = certify(program, run.solution)
    assert cert.holds(1e-6), cert
    if loss == "logistic":
        ws = solve_native(program, WORKING_SET)
        assert certify(program, ws.solution).holds(1e-6)
        reference = program.objective(ws.solution)
    else:
        reference = solve(program, "clarabel", "high").objective
    assert abs(cert.objective - reference) <= 1e-6 * abs(reference), (cert.objective, reference)


@pytest.mark.parametrize("loss", ["squared", "hinge", "logistic"])
@pytest.mark.parametrize("factor", [0.2, 0.01])
def test_same_active_groups_as_the_working_set(loss, factor):
    """Groups the dual proves inactive are exactly zero (an interior point alone leaves them
    at the barrier's size): the active groups are those of the working set's optimum."""
    program = _program(3, loss, n=120, P=60, factor=factor)
    ipm = solve_native(program, NativeOptions())
    ws = solve_native(program, WORKING_SET)
    assert ipm.status == ws.status == "optimal"
    norms_ipm = program.group_norms(ipm.solution)
    norms_ws = program.group_norms(ws.solution)
    assert 0 < np.count_nonzero(norms_ipm) < program.n_groups or factor < 0.1
    # the working set's optimum is itself accurate to its tolerance only: a group the dual
    # proves inactive can stay there at ~1e-4 of the largest norm (seed 3, 0.01 squared:
    # 7.5e-5 since f4c224e, objectives equal to 6e-9), so its support is read at 1e-3
    active_ws = norms_ws > 1e-3 * norms_ws.max()
    # every group the working set clearly uses is active here, and the groups it leaves at
    # zero or near it are at most at that level here too
    assert np.all(norms_ipm[active_ws] > 0)
    assert np.all(norms_ipm[~active_ws] <= 1e-3 * norms_ipm.max()), norms_ipm[~active_ws]
    f_ipm, f_ws = program.objective(ipm.solution), program.objective(ws.solution)
    assert abs(f_ipm - f_ws) <= 1e-6 * f_ws


@pytest.mark.parametrize("loss", ["hinge", "logistic"])
def test_real_data_matches_clarabel(loss):
    """uci:credit-approval (bundled), P = 40 at 1e-2 of lambda_max."""
    from convexbench.data import load_dataset

    ds = load_dataset("uci:credit-approval", seed=0, allow_download=False)
    y = np.where(ds.y_train == np.unique(ds.y_train)[0], -1.0, 1.0)
    beta = 1e-2 * float(np.abs(ds.X_train.T @ y).max())
    program = make_program("gated2", ds.X_train, y, beta, loss=loss, patterns=40, seed=0)
    run = solve_native(program, NativeOptions())
    assert run.status == "optimal"
    cert = certify(program, run.solution)
    assert cert.holds(1e-6), cert
    ref = solve(program, "clarabel", "high")
    assert abs(cert.objective - ref.objective) <= 1e-6 * ref.objective


def test_time_limit_returns_the_best_point_so_far():
    program = _program(5, "squared", n=1500, d=20, P=200, factor=1e-3)
    start = time.perf_counter()
    res = solve_sample_ipm(program, 1e-9, Deadline.after(0.05, start), max_iter=100)
    elapsed = time.perf_counter() - start
    assert res.status == "time_limit"
    assert elapsed < 5.0
    assert np.all(np.isfinite(res.U)) and res.U.shape == (program.n_groups, program.d)


def test_only_small_gated_programs_with_these_losses():
    assert not use_sample_ipm(_program(1, "squared", n=50), NativeOptions(sample_ipm_max_n=40))
    assert not use_sample_ipm(_program(1, "hinge"), NativeOptions(sample_ipm_losses=("squared",)))
    assert use_sample_ipm(_program(1, "hinge", n=50), NativeOptions(sample_ipm_max_n=40))
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 3)), rng.standard_normal(40)
    relu2 = make_program("relu2", X, y, 0.1, patterns=10, seed=0)
    assert not use_sample_ipm(relu2, NativeOptions())


def test_the_working_set_hands_dense_optima_over(monkeypatch):
    """Sparse optimum: the working set finishes alone; dense optimum (small beta): its first
    pricing finds most columns violating and the sample-space method takes over.  Both
    answers certified."""
    from convexbench.native import api

    calls: list[int] = []
    original = api.solve_gated_in_sample_space

    def spy(program, opts):
        calls.append(program.n)
        return original(program, opts)

    monkeypatch.setattr(api, "solve_gated_in_sample_space", spy)
    for factor, handed_over in ((0.5, False), (1e-3, True)):
        calls.clear()
        program = _program(11, "squared", n=300, d=4, P=80, factor=factor)
        assert 20 * program.d <= program.n  # the working set is tried first
        run = solve_native(program, NativeOptions())
        assert run.status == "optimal"
        assert bool(calls) == handed_over, (factor, run.n_columns)
        assert certify(program, run.solution).holds(1e-6)

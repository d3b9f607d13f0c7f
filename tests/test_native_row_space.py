"""Programs with more features than samples are solved in the row space of their data
(``native/row_space.py``): the same certified optimum, in rank X dimensions instead of d."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convexbench.bench.native import build, real
from convexbench.certificates import certify
from convexbench.errors import UnavailableError
from convexbench.native import NativeOptions, api, solve_native
from convexbench.native.row_space import row_space
from convexbench.programs import make_program
from convexbench.programs.base import DUAL_HINT


def _wide_program(model: str, seed: int, factor: float, n: int = 12, d: int = 30,
                  rank: int = 8, loss: str = "squared"):
    """n samples in d features of the given rank (X = Z F, Z the n x rank latent factors),
    targets a ReLU teacher of the factors (hinge: its signs about the median)."""
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, rank))
    X = Z @ rng.standard_normal((rank, d)) / np.sqrt(rank)
    teacher = np.maximum(Z @ rng.standard_normal((rank, 4)), 0.0).sum(axis=1)
    y = teacher - teacher.mean() + 0.1 * rng.standard_normal(n)
    labels = np.where(y >= np.median(y), 1.0, -1.0)
    target = y if loss == "squared" else labels
    beta = factor * float(np.abs(X.T @ target).max())
    return make_program(model, X, target, beta, patterns=10, seed=seed + 1, loss=loss)


def test_row_space_only_for_wide_data_and_of_the_datas_rank():
    narrow = _wide_program("relu2", 0, 0.1, n=40, d=10, rank=6)
    assert row_space(narrow) is None  # d <= n: left as it is, even of rank below d
    wide = _wide_program("relu2", 0, 0.1, n=12, d=30, rank=8)
    space = row_space(wide)
    assert space is not None and space.basis.shape == (30, 8)
    Q = space.basis
    np.testing.assert_allclose(Q.T @ Q, np.eye(8), atol=1e-12)
    # X is unchanged by the projection onto its row space
    np.testing.assert_allclose(wide.X @ Q @ Q.T, wide.X, atol=1e-12)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), model=st.sampled_from(["relu2", "gated2", "relu3"]),
       factor=st.sampled_from([0.3, 0.01, 0.001]), shape=st.sampled_from([(12, 30, 5),
       (12, 30, 12)]),
       loss=st.sampled_from(["squared", "hinge"]))
def test_row_space_solve_reaches_the_certified_optimum_of_the_program(seed, model, factor,
                                                                      shape, loss):
    n, d, rank = shape  # wide data, of rank n or below
    program = _wide_program(model, seed, factor, n=n, d=d, rank=rank, loss=loss)
    reduced = solve_native(program)
    full = api._solve(program, NativeOptions(), None, "working_set")  # in all d features
    assert reduced.status == "optimal", reduced.message
    cert, ref = certify(program, reduced.solution), certify(program, full.solution)
    assert cert.holds(1e-6), (cert.relative_gap, cert.relative_violation)
    assert abs(cert.objective - ref.objective) <= 2e-6 * ref.objective
    # the blocks come back in d features, inside the row space of X
    space = row_space(program)
    for name, block in reduced.solution.items():
        if name != DUAL_HINT:
            np.testing.assert_allclose(block @ space.basis @ space.basis.T, block,
                                       atol=1e-9 * max(1.0, float(np.abs(block).max())))


def test_row_space_is_skipped_when_its_svd_would_take_much_of_the_time_limit():
    program = _wide_program("relu2", 0, 0.1, n=12, d=30, rank=8)
    assert row_space(program, time_limit=60.0) is not None
    assert row_space(program, time_limit=1e-7) is None  # 12 x 12 x 30 flops at 1e9 / s


def test_row_space_warm_start_and_time_limit():
    program = _wide_program("relu2", 3, 0.01)
    first = solve_native(program)
    warm = solve_native(program, warm_start=first.solution)
    assert warm.status == "optimal"
    assert abs(program.objective(warm.solution) - program.objective(first.solution)) <= (
        2e-6 * program.objective(first.solution))
    limited = solve_native(program, NativeOptions(time_limit=0.0))
    assert limited.status == "time_limit"
    assert certify(program, limited.solution).relative_violation <= 1e-12  # feasible


def test_wide_real_data_is_solved_in_its_row_space(monkeypatch):
    """uci:trains (n = 8, d = 29, rank 7): the program handed to the solver has 7 features."""
    try:
        program, _ = build(real("uci:trains", "relu2"))
    except UnavailableError as exc:
        pytest.skip(str(exc))
    seen = []
    original = api._solve

    def spy(prog, *args):
        seen.append(prog.d)
        return original(prog, *args)

    monkeypatch.setattr(api, "_solve", spy)
    run = solve_native(program)
    assert seen == [7]
    assert run.status == "optimal"
    assert certify(program, run.solution).holds(1e-6)

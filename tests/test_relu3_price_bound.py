"""The relu3 price bound (``Relu3Program.dual_pricing``): a proof, and tight at every scale.

The price of an atom is the value of a small SOCP; the program bounds it from above by weak
duality with polished multipliers.  Here the true prices come from an independent route
(the SOCP on the original cone rows, written in cvxpy and solved by Clarabel at 1e-12 on data
divided by its size: the price is homogeneous in X and in the direction), and the bound must
be >= them (a proof, whatever the multipliers) and within 1e-6 of them (tight) at scales
1e-3 .. 1e3 of X and of y, with tolerances relative to the price or to the atom's cone-free
bound ||X^T D lam|| (never an absolute floor).
"""

from __future__ import annotations

import copy
import functools
import warnings

import cvxpy as cp
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from convexbench.arrays import lambda_max
from convexbench.certificates import certify, default_dual_direction
from convexbench.data.synthetic import planted_data
from convexbench.errors import UserError
from convexbench.programs import make_program, relu3
from convexbench.programs.base import DUAL_HINT

SCALES = (1e-3, 1.0, 1e3)


def _socp_price(program, lam: np.ndarray, g: int, sign: float) -> float:
    """max sign lam^T D2 sum_j D1j X q_j over the atom's cone and sum_j ||q_j|| <= 1, by
    cvxpy on the original rows, at unit size (then scaled back)."""
    size_x, size_lam = float(np.abs(program.X).max()), float(np.abs(lam).max())
    X, lam = program.X / size_x, lam / size_lam
    Q = cp.Variable((program.d, program.m1))
    XQ = X @ Q
    inner = cp.sum(cp.multiply(program.first[:, g, :], XQ), axis=1)
    problem = cp.Problem(
        cp.Maximize((sign * program.second[:, g] * lam) @ inner),
        [cp.multiply(program.first_signs[:, g, :], XQ) >= 0,
         cp.multiply(2 * program.second[:, g] - 1, inner) >= 0,
         cp.sum(cp.norm(Q, 2, axis=0)) <= 1],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        problem.solve(solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    return float(problem.value) * size_x * size_lam


def _cheap(program, lam: np.ndarray, g: int) -> float:
    """The cone-free bound max_j ||X^T D1j D2 lam||: the scale of the atom's price."""
    weights = program.first[:, g, :] * (program.second[:, g] * lam)[:, None]
    return float(np.linalg.norm(weights.T @ program.X, axis=1).max())


def _program(seed: int, m1: int, a: float = 1.0, c: float = 1.0):
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(8, 20)), int(rng.integers(2, 4))
    X, y = rng.standard_normal((n, d)), rng.standard_normal(n)
    return make_program("relu3", a * X, c * y, a * c * 0.1, patterns=6, m1=m1, seed=seed), rng


def _check_bounds(program, lam: np.ndarray) -> None:
    items = [(g, s) for g in range(program.n_groups) for s in (1.0, -1.0)]
    bounds = program._exact_prices(lam, items)
    # a price is >= 0 (q = 0 is feasible); the reference's value of a zero price can be a
    # rounding error below it (-2.7e-19 at seed=160, m1=1, a=c=1e-3)
    truth = np.maximum([_socp_price(program, lam, g, s) for g, s in items], 0.0)
    cheap = np.array([_cheap(program, lam, g) for g, _ in items])
    # a proof: never below the price (the reference's own accuracy aside)
    np.testing.assert_array_less(truth - 1e-9 * np.abs(truth) - 1e-11 * cheap, bounds)
    # tight: within 1e-6 of the price, up to 1e-10 of the atom's scale (a zero price)
    np.testing.assert_array_less(bounds, truth * (1 + 1e-6) + 1e-10 * cheap)
    price = program.dual_pricing(lam)
    assert truth.max() * (1 - 1e-9) <= price <= truth.max() * (1 + 1e-6)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), m1=st.integers(1, 3), a=st.sampled_from(SCALES),
       c=st.sampled_from(SCALES))
def test_price_bound_is_tight_and_a_proof_at_every_scale(seed, m1, a, c):
    try:
        program, rng = _program(seed, m1, a, c)
    except UserError:  # every sampled atom empty (0.5% of the draws): no program to price
        assume(False)
    _check_bounds(program, c * rng.standard_normal(program.n))


@pytest.mark.parametrize("a", SCALES)
@pytest.mark.parametrize("c", SCALES)
def test_price_bound_at_an_optimum_is_tight(a, c):
    """The residual at an optimum: many atoms price at beta, ties the bound must resolve."""
    program, _ = _program(3, 2, a, c)
    built = program.build_cvxpy()
    built.problem.solve(solver="CLARABEL", tol_gap_abs=1e-10, tol_gap_rel=1e-10,
                        tol_feas=1e-10)
    solution = program.solution_from_cvxpy(built)
    _check_bounds(program, default_dual_direction(program, program.predict(solution)))


@pytest.mark.parametrize("kind", ["random", "zero", "huge", "failed", "nan"])
def test_price_bound_is_a_proof_whatever_the_solver_returns(monkeypatch, kind):
    """Weak duality holds for any multipliers mu >= 0: garbage from the SOCP solver can
    loosen the bound, never make it invalid."""
    program, rng = _program(7, 2)
    lam = rng.standard_normal(program.n)
    truth = {(g, s): _socp_price(program, lam, g, s)
             for g in range(program.n_groups) for s in (1.0, -1.0)}

    def garbage(G, rows1, rows2, tol=relu3.PRICE_TOL):
        if kind == "failed":
            return 0.0, None, None
        scale = {"random": 1.0, "zero": 0.0, "huge": 1e8, "nan": 1.0}[kind]
        mu1 = [scale * np.abs(rng.standard_normal(len(r))) for r in rows1]
        mu2 = scale * np.abs(rng.standard_normal(len(rows2)))
        primal = float(rng.uniform(0, 2) * np.linalg.norm(G, axis=1).max())
        return (np.nan if kind == "nan" else primal), mu1, mu2

    monkeypatch.setattr(relu3, "_pricing_socp", garbage)
    items = list(truth)
    bounds = program._exact_prices(lam, items)
    for item, bound in zip(items, bounds, strict=True):
        assert bound >= truth[item] * (1 - 1e-9) - 1e-11 * _cheap(program, lam, item[0])
    assert program.dual_pricing(lam) >= max(truth.values()) * (1 - 1e-9)


@functools.cache
def _reference():
    """A relu3 program whose optimum has many atoms at price beta (small beta), solved by
    Clarabel at 1e-10: at the old batched pricing its certificate was loose by 6e-7."""
    X, y = planted_data(60, 3, 1, hidden=4, bias=True)
    out = {}
    for frac in (1e-3, 1e-2, 1e-1):
        program = make_program("relu3", X, y, frac * lambda_max(X, y), patterns=20, m1=2,
                               seed=0)
        built = program.build_cvxpy()
        built.problem.solve(solver="CLARABEL", tol_gap_abs=1e-10, tol_gap_rel=1e-10,
                            tol_feas=1e-10)
        out[frac] = (program, program.solution_from_cvxpy(built))
    return out


@pytest.mark.parametrize("frac", [1e-3, 1e-2, 1e-1])
@pytest.mark.parametrize("a,c", [(1.0, 1.0), (1e-3, 1e3), (1e3, 1e-3)])
def test_accurate_solution_certifies_tightly_at_every_beta(frac, a, c):
    program, solution = _reference()[frac]
    moved = copy.copy(program)
    moved.X, moved.y, moved.beta = a * program.X, c * program.y, a * c * program.beta
    cert = certify(moved, {k: v * (c if k == DUAL_HINT else c / a) for k, v in solution.items()})
    assert cert.holds(1e-6), cert
    assert 0 <= cert.relative_gap <= 1e-8, cert

"""Exact pricing of the native solver against independent formulations."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import nnls

from convexbench.native.pricing import halfspace_bounds
from convexbench.programs.cones import atom_price, cone_price, cone_support


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 100_000), n=st.integers(5, 80), d=st.integers(2, 6))
def test_cone_price_matches_full_nnls_and_bounds_hold(seed, n, d):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    signs = np.where(X @ rng.standard_normal(d) >= 0, 1.0, -1.0)
    A = signs[:, None] * X
    g = rng.standard_normal(d)
    price, u, rows, mu = cone_price(g, A)
    full = nnls(A.T, -g, maxiter=50 * n)[1]  # the projection with every row at once
    assert abs(price - full) <= 1e-8 * max(1.0, np.linalg.norm(g))
    assert cone_support(g, A) == price
    assert np.all(A @ u >= -1e-9 * max(1.0, np.linalg.norm(g)))  # u lies in the cone
    assert np.all(mu >= 0)
    bound = halfspace_bounds(np.array([np.linalg.norm(g)]), (A @ g)[:, None],
                             np.linalg.norm(A, axis=1))[0]
    assert price <= bound + 1e-9 and bound <= np.linalg.norm(g) + 1e-12


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 100_000), scale_g=st.sampled_from([1e-6, 1.0, 1e6]),
       scale_a=st.sampled_from([1e-6, 1.0, 1e6]))
def test_cone_price_is_scale_free(seed, scale_g, scale_a):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((30, 3))
    A = np.where(X @ rng.standard_normal(3) >= 0, 1.0, -1.0)[:, None] * X
    g = rng.standard_normal(3)
    price, u, _, _ = cone_price(g, A)
    scaled, u_s, _, _ = cone_price(scale_g * g, scale_a * A)
    size = scale_g * np.linalg.norm(g)  # errors relative to ||g||: the price may be ~0
    assert scaled == pytest.approx(scale_g * price, rel=1e-9, abs=1e-12 * size)
    np.testing.assert_allclose(u_s, scale_g * u, rtol=1e-8, atol=1e-12 * size)


def test_atom_price_matches_cvxpy():
    rng = np.random.default_rng(3)
    n, d, m = 40, 3, 2
    X = rng.standard_normal((n, d))
    U = rng.standard_normal((d, m))
    first = (X @ U >= 0).astype(float)  # (n, m)
    s = np.array([1.0, -1.0])
    second = (np.maximum(X @ U, 0) @ s >= 0).astype(float)
    rows = np.zeros((m + 1, n, m, d))
    for j in range(m):
        rows[j, :, j, :] = (s[j] * (2 * first[:, j] - 1))[:, None] * X
        rows[m, :, j, :] = ((2 * second - 1) * first[:, j])[:, None] * X
    rows = rows.reshape((m + 1) * n, m * d)
    g = rng.standard_normal((m, d))
    price, q, mu = atom_price(g, rows)
    Q = cp.Variable((m, d))
    prob = cp.Problem(cp.Maximize(cp.sum(cp.multiply(g, Q))),
                      [cp.sum(cp.norm(Q, 2, axis=1)) <= 1, rows @ cp.reshape(Q, (m * d,),
                                                                             order="C") >= 0])
    prob.solve(solver="CLARABEL")
    assert abs(price - prob.value) <= 1e-7 * max(1.0, abs(prob.value))
    # the multipliers give a valid Lagrangian upper bound
    shifted = g + (rows.T @ mu).reshape(m, d)
    assert np.linalg.norm(shifted, axis=1).max() >= price - 1e-7

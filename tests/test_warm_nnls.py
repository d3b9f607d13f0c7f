"""The warm-started NNLS (``programs.cones.nnls_warm``) and relu2's price lower bounds
(``TwoLayerFamily.lower_prices``) against independent computations."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import nnls

from convexbench.native.families import family_for
from convexbench.programs import cones, make_program


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 100_000), r=st.integers(1, 70), d=st.integers(1, 25),
       scale=st.sampled_from([1e-6, 1.0, 1e6]), warm=st.floats(0.0, 1.0),
       duplicates=st.booleans())
def test_nnls_warm_reaches_the_nnls_optimum(seed, r, d, scale, warm, duplicates):
    """Same residual as scipy's NNLS (to 1e-9 of ||c||), from any starting support,
    with dependent rows and at any scale of the data."""
    rng = np.random.default_rng(seed)
    B = rng.standard_normal((r, d))
    if duplicates:
        B = np.vstack([B, B[: max(1, r // 3)]])
    c = scale * rng.standard_normal(d)
    mu = cones.nnls_warm(B, c, rng.random(len(B)) < warm)
    assert mu is not None and np.all(mu >= 0)
    reference = nnls(B.T, c, maxiter=100 * len(B))[0]
    residual = np.linalg.norm(B.T @ mu - c)
    assert residual <= np.linalg.norm(B.T @ reference - c) + 1e-9 * np.linalg.norm(c)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 100_000), d=st.integers(5, 40), leave=st.integers(1, 12),
       scale=st.sampled_from([1e-6, 1.0, 1e6]))
def test_support_factor_stays_the_gram_factor_after_removals(seed, d, leave, scale):
    """After indices leave from anywhere in the support (a few: Givens downdates; more: a
    refactorization of the kept Gram block) and others join, L L^T is B_S B_S^T and the
    kept rows are B_S, to rounding."""
    rng = np.random.default_rng(seed)
    B = scale * rng.standard_normal((3 * d, d))
    support = cones._Support(B, rng.standard_normal(d), 1e-13 * scale**2)
    for j in range(d - 1):
        support.add(j)
    mask = np.ones(len(support.idx), dtype=bool)
    mask[rng.choice(len(mask), size=min(leave, len(mask) - 1), replace=False)] = False
    support.keep(mask)
    support.add(2 * d)
    Bs = B[support.idx]
    L = support.L
    assert np.allclose(L @ L.T, Bs @ Bs.T, rtol=0, atol=1e-10 * scale**2 * d)
    assert np.array_equal(support.rows, Bs)
    assert np.all(np.triu(L, 1) == 0)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 100_000), n=st.integers(20, 120), d=st.integers(2, 12))
def test_cone_price_on_the_warm_route_is_exact(seed, n, d):
    """cone_price with every NNLS on the warm route (the route of d >= WARM_NNLS_MIN_D),
    warm-started from the rows of an unrelated earlier pricing: the projection's norm is
    the full NNLS's and u lies in the cone."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    A = np.where(X @ rng.standard_normal(d) >= 0, 1.0, -1.0)[:, None] * X
    g = rng.standard_normal(d)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cones, "WARM_NNLS_MIN_D", 1)
        earlier = cones.cone_price(rng.standard_normal(d), A)[2]
        price, u, rows, mu = cones.cone_price(g, A, start_rows=2, warm=earlier)
    full = nnls(A.T, -g, maxiter=50 * n)[1]
    assert price == pytest.approx(full, rel=1e-9, abs=1e-12 * np.linalg.norm(g))
    assert np.all(A @ u >= -1e-10 * np.linalg.norm(g) * np.linalg.norm(A, axis=1))
    assert np.all(mu > 0)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 100_000), scale=st.sampled_from([1e-3, 1.0, 1e3]))
def test_relu2_lower_prices_are_reached_by_feasible_points(seed, scale):
    """Each finite lower bound is g^T z / ||z|| for a point z of the column's cone, so it is
    at most the exact price (the projection's norm); and some columns get one."""
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(20, 60)), int(rng.integers(2, 6))
    X = scale * rng.standard_normal((n, d))
    program = make_program("relu2", X, rng.standard_normal(n), 0.1, patterns=12, seed=seed)
    fam = family_for(program)
    _, grads = fam.cheap_prices(rng.standard_normal(n))
    lows, points = fam.lower_prices(grads)
    assert np.isfinite(lows).any()
    for c in np.flatnonzero(np.isfinite(lows)):
        p, sign = c % fam.P, (1.0 if c < fam.P else -1.0)
        K = (2.0 * program.masks[:, p] - 1.0)[:, None] * program.X
        g, z = sign * grads[p], points[c]
        assert np.all(K @ z >= -1e-12 * np.linalg.norm(z) * np.linalg.norm(K, axis=1))
        assert lows[c] == pytest.approx(g @ z / np.linalg.norm(z), rel=1e-12)
        exact = cones.cone_price(g, K)[0]
        assert lows[c] <= exact * (1 + 1e-10) + 1e-12 * np.linalg.norm(g)


def test_lower_prices_need_generating_directions():
    """Without directions (patterns given directly) there is no lower bound."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((30, 3)), rng.standard_normal(30)
    program = make_program("relu2", X, y, 0.1, patterns=8)
    bare = type(program)(X, y, program.patterns, 0.1)
    assert family_for(bare).lower_prices(np.ones((bare.n_groups, 3))) is None
    assert family_for(program).lower_prices(np.ones((program.n_groups, 3))) is not None


def test_lower_prices_ignore_directions_outside_their_cones():
    """A direction that does not generate its pattern gives no bound (z = g + t u would not
    be in the cone), never a bound above the price."""
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((40, 3)), rng.standard_normal(40)
    program = make_program("relu2", X, y, 0.1, patterns=10, seed=3)
    wrong = type(program)(X, y, program.patterns, 0.1,
                          directions=-program.directions)  # generates the complements
    fam = family_for(wrong)
    _, grads = fam.cheap_prices(rng.standard_normal(40))
    lows, _ = fam.lower_prices(grads)
    assert np.all(np.isneginf(lows))


class _Interrupted(Exception):
    pass


def test_cone_price_is_interrupted_by_its_check():
    """A pricing NNLS calls ``check`` between its steps (the native solver passes its
    deadline's): a check that raises after a few calls stops it, and one that does not
    leaves the price unchanged."""
    rng = np.random.default_rng(5)
    d = cones.WARM_NNLS_MIN_D + 10
    A = rng.standard_normal((3 * d, d))
    A[:, 0] = np.abs(A[:, 0]) + 3.0  # e_1 inside every halfspace: a cone wider than {0}
    g = rng.standard_normal(d)
    calls = []
    price, u, _, _ = cones.cone_price(g, A, check=lambda: calls.append(1))
    assert len(calls) > 10  # one call per NNLS step and per row-generation round
    assert price == pytest.approx(cones.cone_price(g, A)[0], rel=1e-12)
    assert 0 < price < np.linalg.norm(g)  # g outside the cone, the cone not {0}
    assert float((A @ u).min()) >= -1e-9 * float(np.linalg.norm(u))

    def stop_after_three() -> None:
        calls.append(1)
        if len(calls) > 3:
            raise _Interrupted

    calls.clear()
    with pytest.raises(_Interrupted):
        cones.cone_price(g, A, check=stop_after_three)
    assert len(calls) == 4

"""Column generation's pattern search (programs/pricing.py): what it returns really violates."""

import numpy as np
import pytest

from convexbench.programs.cones import cone_support
from convexbench.programs.pricing import violating_patterns


def _exact_price(X, lam, pattern):
    g = X.T @ (pattern * lam)
    rows = (2.0 * pattern - 1.0)[:, None] * X
    return max(cone_support(g, rows), cone_support(-g, rows))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3])
def test_returned_patterns_violate_and_prices_are_lower_bounds(seed, scale):
    rng = np.random.default_rng(seed)
    n, d = 40, 4
    X = scale * rng.standard_normal((n, d))
    lam = rng.standard_normal(n)
    known = np.zeros((0, n), dtype=bool)
    # beta between the smallest and largest cone-free bound, so some candidates fail
    beta = 0.3 * np.linalg.norm(X.T @ lam)
    patterns, directions, prices = violating_patterns(X, lam, beta, known, max_new=30, seed=seed)
    assert len(patterns) > 0
    assert np.all(prices > beta)
    for pattern, u, price in zip(patterns, directions, prices, strict=True):
        np.testing.assert_array_equal(pattern, X @ u >= 0)  # the direction realizes it
        exact = _exact_price(X, lam, pattern.astype(float))
        assert exact > beta
        assert price <= exact * (1 + 1e-9)


def test_known_patterns_are_never_returned_and_max_new_holds():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((30, 3))
    lam = rng.standard_normal(30)
    beta = 0.1 * np.linalg.norm(X.T @ lam)
    first, _, _ = violating_patterns(X, lam, beta, np.zeros((0, 30), bool), max_new=5)
    assert len(first) == 5
    again, _, _ = violating_patterns(X, lam, beta, first, max_new=5)
    assert not ({p.tobytes() for p in first} & {p.tobytes() for p in again})


def test_the_choice_is_that_of_exact_pricing_of_every_candidate():
    """The lower-bound shortcut changes the cost, not the patterns chosen."""
    from convexbench.programs import pricing

    rng = np.random.default_rng(11)
    X = rng.standard_normal((40, 4))
    lam = rng.standard_normal(40)
    beta = 0.35 * np.linalg.norm(X.T @ lam)
    known = np.zeros((0, 40), bool)
    chosen, _, _ = violating_patterns(X, lam, beta, known, max_new=25, seed=3)
    candidates, _ = pricing.search_patterns(X, lam, seed=3)
    G = candidates.astype(float) * lam[None, :] @ X
    cheap = np.linalg.norm(G, axis=1)
    expected = []
    for i in np.argsort(-cheap):
        if cheap[i] <= beta or len(expected) >= 25:
            break
        if _exact_price(X, lam, candidates[i].astype(float)) > beta * (1 + 1e-6):
            expected.append(candidates[i])
    assert len(expected) > 0
    np.testing.assert_array_equal(chosen, np.array(expected))

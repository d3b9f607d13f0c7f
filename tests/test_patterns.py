"""Sign patterns: sampling, exact enumeration and Cover's count (MATH.md claim 3)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convexbench.errors import UserError
from convexbench.patterns import (
    cover_count,
    enumerate_patterns,
    sample_patterns,
    unique_patterns,
)


def general_position(n: int, r: int, d: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, r)) @ rng.standard_normal((r, d))


def test_cover_count_values():
    assert cover_count(10, 1) == 2
    assert cover_count(10, 2) == 20
    assert cover_count(5, 3) == 2 * (1 + 4 + 6)
    assert cover_count(4, 10) == 2**4  # r >= n: every sign vector
    assert cover_count(200, 3) == 2 * (1 + 199 + math.comb(199, 2))


@pytest.mark.parametrize("r", [1, 2, 3])
@pytest.mark.parametrize("n", [3, 17, 60, 200])
def test_exact_enumeration_matches_cover(n, r):
    X = general_position(n, r, d=r + 3, seed=n * 10 + r)
    arrangement = enumerate_patterns(X)
    assert arrangement.rank == r
    assert arrangement.n_patterns == cover_count(n, r)
    # every pattern is realized by its recorded direction, and all are distinct
    assert np.array_equal((X @ arrangement.directions.T >= 0).T, arrangement.patterns)
    assert len(unique_patterns(arrangement.patterns)) == arrangement.n_patterns


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 40), r=st.integers(1, 4), seed=st.integers(0, 10_000))
def test_exact_enumeration_property(n, r, seed):
    X = general_position(n, r, d=5, seed=seed)
    arrangement = enumerate_patterns(X)
    assert arrangement.n_patterns == cover_count(n, min(r, n))


def test_sampling_finds_only_real_patterns_and_saturates():
    X = general_position(30, 2, d=4, seed=3)
    exact = {p.tobytes() for p in enumerate_patterns(X).patterns}
    sampled = sample_patterns(X, 5000, seed=1, drop_zero=False)
    assert {p.tobytes() for p in sampled} <= exact
    assert len(sampled) == len(exact)  # 5000 draws find all 60 cells in rank 2
    again = sample_patterns(X, 5000, seed=1, drop_zero=False)
    assert np.array_equal(sampled, again)


def test_sampling_drops_zero_pattern():
    X = general_position(20, 2, d=3, seed=0)
    patterns = sample_patterns(X, 2000, seed=0, drop_zero=True)
    assert patterns.any(axis=1).all()


def test_degenerate_data_rank_two_with_repeated_rows():
    X = general_position(10, 2, d=3, seed=5)
    X = np.vstack([X, X[:4], np.zeros((1, 3))])
    arrangement = enumerate_patterns(X)
    sampled = sample_patterns(X, 20_000, seed=0, drop_zero=False)
    assert {p.tobytes() for p in sampled} <= {p.tobytes() for p in arrangement.patterns}
    assert arrangement.n_patterns == 20  # repeated rows and a zero row add no cells


def test_enumeration_refuses_over_limit():
    X = general_position(100, 4, d=6, seed=0)
    with pytest.raises(UserError, match="limit"):
        enumerate_patterns(X, limit=1000)

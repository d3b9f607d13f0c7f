"""The gated Newton method's single-precision Gram matrix (``native/mixed.py``): its products
are exact (float64, not float32), its refined solves are as accurate as a float64 Cholesky
solve, the Newton method on it reaches the float64 optimum, and it holds about half the
memory of the float64 Gram matrix."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convexbench.native import NativeOptions, solve_native
from convexbench.native.dense_gram import PackedGram
from convexbench.native.families import family_for
from convexbench.native.mixed import MixedGram, conjugate_gradients, mixed_gram
from convexbench.native.newton import kkt_error, solve_newton
from convexbench.programs import make_program


def _data(seed: int, n: int, k: int, d: int, weighted: bool):
    """X, the (n, k) row weights of k gated columns (signed masks, times sqrt(w)), the exact
    float64 A (n, k d) and its MixedGram."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    coef = (rng.uniform(size=(n, k)) < 0.6) * rng.choice([-1.0, 1.0], size=k)
    if weighted:
        coef = coef * np.sqrt(rng.uniform(0.01, 0.25, size=n))[:, None]
    A = (coef[:, :, None] * X[:, None, :]).reshape(n, k * d)
    packed = PackedGram.empty(k * d, np.float32)
    packed.add_rank_update(A)
    packed.finish()
    return X, coef, A, MixedGram(X, coef, packed)


@given(seed=st.integers(0, 10_000), k=st.integers(1, 9), d=st.integers(1, 5),
       weighted=st.booleans())
@settings(max_examples=30, deadline=None)
def test_products_are_exact_in_double_precision(seed, k, d, weighted):
    n = 3 * k * d + 5
    X, coef, A, gram = _data(seed, n, k, d, weighted)
    H = A.T @ A
    scale = float(np.abs(H).max())
    v = np.random.default_rng(seed + 1).standard_normal(k * d)
    # float32 products would be off by ~1e-7 of the scale: these must agree to 1e-12
    assert np.abs(gram.matvec(v) - H @ v).max() <= 1e-12 * scale * np.abs(v).sum()
    blocks = gram.diag_blocks(d)
    for c in range(k):
        assert np.abs(blocks[c] - H[c * d:(c + 1) * d, c * d:(c + 1) * d]).max() \
            <= 1e-12 * scale
    assert np.abs(gram.diag - np.diag(H)).max() <= 1e-12 * scale


@given(seed=st.integers(0, 10_000), k=st.integers(1, 9), d=st.integers(1, 5),
       ridge=st.sampled_from([0.0, 0.3]), weighted=st.booleans())
@settings(max_examples=30, deadline=None)
def test_refined_solves_are_double_precision_accurate(seed, k, d, ridge, weighted):
    n = 3 * k * d + 5
    X, coef, A, gram = _data(seed, n, k, d, weighted)
    rng = np.random.default_rng(seed + 2)
    groups = np.flatnonzero(rng.uniform(size=k) < 0.7)
    if len(groups) == 0:
        groups = np.array([0])
    idx = (groups[:, None] * d + np.arange(d)).ravel()
    R = rng.standard_normal((len(groups), d, d))
    blocks = 0.1 * R @ R.transpose(0, 2, 1)
    rhs = rng.standard_normal(len(idx))
    x = gram.solve_principal(idx, blocks, rhs, ridge)
    assert x is not None
    M = (A.T @ A)[np.ix_(idx, idx)] + ridge * np.eye(len(idx))
    for j in range(len(groups)):
        M[j * d:(j + 1) * d, j * d:(j + 1) * d] += blocks[j]
    # a float32 Cholesky solve alone leaves ~1e-7 relative residuals; refined: <= 1e-8
    assert np.linalg.norm(M @ x - rhs) <= 1e-8 * np.linalg.norm(rhs)


def test_conjugate_gradients_refuses_what_it_cannot_solve():
    b = np.array([1.0, 2.0])
    ident = lambda v: v.copy()  # noqa: E731
    x = conjugate_gradients(lambda v: np.array([2.0, 3.0]) * v, ident, b)
    np.testing.assert_allclose(x, [0.5, 2.0 / 3.0], rtol=1e-14)
    assert conjugate_gradients(lambda v: np.array([1.0, -1.0]) * v, ident, b) is None
    assert conjugate_gradients(lambda v: 0.0 * v, ident, b) is None
    np.testing.assert_array_equal(conjugate_gradients(ident, ident, 0 * b), [0.0, 0.0])


@given(seed=st.integers(0, 10_000), k=st.integers(1, 12), d=st.integers(1, 5),
       strength=st.floats(0.05, 0.9), weighted=st.booleans())
@settings(max_examples=30, deadline=None)
def test_newton_on_the_mixed_gram_reaches_the_double_precision_optimum(seed, k, d, strength,
                                                                       weighted):
    n = k * d + 10
    X, coef, A, gram = _data(seed, n, k, d, weighted)
    y = np.random.default_rng(seed + 3).standard_normal(n)
    b = A.T @ y
    beta = strength * float(np.linalg.norm(b.reshape(k, d), axis=1).max())
    exact = PackedGram.empty(k * d)
    exact.add_rank_update(A)
    exact.finish()
    res = solve_newton(gram, b, beta, d, None, tol=1e-10)
    ref = solve_newton(exact, b, beta, d, None, tol=1e-10)
    assert res.status == "Solved" and ref.status == "Solved"
    assert max(kkt_error(exact, b, beta, d, res.x)) <= 1e-10

    def f(x):
        z = A @ x.ravel()
        return 0.5 * float(z @ z) - float(b @ x.ravel()) + beta * float(
            np.linalg.norm(x, axis=1).sum())

    assert abs(f(res.x) - f(ref.x)) <= 1e-9 * max(1.0, abs(f(ref.x)))


def _gated(seed: int, n: int, d: int, P: int, loss: str = "squared"):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = np.maximum(X @ rng.standard_normal((d, 6)), 0) @ rng.standard_normal(6)
    if loss != "squared":
        y = np.where(y > np.median(y), 1.0, -1.0)
    return make_program("gated2", X, y, 0.1 * float(np.abs(X.T @ y).max()), patterns=P,
                        seed=seed, loss=loss)


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_working_set_gives_the_same_optimum_in_mixed_and_double_precision(loss):
    program = _gated(4, 150, 6, 60, loss)
    runs = [solve_native(program, NativeOptions(mixed_precision=flag, sample_ipm_losses=()))
            for flag in (True, False)]
    assert all(r.status == "optimal" for r in runs), [r.message for r in runs]
    objs = [program.objective(r.solution) for r in runs]
    assert abs(objs[0] - objs[1]) <= 1e-7 * abs(objs[1]), objs


def test_mixed_gram_holds_half_the_memory_of_the_double_one():
    """Building the Gram matrix of a 600 wide gated working set and solving its restricted
    program: H is one float32 N x N array (half of the float64 one, 8 N^2 bytes = 2.9 MB),
    and everything else the method allocates (traced by tracemalloc; the N x N array lives in
    pages of its own and is not traced) stays below a third of 8 N^2: no float64 copy of H
    or of many of its columns."""
    program = _gated(5, 400, 20, 40)
    fam = family_for(program)
    cols = np.arange(30)
    N = len(cols) * fam.d
    tracemalloc.start()
    try:
        gram, b = mixed_gram(fam, cols, program.y)
        res = solve_newton(gram, b, program.beta, fam.d, None, tol=1e-10)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert res.ok
    assert gram.packed.store.dtype == np.float32 and gram.packed.store.nbytes == 4 * N * N
    assert peak <= 8 * N * N / 3, peak / (8 * N * N)


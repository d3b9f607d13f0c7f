"""The warm-started active-set Newton method for the cone-free (gated) restricted program:
its Gram views, its answers against the interior-point method, cold and warm started, for
both Gram representations, and its failures (which send the caller to the interior-point
method)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convexbench.native import NativeOptions, newton, solve_native
from convexbench.native.dense_gram import LowRankGram, PackedGram
from convexbench.native.ipm import solve_ipm
from convexbench.native.newton import kkt_error, solve_newton
from convexbench.native.reduced import ReducedResult
from convexbench.programs import make_program

TOL = 1e-10


def _blocks(seed: int, n: int, k: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Prediction blocks (k, n, d) of gated-ReLU-like columns (rows masked at random) and y."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((k, n, d)) * (rng.uniform(size=(k, n, 1)) < 0.6)
    return A, rng.standard_normal(n)


def _gram(A: np.ndarray, kind: str):
    k, n, d = A.shape
    if kind == "lowrank":
        return LowRankGram(A.copy())
    flat = A.transpose(1, 0, 2).reshape(n, k * d)
    gram = PackedGram.empty(k * d)
    for lo in range(0, n, 7):
        gram.add_rank_update(flat[lo:lo + 7])
    gram.finish()
    return gram


def _problem(seed: int, n: int, k: int, d: int, kind: str, strength: float):
    A, y = _blocks(seed, n, k, d)
    flat = A.transpose(1, 0, 2).reshape(n, k * d)
    b = flat.T @ y
    beta = strength * float(np.linalg.norm(b.reshape(k, d), axis=1).max())
    return A, flat, b, beta, y


def _objective(flat, b, beta, d, x):
    """1/2 x^T H x - b^T x + beta sum ||x_g|| (the restricted program's own form)."""
    x = x.ravel()
    z = flat @ x
    return 0.5 * float(z @ z) - float(b @ x) + beta * float(np.linalg.norm(x.reshape(-1, d),
                                                                           axis=1).sum())


def _certified_gap(flat, y, beta, d, x):
    """P(x) - D(lam) >= f(x) - min f, with lam = s (y - A x) scaled dual feasible
    (P = 1/2 ||A x - y||^2 + beta sum ||x_g||, D = 1/2 ||y||^2 - 1/2 ||y - lam||^2)."""
    res = y - flat @ x.ravel()
    price = float(np.linalg.norm((flat.T @ res).reshape(-1, d), axis=1).max())
    lam = res * min(1.0, beta / price) if price > 0 else res
    primal = 0.5 * float(res @ res) + beta * float(np.linalg.norm(x.reshape(-1, d),
                                                                  axis=1).sum())
    dual = 0.5 * float(y @ y) - 0.5 * float((y - lam) @ (y - lam))
    return primal - dual


def _check_against_ipm(A, flat, b, beta, y, d, kind, res):
    """res (Newton) is Solved, meets the KKT tolerance, is certified optimal to 1e-9 by a
    duality gap, and matches the interior-point method's objective: never worse, and equal
    to 1e-9 where the IPM's own point is certified to that accuracy.  (The reference runs on
    the packed Gram matrix, whose Newton systems are the more accurate ones.)"""
    assert res.status == "Solved", res.status
    gap, dres = kkt_error(_gram(A, kind), b, beta, d, res.x)
    assert max(gap, dres) <= TOL
    f_new = _objective(flat, b, beta, d, res.x)
    scale = max(1.0, abs(f_new), 0.5 * float(y @ y))
    assert _certified_gap(flat, y, beta, d, res.x) <= 1e-9 * scale
    ref = solve_ipm(_gram(A, "packed"), b, beta, 1, d, np.zeros(0, int), np.zeros((0, d)),
                    tol=TOL)
    if ref.ok:
        f_ref = _objective(flat, b, beta, d, ref.x)
        assert f_new <= f_ref + 1e-9 * scale, (f_new, f_ref)
        if _certified_gap(flat, y, beta, d, ref.x) <= 1e-9 * scale:
            assert abs(f_new - f_ref) <= 1e-9 * scale, (f_new, f_ref)


@pytest.mark.parametrize("kind", ["packed", "lowrank"])
@given(seed=st.integers(0, 10_000), k=st.integers(1, 14), d=st.integers(1, 5),
       strength=st.floats(0.05, 0.9))
@settings(max_examples=25, deadline=None)
def test_newton_from_zero_matches_the_interior_point_method(kind, seed, k, d, strength):
    n = k * d + 10  # H positive definite: a unique optimum
    A, flat, b, beta, y = _problem(seed, n, k, d, kind, strength)
    res = solve_newton(_gram(A, kind), b, beta, d, None, tol=TOL)
    _check_against_ipm(A, flat, b, beta, y, d, kind, res)


@pytest.mark.parametrize("kind", ["packed", "lowrank"])
@given(seed=st.integers(0, 10_000), k0=st.integers(1, 10), k1=st.integers(1, 6),
       d=st.integers(1, 5), strength=st.floats(0.05, 0.9), noise=st.sampled_from([0.0, 0.1]))
@settings(max_examples=25, deadline=None)
def test_newton_warm_started_like_column_generation(kind, seed, k0, k1, d, strength, noise):
    """The optimum on the first k0 columns, the k1 new columns at zero (as the working set
    passes it), optionally perturbed."""
    k = k0 + k1
    n = k * d + 10
    A, flat, b, beta, y = _problem(seed, n, k, d, kind, strength)
    first = solve_newton(_gram(A[:k0], kind), b[:k0 * d], beta, d, None, tol=TOL)
    assert first.ok, first.status
    x0 = np.concatenate([first.x, np.zeros((k1, d))])
    x0 += noise * np.random.default_rng(seed).standard_normal(x0.shape) * (x0 != 0)
    res = solve_newton(_gram(A, kind), b, beta, d, x0, tol=TOL)
    _check_against_ipm(A, flat, b, beta, y, d, kind, res)


@given(seed=st.integers(0, 10_000), n=st.integers(3, 30), k=st.integers(1, 20),
       d=st.integers(1, 5), strength=st.floats(0.02, 0.9))
@settings(max_examples=40, deadline=None)
def test_newton_is_right_whenever_it_says_solved_even_on_singular_programs(seed, n, k, d,
                                                                            strength):
    """Any shape (H singular, a LowRankGram too narrow for the support): either a status that
    is not ok, or a point meeting the tolerance with an objective no worse than the IPM's."""
    kind = "lowrank" if k * d > 2 * n else "packed"
    A, flat, b, beta, y = _problem(seed, n, k, d, kind, strength)
    res = solve_newton(_gram(A, kind), b, beta, d, None, tol=TOL)
    assert res.x.shape == (k, d) and np.all(np.isfinite(res.x))
    if not res.ok:
        assert res.status in ("MaxIterations", "NumericalError", "TooLarge")
        return
    assert max(kkt_error(_gram(A, kind), b, beta, d, res.x)) <= TOL
    ref = solve_ipm(_gram(A, kind), b, beta, 1, d, np.zeros(0, int), np.zeros((0, d)),
                    tol=TOL)
    f_new, f_ref = (_objective(flat, b, beta, d, v) for v in (res.x, ref.x))
    assert f_new <= f_ref + 1e-9 * max(1.0, abs(f_ref))


def test_failures_return_a_status_that_is_not_ok():
    A, _, b, beta, _ = _problem(1, 60, 8, 4, "packed", 0.1)
    assert solve_newton(_gram(A, "packed"), b, beta, 4, None, tol=TOL).ok
    capped = solve_newton(_gram(A, "packed"), b, beta, 4, None, tol=TOL, max_iter=1)
    assert capped.status == "MaxIterations" and not capped.ok
    timed = solve_newton(_gram(A, "packed"), b, beta, 4, None, tol=TOL, time_limit=0.0)
    assert timed.status == "MaxTime" and not timed.ok
    for where in ((0, 1), (0, 30)):  # inside a group's diagonal block, and outside
        broken = _gram(A, "packed")
        broken.store[where] = np.nan
        res = solve_newton(broken, b, beta, 4, None, tol=TOL)
        assert res.status == "NumericalError" and not res.ok
    # a LowRankGram keeps Newton matrices at most 2n wide: many strong groups on 3 rows
    A, _, b, beta, _ = _problem(2, 3, 12, 5, "lowrank", 0.01)
    wide = solve_newton(_gram(A, "lowrank"), b, beta, 5, None, tol=TOL)
    assert wide.status == "TooLarge" and not wide.ok


@pytest.mark.parametrize("kind", ["packed", "lowrank"])
def test_gram_views_read_the_gram_matrix_only(kind):
    rng = np.random.default_rng(0)
    A = rng.standard_normal((8, 30, 3))
    gram = _gram(A, kind)
    flat = A.transpose(1, 0, 2).reshape(30, 24)
    H = flat.T @ flat
    if kind == "packed":  # what a factorization leaves behind must not matter
        gram.store[np.tril_indices(24)] = 7.0
    idx = np.array([0, 1, 2, 6, 7, 8, 21, 22, 23])
    if kind == "lowrank":
        M = gram.principal_upper(idx)
        assert M.flags.f_contiguous
        np.testing.assert_allclose(M, H[np.ix_(idx, idx)], atol=1e-10)
    np.testing.assert_allclose(gram.columns(idx), H[:, idx], atol=1e-10)
    blocks = gram.diag_blocks(3)
    for c in range(8):
        np.testing.assert_allclose(blocks[c], H[3 * c:3 * c + 3, 3 * c:3 * c + 3], atol=1e-10)


@given(seed=st.integers(0, 10_000), k=st.integers(1, 8), d=st.integers(1, 4),
       ridge=st.sampled_from([0.0, 0.5]))
@settings(max_examples=30, deadline=None)
def test_solve_principal_solves_in_place_and_leaves_the_gram_matrix_intact(seed, k, d, ridge):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((k, 4 * k * d, d))
    gram = _gram(A, "packed")
    H = gram.full()
    groups = np.flatnonzero(rng.uniform(size=k) < 0.6)
    if len(groups) == 0:
        groups = np.array([k - 1])
    idx = (groups[:, None] * d + np.arange(d)).ravel()
    R = rng.standard_normal((len(groups), d, d))
    blocks = R @ R.transpose(0, 2, 1)
    rhs = rng.standard_normal(len(idx))
    x = gram.solve_principal(idx, blocks, rhs, ridge)
    M = H[np.ix_(idx, idx)] + ridge * np.eye(len(idx))
    for j in range(len(groups)):
        M[j * d:(j + 1) * d, j * d:(j + 1) * d] += blocks[j]
    np.testing.assert_allclose(M @ x, rhs, rtol=1e-7, atol=1e-7 * np.abs(rhs).max())
    np.testing.assert_allclose(gram.full(), H, rtol=0, atol=0)  # upper triangle and diag
    v = rng.standard_normal(k * d)
    np.testing.assert_allclose(gram.matvec(v), H @ v, atol=1e-10 * (1 + np.abs(H @ v).max()))


def _gated_program(seed: int = 3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((120, 5))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = np.maximum(X @ rng.standard_normal((5, 4)), 0) @ rng.standard_normal(4)
    return make_program("gated2", X, y, 0.05 * float(np.abs(X.T @ y).max()), patterns=60,
                        seed=1)


def test_working_set_gives_the_same_optimum_with_and_without_the_newton_method():
    program = _gated_program()
    runs = [solve_native(program, NativeOptions(gated_newton=flag, sample_ipm_losses=()))
            for flag in (True, False)]
    assert all(r.status == "optimal" for r in runs)
    objs = [program.objective(r.solution) for r in runs]
    assert abs(objs[0] - objs[1]) <= 1e-7 * abs(objs[1]), objs


@pytest.mark.parametrize("mixed", [True, False])
def test_working_set_falls_back_to_the_interior_point_method(monkeypatch, mixed):
    """With the float32 Gram matrix (the fallback builds a float64 one) and without it (the
    fallback reuses the Newton method's)."""
    calls = []

    def failing(gram, Aty, beta, d, x0, tol, deadline):
        calls.append(gram.size)
        return ReducedResult(np.zeros((gram.size // d, d)), "NumericalError", 3, 0.0)

    monkeypatch.setattr(newton, "solve_newton", failing)
    program = _gated_program()
    run = solve_native(program, NativeOptions(mixed_precision=mixed, sample_ipm_losses=()))
    assert calls and run.status == "optimal"
    reference = solve_native(program, NativeOptions(gated_newton=False, sample_ipm_losses=()))
    assert run.inner_iterations == reference.inner_iterations + 3 * len(calls)
    objs = [program.objective(r.solution) for r in (run, reference)]
    assert abs(objs[0] - objs[1]) <= 1e-9 * abs(objs[1])

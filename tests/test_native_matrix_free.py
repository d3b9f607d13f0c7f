"""The matrix-free gated working set (native/gram.py): exact products, Newton solves by both
preconditioners against a dense solve, and whole native solves routed through it against the
dense route, certified by the independent certificate."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convexbench.certificates import certify
from convexbench.native import NativeOptions, solve_native, working_set
from convexbench.native.gram import MatrixFreeGram, SampleGram
from convexbench.programs import make_program


def _gated(seed: int, n: int, d: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * rng.uniform(0.1, 3.0, size=d)
    coef = (X @ rng.standard_normal((d, k)) >= 0).astype(float)
    return X, coef


def _dense(X: np.ndarray, coef: np.ndarray) -> np.ndarray:
    n, d = X.shape
    A = (coef.T[:, :, None] * X[None]).transpose(1, 0, 2).reshape(n, -1)
    return A.T @ A


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), wide=st.booleans(), sample=st.booleans(),
       ridge=st.sampled_from([0.0, 1e-3]))
def test_newton_systems_match_a_dense_solve(seed, wide, sample, ridge):
    n, d = 40, 5
    k = 12 if wide else 4  # k d above and below n
    X, coef = _gated(seed, n, d, k)
    gram = MatrixFreeGram(X, coef)
    if sample:
        gram.sample = SampleGram(X)
    H = _dense(X, coef)
    rng = np.random.default_rng(seed + 1)
    v = rng.standard_normal(k * d)
    assert np.allclose(gram.matvec(v), H @ v, rtol=1e-12, atol=1e-9 * np.abs(H).max())
    groups = np.sort(rng.choice(k, size=k - 1, replace=False))
    w = rng.standard_normal((len(groups), d))
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    c = rng.uniform(0.1, 10.0, size=len(groups))
    idx = (groups[:, None] * d + np.arange(d)).ravel()
    K = H[np.ix_(idx, idx)] + ridge * np.eye(len(idx))
    for j, g in enumerate(range(len(groups))):
        block = slice(g * d, (g + 1) * d)
        K[block, block] += c[j] * (np.eye(d) - np.outer(w[j], w[j]))
    rhs = rng.standard_normal(len(idx))
    x = gram.solve_newton_system(groups, c, w, rhs, ridge)
    assert x is not None
    assert np.linalg.norm(K @ x - rhs) <= 1e-6 * np.linalg.norm(rhs)


def test_block_operators_agree_with_the_dense_blocks():
    X, coef = _gated(3, 50, 4, 6)
    H = _dense(X, coef)
    x = np.random.default_rng(0).standard_normal((6, 4))
    exact = np.stack([H[g * 4:(g + 1) * 4, g * 4:(g + 1) * 4] @ x[g] for g in range(6)])
    eigen = MatrixFreeGram(X, coef).diagonal_blocks()
    free = MatrixFreeGram(X, coef)
    free.sample = SampleGram(X)
    row_weighted = free.diagonal_blocks()
    for blocks in (eigen, row_weighted):
        assert np.allclose(blocks.apply(x), exact)
        assert np.allclose(blocks.apply_one(2, x[2]), exact[2])
        true_max = np.array([np.linalg.eigvalsh(H[g * 4:(g + 1) * 4, g * 4:(g + 1) * 4])[-1]
                             for g in range(6)])
        assert np.all(blocks.lmax >= true_max * (1 - 1e-12))
    assert np.allclose(eigen.lmax, true_max)


@pytest.mark.parametrize("max_n", [10_000, 0])  # sample-space and block preconditioners
@pytest.mark.parametrize("frac", [1e-1, 1e-2])
def test_matrix_free_route_reaches_the_dense_routes_optimum(monkeypatch, max_n, frac):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((120, 6))
    y = np.maximum(X @ rng.standard_normal(6), 0) - np.maximum(X @ rng.standard_normal(6), 0)
    beta = frac * float(np.abs(X.T @ y).max())
    program = make_program("gated2", X, y, beta, patterns=30, seed=1)
    dense = solve_native(program, NativeOptions(tol=1e-7, sample_ipm_losses=()))
    monkeypatch.setattr(working_set, "_matrix_free", lambda fam, k: fam.R == 0)
    built: list[MatrixFreeGram] = []

    class Counted(MatrixFreeGram):
        def __init__(self, *args):
            super().__init__(*args)
            built.append(self)

    monkeypatch.setattr(working_set, "MatrixFreeGram", Counted)
    free = solve_native(program, NativeOptions(tol=1e-7, sample_space_max_n=max_n,
                                                sample_ipm_losses=()))
    assert built and all((g.sample is not None) == bool(max_n) for g in built)
    assert free.status == "optimal"
    cert = certify(program, free.solution)
    assert cert.holds(1e-6), cert
    assert abs(cert.objective - certify(program, dense.solution).objective) <= \
        1e-6 * cert.objective


@pytest.mark.parametrize("panel_rows", [1, 7, 1000])
def test_sample_matrix_upper_triangle_built_by_panels(monkeypatch, panel_rows):
    """(X X^T) o (W C) built from X by row panels (X X^T is not kept): its upper triangle
    and diagonal equal the float64 formula to float32 accuracy, whatever the panel size."""
    from convexbench.native import gram as gram_module

    n, d, k = 30, 6, 5
    X, coef = _gated(3, n, d, k)
    W = coef / np.arange(1.0, k + 1.0)
    monkeypatch.setattr(gram_module, "PANEL_BYTES", 4 * n * panel_rows)
    S = SampleGram(X).hadamard_upper(W.astype(np.float32), coef.T.astype(np.float32))
    expected = (X @ X.T) * (W @ coef.T)
    upper = np.triu_indices(n)
    scale = float(np.abs(expected).max())
    assert np.max(np.abs(S[upper] - expected[upper])) <= 1e-5 * scale

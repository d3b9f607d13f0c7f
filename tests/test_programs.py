"""Convex programs: reconstruction both ways, equivalence (claim 1), certificates."""

import cvxpy as cp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convexbench.backends import get_preset, solve
from convexbench.certificates import certify
from convexbench.networks import ThreeLayerNetwork, TwoLayerNetwork
from convexbench.patterns import enumerate_patterns
from convexbench.programs import GatedRelu2Program, Relu2Program, Relu3Program, make_program
from convexbench.programs.atoms import sample_atoms


def planted(n, d, seed, noise=0.1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = (
        np.maximum(X @ rng.standard_normal(d), 0)
        - 0.5 * np.maximum(X @ rng.standard_normal(d), 0)
        + noise * rng.standard_normal(n)
    )
    return X, y


# -- reconstruction, network -> convex -> network -----------------------------------------


@settings(max_examples=30, deadline=None)
@given(n=st.integers(5, 30), d=st.integers(2, 4), m=st.integers(1, 6), seed=st.integers(0, 999))
def test_relu2_network_to_convex_to_network(n, d, m, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = rng.standard_normal(n)
    arrangement = enumerate_patterns(X)
    program = Relu2Program(X, y, arrangement.patterns, beta=0.3)
    U = rng.standard_normal((d, m))
    a = rng.standard_normal(m)
    network = TwoLayerNetwork(U, a)
    solution = program.from_network(network)
    # predictions kept exactly; the group-l1 penalty never exceeds the weight decay
    assert np.allclose(program.predict(solution), network.predict(X), atol=1e-10)
    assert program.penalty(solution) <= network.penalty(0.3) + 1e-10
    assert program.cone_violation(solution) <= 1e-10
    # and back: the reconstructed (balanced) network keeps predictions and the penalty
    rebuilt = program.reconstruct(solution)
    assert np.allclose(rebuilt.predict(X), network.predict(X), atol=1e-9)
    assert rebuilt.penalty(0.3) == pytest.approx(program.penalty(solution), rel=1e-10, abs=1e-12)
    assert program.nonconvex_objective(rebuilt) == pytest.approx(
        program.objective(solution), rel=1e-10
    )


@settings(max_examples=25, deadline=None)
@given(n=st.integers(4, 20), d=st.integers(2, 3), K=st.integers(1, 4), seed=st.integers(0, 999))
def test_relu3_network_to_convex_to_network(n, d, K, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = rng.standard_normal(n)
    m1 = 2
    network = ThreeLayerNetwork(
        rng.standard_normal((K, d, m1)), rng.standard_normal((K, m1)), rng.standard_normal(K)
    )
    # atoms read off this network (plus random ones) make it representable
    pre = np.einsum("nd,kdm->kmn", X, network.W1)
    own = sample_atoms(X, 50, m1, seed=seed)
    first = np.concatenate([own.first, pre >= 0])
    signs = np.concatenate([own.signs, np.where(network.w2 >= 0, 1.0, -1.0)])
    h = np.einsum("kmn,km->kn", np.maximum(pre, 0), network.w2)
    second = np.concatenate([own.second, h >= 0])
    from convexbench.programs.atoms import Atoms, canonical_order

    first, signs = canonical_order(first, signs)
    program = Relu3Program(X, y, Atoms(first, signs, second), beta=0.2, form="A")
    solution = program.from_network(network)
    assert np.allclose(program.predict(solution), network.predict(X), atol=1e-9)
    assert program.cone_violation(solution) <= 1e-10
    # convex penalty <= form-B and (after rescaling into ||W1|| <= 1) form-A penalties
    assert program.penalty(solution) <= network.penalty(0.2, "B") + 1e-9
    for form in ("A", "B"):
        program.form = form
        rebuilt = program.reconstruct(solution)
        assert np.allclose(rebuilt.predict(X), network.predict(X), atol=1e-8)
        assert rebuilt.penalty(0.2, form) == pytest.approx(program.penalty(solution), rel=1e-9)
        assert rebuilt.form_a_violation() <= 1e-9 if form == "A" else True


# -- equivalence (claim 1) and an independent implementation --------------------------------


def independent_relu2_optimum(X, y, patterns, beta):
    """The two-layer program written pattern by pattern, solved with ECOS."""
    n, d = X.shape
    terms, penalty, constraints = [], [], []
    for D in patterns.astype(float):
        v, w = cp.Variable(d), cp.Variable(d)
        terms.append(cp.multiply(D, X @ (v - w)))
        penalty += [cp.norm(v), cp.norm(w)]
        constraints += [cp.multiply(2 * D - 1, X @ v) >= 0, cp.multiply(2 * D - 1, X @ w) >= 0]
    objective = 0.5 * cp.sum_squares(sum(terms) - y) + beta * sum(penalty)
    problem = cp.Problem(cp.Minimize(objective), constraints)
    problem.solve(solver="ECOS", abstol=1e-10, reltol=1e-10, feastol=1e-10, max_iters=500)
    return problem.value


@pytest.mark.parametrize("seed", [0, 1])
def test_relu2_exact_patterns_match_independent_implementation(seed):
    X, y = planted(15, 2, seed)
    program = make_program("relu2", X, y, beta=0.05, patterns="all")
    result = solve(program, "clarabel", accuracy="high")
    reference = independent_relu2_optimum(X, y, program.patterns, 0.05)
    assert result.verified
    assert result.objective == pytest.approx(reference, rel=1e-6)
    network = program.reconstruct(result.solution)
    assert program.nonconvex_objective(network) == pytest.approx(result.objective, rel=1e-6)


@pytest.mark.parametrize("loss, accuracy", [("squared", "medium"), ("logistic", "low")])
def test_relu2_equivalence_and_exact_certificate(loss, accuracy):
    # the logistic dual gap is first order in the primal error (the dual point is scaled into
    # the feasible set), so interior-point accuracy on the exp cone certifies 1e-4, not 1e-6
    X, y = planted(40, 3, 2)
    if loss != "squared":
        y = np.where(y >= np.median(y), 1.0, -1.0)
    program = make_program("relu2", X, y, beta=0.2, loss=loss, patterns=60, seed=1)
    result = solve(program, "clarabel", accuracy=accuracy)
    tol = get_preset(accuracy).tol
    assert result.verified and result.certificate.gap_exact
    assert result.certificate.relative_gap <= tol
    network = program.reconstruct(result.solution)
    assert program.nonconvex_objective(network) == pytest.approx(result.objective, rel=1e-6)


@pytest.mark.parametrize("form", ["A", "B"])
def test_relu3_equivalence(form):
    X, y = planted(30, 3, 3)
    program = make_program("relu3", X, y, beta=0.1, patterns=150, m1=2, form=form, seed=2)
    result = solve(program, "clarabel", accuracy="medium")
    assert result.verified
    assert result.certificate.relative_gap <= 1e-6
    network = program.reconstruct(result.solution)
    assert network.n_subnetworks >= program.n_active(result.solution)
    assert program.nonconvex_objective(network) == pytest.approx(result.objective, rel=1e-6)
    if form == "A":
        assert network.form_a_violation() <= 1e-9


def test_relu3_exact_atoms_lower_bound_sampled_atoms():
    X, y = planted(6, 2, 4)
    exact = make_program("relu3", X, y, beta=0.05, patterns="all", m1=2)
    sampled = make_program("relu3", X, y, beta=0.05, patterns=200, m1=2, seed=0)
    best = solve(exact, "clarabel").objective
    upper = solve(sampled, "clarabel").objective
    assert best <= upper * (1 + 1e-6)


def test_gated_relaxation_is_below_relu():
    X, y = planted(40, 3, 5)
    relu = make_program("relu2", X, y, beta=0.1, patterns=50, seed=3)
    gated = GatedRelu2Program(X, y, relu.patterns, beta=0.1)
    r = solve(relu, "clarabel")
    g = solve(gated, "clarabel")
    assert g.verified and r.verified
    assert g.objective <= r.objective * (1 + 1e-6)


def test_certificate_detects_a_bad_point():
    X, y = planted(30, 3, 6)
    program = make_program("relu2", X, y, beta=0.1, patterns=40, seed=0)
    good = solve(program, "clarabel").solution
    worse = {k: 0.5 * v for k, v in good.items()}
    cert = certify(program, worse)
    assert cert.relative_gap > 1e-3 and not cert.holds(1e-6)
    infeasible = {"V": good["V"] + 0.1, "W": good["W"]}
    assert certify(program, infeasible).max_violation > 1e-3


def test_sparsity_at_most_n_plus_one_and_falls_with_beta():
    X, y = planted(25, 2, 7)
    counts = []
    for beta in (0.01, 0.1, 1.0):
        program = make_program("relu2", X, y, beta=beta, patterns="all")
        result = solve(program, "clarabel", accuracy="high")
        counts.append(program.n_active(result.solution))
    assert all(c <= 25 + 1 for c in counts)
    assert counts[0] >= counts[1] >= counts[2]


# -- global optimality with all patterns / atoms (claim 2, deterministic part) ------------


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), K=st.integers(1, 5))
def test_every_three_layer_network_is_above_the_exact_atom_optimum(seed, K):
    """Every random network maps into the exact-atom program with no larger objective."""
    X, y = planted(6, 2, 11)
    program = _exact_relu3()
    rng = np.random.default_rng(seed)
    network = ThreeLayerNetwork(
        rng.standard_normal((K, 2, 2)), rng.standard_normal((K, 2)), rng.standard_normal(K)
    )
    solution = program.from_network(network)  # raises if an atom is missing
    assert np.allclose(program.predict(solution), network.predict(X), atol=1e-9)
    assert program.objective(solution) <= network.objective(X, y, 0.05, program.loss, "B") + 1e-9
    assert _EXACT_RELU3_OPTIMUM[0] <= program.objective(solution) + 1e-7


_EXACT_RELU3: list = []
_EXACT_RELU3_OPTIMUM: list = []


def _exact_relu3():
    if not _EXACT_RELU3:
        X, y = planted(6, 2, 11)
        program = make_program("relu3", X, y, beta=0.05, patterns="all", m1=2)
        _EXACT_RELU3.append(program)
        _EXACT_RELU3_OPTIMUM.append(solve(program, "clarabel", accuracy="high").objective)
    return _EXACT_RELU3[0]

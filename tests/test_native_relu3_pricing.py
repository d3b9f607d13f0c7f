"""Batched relu3 pricing of the native solver (issue 16, point 3): one block-separable SOCP
for several atoms, row generation per atom, and ``working_set._price`` over batches."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from convexbench.certificates import certify
from convexbench.data.synthetic import planted_data
from convexbench.native import NativeOptions, solve_native
from convexbench.native.atom_ipm import atom_price_ipm
from convexbench.native.deadline import Deadline
from convexbench.native.families import ThreeLayerFamily, family_for
from convexbench.native.working_set import _price
from convexbench.programs import make_program
from convexbench.programs.cones import PRICE_GAP, atom_price, atom_prices, cone_support


def _atom(rng: np.random.Generator, n: int, d: int, m: int) -> np.ndarray:
    """The (m+1) n cone rows of a random atom, as ``ThreeLayerFamily`` builds them."""
    X = rng.standard_normal((n, d))
    U = rng.standard_normal((d, m))
    first = (X @ U >= 0).astype(float)
    s = np.where(rng.random(m) < 0.5, 1.0, -1.0)
    second = (np.maximum(X @ U, 0) @ s >= 0).astype(float)
    rows = np.zeros((m + 1, n, m, d))
    for j in range(m):
        rows[j, :, j, :] = (s[j] * (2 * first[:, j] - 1))[:, None] * X
        rows[m, :, j, :] = ((2 * second - 1) * first[:, j])[:, None] * X
    return rows.reshape((m + 1) * n, m * d)


def _socp_value(g: np.ndarray, rows: np.ndarray) -> float:
    """The pricing SOCP by cvxpy: max sum_j g_j^T q_j, sum_j ||q_j|| <= 1, rows q >= 0."""
    m, d = g.shape
    Q = cp.Variable((m, d))
    problem = cp.Problem(cp.Maximize(cp.sum(cp.multiply(g, Q))),
                         [cp.sum(cp.norm(Q, 2, axis=1)) <= 1,
                          rows @ cp.reshape(Q, (m * d,), order="C") >= 0])
    problem.solve(solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    return float(problem.value)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 100_000), B=st.integers(2, 9), m=st.integers(1, 3),
       d=st.integers(2, 5))
def test_batched_prices_equal_one_at_a_time_prices(seed, B, m, d):
    rng = np.random.default_rng(seed)
    gs, rows_list = [], []
    for i in range(B):
        rows_list.append(_atom(rng, int(rng.integers(8, 40)), d, m))
        # prices of very different sizes share one solve (and one atom with g = 0)
        gs.append(0.0 * rng.standard_normal((m, d)) if i == 1
                  else 10.0 ** rng.uniform(-4, 4) * rng.standard_normal((m, d)))
    batched = atom_prices(gs, [sp.csr_matrix(r) if i % 2 else r
                               for i, r in enumerate(rows_list)])
    for g, rows, (price, q, mu) in zip(gs, rows_list, batched, strict=True):
        size = float(np.linalg.norm(g, axis=1).max())
        alone, q_alone, _ = atom_price(g, rows)
        assert abs(price - alone) <= 1e-8 * size
        if size == 0:
            assert price == 0 and not np.any(q) and not np.any(mu)
            continue
        value = size * _socp_value(g / size, rows)
        assert price >= value - 1e-9 * size  # an upper bound of the SOCP's value
        assert price <= value + 1e-7 * size
        # the maximizer is a point of the atom's cone and ball, the multipliers a proof
        assert np.all(rows @ q.ravel() >= -1e-8 * np.linalg.norm(rows, axis=1))
        assert np.linalg.norm(q, axis=1).sum() <= 1 + 1e-8
        assert np.all(mu >= 0)
        shifted = g + (rows.T @ mu).reshape(m, d)
        assert np.linalg.norm(shifted, axis=1).max() >= price - 1e-9 * size


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 100_000), m=st.integers(1, 3), d=st.integers(2, 6),
       log_scale=st.floats(-6, 6))
def test_native_atom_price_is_proved_and_equals_clarabels(seed, m, d, log_scale):
    """The native interior-point price of an atom (``native.atom_ipm``) is proved (its
    multipliers' Lagrangian bound within PRICE_GAP of its primal value), equals Clarabel's
    price to 1e-8 of max_j ||g_j|| at every scale of g, and its maximizer lies in the cone."""
    rng = np.random.default_rng(seed)
    rows = _atom(rng, int(rng.integers(8, 60)), d, m)
    g = 10.0 ** log_scale * rng.standard_normal((m, d))
    size = float(np.linalg.norm(g, axis=1).max())
    price, q, mu, proved = atom_price_ipm(g, rows)
    assert proved
    assert price == pytest.approx(atom_price(g, rows)[0], abs=1e-8 * size)
    assert np.all(mu >= 0)
    bound = np.linalg.norm(g + (rows.T @ mu).reshape(m, d), axis=1).max()
    assert bound == pytest.approx(price, abs=1e-12 * size)  # the multipliers' bound
    assert float(np.sum(g * q)) >= price - PRICE_GAP * size
    assert np.all(rows @ q.ravel() >= -1e-8 * np.linalg.norm(rows, axis=1))
    assert np.linalg.norm(q, axis=1).sum() <= 1 + 1e-9


def _program(beta_factor: float = 0.05, seed: int = 4):
    X, y = planted_data(40, 3, seed, hidden=3, sphere=True)
    beta = beta_factor * float(np.abs(X.T @ y).max())
    return make_program("relu3", X, y, beta, patterns=30, m1=2, seed=5)


def _full_prices(fam: ThreeLayerFamily, grads: np.ndarray) -> np.ndarray:
    """Every column's price by one SOCP on all its rows (the pricing before batching)."""
    out = np.empty(fam.n_columns)
    for c in range(fam.n_columns):
        a, s = fam._split(np.array([c]))
        _, rows = fam.cone_rows(np.array([c]), np.ones((1, fam.R), dtype=bool))
        out[c] = atom_price(s[0] * grads[a[0]], rows)[0]
    return out


@pytest.mark.parametrize("native_width", [None, 0])
def test_row_generated_batch_prices_equal_full_prices(native_width, monkeypatch):
    """Also with every atom priced by the native interior-point method (``native_width``
    0; these atoms are smaller than its default ``MIN_SIZE``)."""
    from convexbench.native import atom_ipm

    if native_width is not None:
        monkeypatch.setattr(atom_ipm, "MIN_SIZE", native_width)
    program = _program()
    fam = family_for(program)
    rng = np.random.default_rng(0)
    for _ in range(2):  # the second round starts from the rows cached by the first
        lam = rng.standard_normal(program.n)
        cheap, grads = fam.cheap_prices(lam)
        full = _full_prices(fam, grads)
        assert np.all(cheap >= full - 1e-9 * np.abs(full).max())
        cols = np.arange(fam.n_columns)
        for c in cols[::2]:
            fam.refined_bound(int(c), grads)  # its rows start half of the atoms
        prices, qs = fam.exact_prices(cols, grads)
        scale = np.linalg.norm(grads, axis=2).max(axis=1)[cols % fam.G]
        np.testing.assert_array_less(np.abs(prices - full), 1e-8 * scale + 1e-300)
        # maximizers in their cones and balls
        assert np.all(fam.cone_values(cols, qs) >= -1e-8 * scale[:, None])
        assert np.all(fam.column_norms(qs) <= 1 + 1e-8)
        # the cached multipliers prove each price (Lagrangian bound)
        shifted = (np.sign(0.5 - (cols >= fam.G))[:, None, None] * grads[cols % fam.G]
                   + fam._w[cols].reshape(-1, fam.m, fam.d))
        assert np.all(np.linalg.norm(shifted, axis=2).max(axis=1) >= prices - 1e-9 * scale)


def test_unproved_atoms_are_priced_again_alone(monkeypatch):
    """An atom the native interior-point method did not prove goes to Clarabel, an atom
    whose Clarabel batch did not prove its price to PRICE_GAP is solved alone, and a
    row-generated atom then gets all its rows: with a negative gap, every atom."""
    from convexbench.native import atom_ipm, families
    from convexbench.programs import cones

    program = _program()
    rng = np.random.default_rng(2)
    _, grads = family_for(program).cheap_prices(rng.standard_normal(program.n))
    full = _full_prices(family_for(program), grads)
    monkeypatch.setattr(cones, "PRICE_GAP", -1.0)
    monkeypatch.setattr(families, "PRICE_GAP", -1.0)
    monkeypatch.setattr(atom_ipm, "PRICE_GAP", -1.0)
    fam = family_for(program)
    cols = np.arange(fam.n_columns)
    prices, _ = fam.exact_prices(cols, grads)
    np.testing.assert_array_equal(prices, full)  # the same SOCPs, solved alone


@pytest.mark.parametrize("max_add", [3, 40])
def test_batched_pricing_round_keeps_its_semantics(max_add):
    program = _program(0.05)
    rng = np.random.default_rng(1)
    lam = rng.standard_normal(program.n)
    full = _full_prices(family_for(program), family_for(program).cheap_prices(lam)[1])
    # prices are linear in lam: scale it so that 12 columns price above beta
    top = np.sort(full)[::-1]
    lam *= 2 * program.beta / (top[11] + top[12])
    full *= 2 * program.beta / (top[11] + top[12])
    in_set = np.zeros(len(full), dtype=bool)
    in_set[np.argsort(-full)[:2]] = True  # the two best columns are in the set already
    thresh = program.beta * (1 + 1e-7)
    violators = set(np.flatnonzero((full > thresh) & ~in_set))
    assert len(violators) == 10
    found = {}
    for batch in (1, 8):
        fam = family_for(program)
        fam.price_batch = batch
        new, dirs, bound = _price(fam, lam, program.beta, thresh, in_set, max_add)
        assert len(new) == min(max_add, len(violators)) and set(new) <= violators
        assert len(dirs) == len(new)
        for c, u in zip(new, dirs, strict=True):  # maximizers of the columns
            g = fam._split(np.array([c]))[1][0] * fam.cheap_prices(lam)[1][c % fam.G]
            assert float(g.ravel() @ u) == pytest.approx(full[c], rel=1e-7)
        found[batch] = new
        # above every price, no violator: the bound of the certified gap
        high = 1.01 * full.max()
        new, _, bound = _price(fam, lam, high, high, in_set, max_add)
        assert not new and bound >= full.max() - 1e-9 * full.max()
        # no batch starts when less time is left than the slowest took
        fam.slowest_price = 1e9
        assert _price(fam, lam, program.beta, thresh, in_set, max_add,
                      Deadline.after(10.0))[2] == np.inf
    assert found[1] == found[8]  # the same columns, in decreasing cheap-bound order


def test_batched_native_solve_reaches_the_one_at_a_time_objective(monkeypatch):
    program = _program(0.01, seed=2)
    runs = {}
    for batched in (False, True):
        if not batched:  # the pricing before batching: one atom at a time, all rows
            monkeypatch.setattr(ThreeLayerFamily, "price_batch", 1)
            monkeypatch.setattr(ThreeLayerFamily, "row_generation", False)
        else:
            monkeypatch.undo()
        run = solve_native(program, NativeOptions(tol=1e-6))
        assert run.status == "optimal", run.message
        cert = certify(program, run.solution)
        assert cert.holds(1e-6), cert
        runs[batched] = cert.objective
    assert runs[True] == pytest.approx(runs[False], rel=1e-7)


@pytest.mark.parametrize("model", ["relu3", "relu2"])
def test_restricted_multipliers_bound_the_prices_of_the_set(model):
    """After a restricted interior-point solve, the multipliers of its cone rows
    (``remember_multipliers``) give every column of the set a Lagrangian bound that is a
    true upper bound on its exact price over all its rows, and within 1e-4 of beta (the
    restricted optimum prices its own columns at beta)."""
    from convexbench.certificates import default_dual_direction
    from convexbench.native.working_set import NativeOptions as Opts
    from convexbench.native.working_set import _seed, _solve_state, _State

    X, y = planted_data(40, 3, 3, hidden=3, sphere=True)
    beta = 0.05 * float(np.abs(X.T @ y).max())
    extra = {"m1": 2} if model == "relu3" else {}
    program = make_program(model, X, y, beta, patterns=30, seed=5, **extra)
    fam = family_for(program)
    cheap, grads = fam.cheap_prices(y)  # lam = y - 0: the columns that price highest at zero
    cols = np.sort(np.argsort(-cheap)[:6])
    md = fam.m * fam.d
    x0 = np.zeros((len(cols), md))
    state = _State(cols, x0, _seed(fam, cols, np.ones((len(cols), md)), 10))
    res = _solve_state(fam, state, y, beta, "squared", 1e-10, Deadline.after(None),
                       Opts())
    assert res.ok and res.row_duals is not None and np.all(res.row_duals >= 0)
    z = fam.predict(cols, res.x)
    lam = -default_dual_direction(program, z)
    _, grads = fam.cheap_prices(lam)
    assert fam._has_w[cols].all()
    active = fam.column_norms(res.x) > 1e-6 * fam.column_norms(res.x).max()
    for c in cols[active]:
        fresh = family_for(program)  # no cached multipliers: the exact price, all rows
        a, s = fresh._split(np.array([c]))
        _, rows = fresh.cone_rows(np.array([c]), np.ones((1, fresh.R), dtype=bool))
        g = (s[0] * grads[a[0]]).reshape(fam.m, fam.d)
        exact = atom_price(g, rows)[0] if model == "relu3" else max(
            cone_support(g.ravel(), rows), 0.0)
        # the Lagrangian bound of the remembered w_c = K_c^T mu_c alone
        bound = np.linalg.norm(g + fam._w[c].reshape(fam.m, fam.d), axis=1).max()
        assert bound >= exact - 1e-9 * beta
        assert bound <= beta * (1 + 1e-4)

"""The whole program in the working set: small squared-loss programs at small beta are solved
whole from the first round (``NativeOptions.whole_program_flops``), others once the grown set
costs nearly what the whole program does (``NativeOptions.whole_switch_ratio``), to the same
certified optimum as the working set grown round by round."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convexbench.bench.native import build, real
from convexbench.certificates import certify
from convexbench.errors import UnavailableError
from convexbench.native import NativeOptions, solve_native
from convexbench.native import working_set as ws
from convexbench.native.families import family_for
from convexbench.programs import make_program

ROUNDS_ONLY = NativeOptions(whole_program_flops=0, whole_switch_ratio=0)


def _program(model: str, seed: int, factor: float, n: int = 50, d: int = 3,
             loss: str = "squared"):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.maximum(X @ rng.standard_normal((d, 3)), 0) @ rng.standard_normal(3)
    y += 0.1 * rng.standard_normal(n)
    if loss != "squared":
        y = np.where(y >= np.median(y), 1.0, -1.0)
    beta = factor * float(np.abs(X.T @ y).max())
    return make_program(model, X, y, beta, patterns=12, seed=seed + 1, loss=loss)


@pytest.fixture
def whole_calls(monkeypatch):
    """How many times a run took the whole program."""
    calls = []
    original = ws._whole

    def spy(fam, state):
        calls.append(fam.n_columns)
        return original(fam, state)

    monkeypatch.setattr(ws, "_whole", spy)
    return calls


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), model=st.sampled_from(["relu2", "relu3"]),
       factor=st.sampled_from([0.002, 0.01]))
def test_whole_program_reaches_the_working_sets_certified_optimum(seed, model, factor):
    program = _program(model, seed, factor)
    whole = solve_native(program)
    rounds = solve_native(program, ROUNDS_ONLY)
    certs = [certify(program, run.solution) for run in (whole, rounds)]
    assert whole.status == "optimal", whole.message
    assert all(cert.holds(1e-6) for cert in certs), certs
    assert abs(certs[0].objective - certs[1].objective) <= 2e-6 * abs(certs[1].objective)


def test_whole_program_is_taken_at_small_beta_only(whole_calls):
    solve_native(_program("relu2", 3, 0.01))
    assert len(whole_calls) == 1  # beta = 1e-2 ||X^T y||_inf: the whole program
    solve_native(_program("relu2", 3, 0.1))
    solve_native(_program("relu2", 3, 0.01), ROUNDS_ONLY)
    solve_native(_program("relu2", 3, 0.01, loss="hinge"))
    solve_native(_program("gated2", 3, 0.01))
    # a time limit shorter than WHOLE_TIME_MARGIN times the whole solve's expected time
    solve_native(_program("relu2", 3, 0.01), NativeOptions(time_limit=0.5))
    assert len(whole_calls) == 1  # large beta, turned off, hinge, no cone rows, short limit
    solve_native(_program("relu2", 3, 0.01), NativeOptions(time_limit=60.0))
    assert len(whole_calls) == 2


def test_whole_program_flops_follow_the_program_size():
    for n in (40, 400):
        fam = family_for(_program("relu2", 1, 0.01, n=n))
        k = fam.n_columns  # columns of d = 3, N = 3 k <= 2 n: N^3 / 3 plus each row's d^2
        assert 3 * k <= 2 * n
        assert ws.whole_program_flops(fam) == pytest.approx((3 * k) ** 3 / 3 + k * n * 9)


@pytest.mark.parametrize("dataset, fraction", [("uci:monks-2", 1e-2), ("uci:pima", 1e-3)])
def test_whole_program_answer_is_certified_on_real_data(dataset, fraction):
    """relu2 at ``fraction`` ||X^T y||_inf: uci:monks-2 (n = 127) is solved whole in the first
    round; uci:pima (n = 576, above the first round's flops limit) grows to most columns,
    then the whole program follows.  Certified, at the working set's optimum, in fewer
    rounds."""
    try:
        program, _ = build(replace(real(dataset, "relu2"), beta_frac=fraction))
    except UnavailableError as exc:  # the real data is not local
        pytest.skip(str(exc))
    whole = solve_native(program)
    rounds = solve_native(program, ROUNDS_ONLY)
    certs = [certify(program, run.solution) for run in (whole, rounds)]
    assert whole.status == "optimal" and all(c.holds(1e-6) for c in certs), certs
    assert whole.iterations < rounds.iterations
    assert abs(certs[0].objective - certs[1].objective) <= 2e-6 * abs(certs[1].objective)


def test_gated2_at_small_beta_starts_in_sample_space(monkeypatch):
    """gated2 at beta <= 0.02 ||X^T y||_inf with P d >= n / 2: the sample-space method from
    the start (no working-set round), at the working set's certified optimum; with fewer
    variables than n / 2 the working set runs first."""
    import convexbench.native.api as api

    rounds = []
    original = api.solve_working_set

    def spy(program, options, *args, **kwargs):
        rounds.append(program.n)
        return original(program, options, *args, **kwargs)

    monkeypatch.setattr(api, "solve_working_set", spy)
    program = _program("gated2", 5, 0.01, n=100, d=5)  # 12 patterns x 5 >= 50, 20 x 5 <= n
    direct = solve_native(program)
    assert rounds == []
    handoff = solve_native(program, NativeOptions(whole_program_beta=0))
    assert len(rounds) == 1
    certs = [certify(program, run.solution) for run in (direct, handoff)]
    assert direct.status == "optimal" and all(c.holds(1e-6) for c in certs), certs
    assert abs(certs[0].objective - certs[1].objective) <= 2e-6 * abs(certs[1].objective)
    solve_native(_program("gated2", 5, 0.01, n=200, d=3))  # 12 x 3 < 100: the working set
    assert len(rounds) == 2


NO_FIRST_ROUND = NativeOptions(whole_program_flops=0)  # the switch only


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), model=st.sampled_from(["relu2", "relu3"]),
       factor=st.sampled_from([0.002, 0.01, 0.1]))
def test_switch_to_the_whole_program_reaches_the_working_sets_optimum(seed, model, factor):
    """Grown round by round until the whole program costs at most 3 x the working set, then
    solved whole: certified, at the optimum of the working set grown to the end."""
    program = _program(model, seed, factor, n=60)
    switched = solve_native(program, replace(NO_FIRST_ROUND, whole_switch_ratio=3.0))
    rounds = solve_native(program, ROUNDS_ONLY)
    certs = [certify(program, run.solution) for run in (switched, rounds)]
    assert switched.status == "optimal", switched.message
    assert all(cert.holds(1e-6) for cert in certs), certs
    assert abs(certs[0].objective - certs[1].objective) <= 2e-6 * abs(certs[1].objective)


def test_switch_to_the_whole_program_follows_the_cost_ratio(whole_calls, monkeypatch):
    """At 1e-3 ||X^T y||_inf the working set grows to most of the 24 columns: with a ratio of
    3 the run switches to the whole program (once); with 0, for the hinge loss, under a time
    limit shorter than twice the whole solve's expected time, or when the whole program's
    rows would not fit in ``WHOLE_ROW_BYTES``, never."""
    program = _program("relu2", 3, 0.001, n=60)
    fam = family_for(program)
    switched = solve_native(program, replace(NO_FIRST_ROUND, whole_switch_ratio=3.0))
    assert whole_calls == [fam.n_columns]
    assert switched.n_columns > NO_FIRST_ROUND.init_columns
    solve_native(program, ROUNDS_ONLY)
    solve_native(_program("relu2", 3, 0.001, n=60, loss="hinge"),
                 replace(NO_FIRST_ROUND, whole_switch_ratio=3.0))
    with monkeypatch.context() as patch:  # the whole solve expected to take hours
        patch.setattr(ws, "WHOLE_ITERATIONS", 10**9)
        solve_native(program, replace(NO_FIRST_ROUND, whole_switch_ratio=3.0, time_limit=60.0))
    monkeypatch.setattr(ws, "WHOLE_ROW_BYTES", fam.n_columns * fam.R * fam.d * 8 - 1)
    solve_native(program, replace(NO_FIRST_ROUND, whole_switch_ratio=3.0))
    assert len(whole_calls) == 1


def test_switch_time_uses_the_rate_the_last_restricted_solve_ran_at(monkeypatch):
    """Under a time limit the whole solve's expected time is priced at the rate the last
    restricted solve ran at when that is faster than ``SWITCH_FLOP_RATE`` (uci:ozone relu2 at
    1e-2 lambda_max with T = 600 s: refused at 1e10 flops/s, the rounds took 144 s; at the
    measured 3.1e10 the switch is taken, 62 s), and never at a slower one."""
    monkeypatch.setattr(ws, "WHOLE_ITERATION_OVERHEAD", 0.0)  # flops alone, at this size
    program = _program("relu2", 3, 0.001, n=60)
    fam = family_for(program)
    k = fam.n_columns - 1
    state = ws._State(np.arange(k), np.zeros((k, fam.m * fam.d)), np.ones((k, fam.R), bool))
    expected = ws.WHOLE_ITERATIONS * (ws.WHOLE_ITERATION_OVERHEAD + ws.whole_program_flops(fam)
                                      / ws.SWITCH_FLOP_RATE)
    left = 0.9 * ws.SWITCH_TIME_MARGIN * expected
    opts = NativeOptions(whole_switch_ratio=3.0)
    assert ws._grow_to_whole(fam, state, opts, None)
    assert not ws._grow_to_whole(fam, state, opts, left)
    assert not ws._grow_to_whole(fam, state, opts, left, rate=0.5 * ws.SWITCH_FLOP_RATE)
    assert ws._grow_to_whole(fam, state, opts, left, rate=100 * ws.SWITCH_FLOP_RATE)


def test_warm_start_that_nearly_fills_the_program_starts_whole(whole_calls):
    """A warm start holding most columns (here the optimum itself, as a regularization path's
    previous point nearly is at small beta) makes the first round the whole program: one
    round, certified, at the same optimum."""
    program = _program("relu2", 3, 0.001, n=60)
    rounds = solve_native(program, ROUNDS_ONLY)
    warm = solve_native(program, replace(NO_FIRST_ROUND, whole_switch_ratio=3.0),
                        warm_start=rounds.solution)
    assert whole_calls == [family_for(program).n_columns]
    assert warm.status == "optimal" and warm.iterations == 1
    certs = [certify(program, run.solution) for run in (warm, rounds)]
    assert all(cert.holds(1e-6) for cert in certs), certs
    assert abs(certs[0].objective - certs[1].objective) <= 2e-6 * abs(certs[1].objective)


def test_switch_cost_ratio_is_the_iteration_flops():
    """``restricted_flops``: rows x d^2 plus the Gram part (N^3 / 3 up to N = 2 n, else
    n^2 N + n^3 / 3); the whole program is all columns with all their rows."""
    fam = family_for(_program("relu2", 1, 0.01, n=40))
    assert ws.restricted_flops(fam, 4, 10) == pytest.approx(12**3 / 3 + 10 * 9)
    assert ws.restricted_flops(fam, 30, 0) == pytest.approx(40**2 * 90 + 40**3 / 3)
    assert ws.whole_program_flops(fam) == ws.restricted_flops(fam, fam.n_columns,
                                                              fam.n_columns * fam.R)

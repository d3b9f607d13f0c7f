"""The native solver's time limit: one deadline read in every long loop (issue 16, point 5)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from convexbench.certificates import certify
from convexbench.data.synthetic import planted_data
from convexbench.native import NativeOptions, solve_native
from convexbench.native import cholesky as cholesky_module
from convexbench.native import deadline as deadline_module
from convexbench.native.cholesky import cholesky_lower
from convexbench.native.deadline import NEVER, Deadline, DeadlineExpired
from convexbench.native.families import family_for
from convexbench.programs import make_program


def _slow_program(model: str):
    """A program none of whose solves finishes in half a second (n = 2000, P = 1000 sampled
    patterns, beta = 1e-3 lambda_max: hundreds of active groups)."""
    X, y = planted_data(2000, 20, seed=0)
    beta = 1e-3 * float(np.abs(X.T @ y).max())
    return make_program(model, X, y, beta, patterns=1000, seed=1)


def _slow_hinge_program():
    """relu2 with the hinge loss that no restricted solve finishes in half a second."""
    X, y = planted_data(2000, 20, seed=0)
    labels = np.where(y >= np.median(y), 1.0, -1.0)
    beta = 1e-3 * float(np.abs(X.T @ labels).max())
    return make_program("relu2", X, labels, beta, patterns=1000, seed=1, loss="hinge")


def _wide_program():
    """relu2 with d = 100 > 2 n / k: the Woodbury route, whose block factors (Cholesky,
    LAPACK triangular inverses, twin products) go by pieces that read the clock."""
    X, y = planted_data(300, 100, seed=0)
    beta = 1e-3 * float(np.abs(X.T @ y).max())
    return make_program("relu2", X, y, beta, patterns=200, seed=1)


def _wide_relu3_program():
    """relu3 with m1 d = 800: each atom's price is one solve of our dense interior-point
    method (native/atom_ipm.py) of tenths of a second, a batch of them seconds."""
    X, y = planted_data(300, 400, seed=0)
    beta = 1e-3 * float(np.abs(X.T @ y).max())
    return make_program("relu3", X, y, beta, patterns=40, m1=2, seed=1)


@pytest.mark.parametrize("case", ["gated2", "relu2", "relu2 hinge", "relu2 wide",
                                  "relu3 wide"])
def test_time_limit_holds_with_a_feasible_point(case):
    """Within the limit + 2 s, status time_limit, the best feasible point seen, never worse
    than zero (the point returned when none was seen).  The hinge case goes through the
    hinge interior-point method (native/ipm_hinge.py), the wide relu2 one through the
    Woodbury route's block factors, the wide relu3 one through the pricing of its atoms."""
    program = {"relu2 hinge": _slow_hinge_program, "relu2 wide": _wide_program,
               "relu3 wide": _wide_relu3_program}.get(case, lambda: _slow_program(case))()
    limit = 0.5
    start = time.perf_counter()
    run = solve_native(program, NativeOptions(time_limit=limit))
    elapsed = time.perf_counter() - start
    assert run.status == "time_limit"
    assert elapsed <= limit + 2.0, elapsed
    for block in run.solution.values():
        assert np.all(np.isfinite(block))
    cert = certify(program, run.solution)
    assert cert.relative_violation <= 1e-6
    zero = {name: np.zeros_like(block) for name, block in run.solution.items()
            if name != "dual_hint"}
    assert cert.objective <= program.objective(zero) * (1 + 1e-12)


def test_an_expired_deadline_returns_zero_at_once():
    program = _slow_program("gated2")
    start = time.perf_counter()
    run = solve_native(program, NativeOptions(time_limit=1e-4))
    assert time.perf_counter() - start < 2.0
    assert run.status == "time_limit"
    assert not np.any(run.solution["U"])


def test_deadline_basics():
    assert not NEVER.limited and not NEVER.expired() and NEVER.left() is None
    assert list(NEVER.pieces(10, 1e30)) == [slice(0, 10)]
    past = Deadline.after(-1.0)
    assert past.expired() and past.left() < 0
    with pytest.raises(DeadlineExpired):
        past.check()
    later = Deadline.after(100.0)
    assert later.sooner(1.0).at < later.at and later.sooner(None) is later
    pieces = list(later.pieces(10, deadline_module.FIRST_PIECE_FLOPS / 4))
    assert [p.stop - p.start for p in pieces] == [4, 6]  # the body took no time: grown


@pytest.mark.parametrize("seconds_each", [1e-4, 0.01, 0.3])
def test_pieces_are_sized_by_the_time_they_take(monkeypatch, seconds_each):
    """Whatever the flop estimate says, the slices after the first take about
    PIECE_SECONDS each (a fake clock advanced by the loop body: seconds_each per item)."""
    clock = [0.0]
    monkeypatch.setattr(deadline_module.time, "perf_counter", lambda: clock[0])
    limited = Deadline(1e9)
    count = 100000
    sizes = []
    for part in limited.pieces(count, deadline_module.FIRST_PIECE_FLOPS / 50):
        sizes.append(part.stop - part.start)
        clock[0] += seconds_each * sizes[-1]
    assert sum(sizes) == count and sizes[0] == 50
    target = max(1, round(deadline_module.PIECE_SECONDS / seconds_each))
    steady = [s for s in sizes[3:-1]]  # after the growth, before the remainder
    assert steady and all(abs(s - target) <= 0.05 * target + 1 for s in steady)


def test_gram_build_reads_the_clock():
    program = _slow_program("gated2")
    fam = family_for(program)
    with pytest.raises(DeadlineExpired):
        fam.gram(np.arange(50), program.y, deadline=Deadline.after(-1.0))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_blocked_cholesky_matches_lapack(monkeypatch, dtype):
    """Under a deadline a large factorization goes by panels: same factor, the upper
    triangle untouched, and an expired deadline interrupts it."""
    monkeypatch.setattr(cholesky_module, "PIECE_FLOPS", 1e5)  # panels at this size already
    monkeypatch.setattr(cholesky_module, "_CHOLESKY_PANEL", 128)
    monkeypatch.setattr(cholesky_module, "_SURE_FLOP_RATE", 1.0)  # not "time enough for one call"
    rng = np.random.default_rng(0)
    N = 300  # three panels
    A = rng.standard_normal((N + 5, N))
    H = np.asfortranarray((A.T @ A).astype(dtype))
    M = H.copy(order="F")
    assert cholesky_lower(M, Deadline.after(100.0)) == 0
    L = np.linalg.cholesky(H.astype(np.float64))
    rtol = 1e-10 if dtype == np.float64 else 2e-3
    assert np.abs(np.tril(M) - L).max() <= rtol * np.abs(L).max()
    assert np.array_equal(np.triu(M, 1), np.triu(H, 1))
    indefinite = H.copy(order="F")
    indefinite[200, 200] = -1.0
    assert cholesky_lower(indefinite, Deadline.after(100.0)) > 0
    with pytest.raises(DeadlineExpired):
        cholesky_lower(H.copy(order="F"), Deadline.after(-1.0))


def test_hinge_ipm_returns_max_time_on_an_expired_deadline():
    from convexbench.native.ipm_hinge import WeightedGram, solve_ipm_hinge

    program = _slow_hinge_program()
    fam = family_for(program)
    cols = np.arange(10)
    which = np.zeros((len(cols), fam.R), dtype=bool)
    which[:, :5] = True
    owner, rows = fam.cone_rows(cols, which)
    blocks = fam.prediction_blocks(cols)
    gram = WeightedGram(blocks.transpose(1, 0, 2).reshape(program.n, -1))
    res = solve_ipm_hinge(gram, program.y, program.beta, fam.m, fam.d, owner, rows,
                          deadline=Deadline.after(-1.0))
    assert res.status == "MaxTime"
    assert res.x.shape == (len(cols), fam.m * fam.d) and np.all(np.isfinite(res.x))


def test_clarabel_restricted_solve_keeps_one_iteration_in_hand(monkeypatch):
    """The hinge/logistic restricted program goes to Clarabel, which reads its clock between
    iterations only (8 s each at n = 1000, N = 15680): its limit is the time left less one
    estimated iteration (n^2 N / _CLARABEL_FLOP_RATE), and it is not started when that
    leaves nothing."""
    from convexbench.native import working_set

    program = _slow_hinge_program()
    fam = family_for(program)
    cols = np.arange(10)
    owner, rows = np.zeros(0, np.int64), np.zeros((0, fam.m * fam.d))
    x0 = np.zeros((len(cols), fam.m * fam.d))
    limits = []

    def fake(A, *args, time_limit=None, **kwargs):
        limits.append(time_limit)
        return working_set.ReducedResult(x0, "Solved", 1, 0.0)

    monkeypatch.setattr(working_set, "solve_reduced_loss", fake)
    n, N = program.n, len(cols) * fam.m * fam.d
    for rate, expect_call in ((1e30, True), (n * n * N / 100.0, True), (n * n * N / 1e4, False)):
        monkeypatch.setattr(working_set, "_CLARABEL_FLOP_RATE", rate)
        limits.clear()
        res = working_set._solve_restricted_loss(
            fam, cols, program.y, "hinge", program.beta, owner, rows, 1e-8,
            Deadline.after(1000.0), working_set.NativeOptions(), x0)
        if expect_call:
            estimate = n * n * N / rate
            assert len(limits) == 1 and res.status == "Solved"
            assert 1000.0 - estimate - 1.0 < limits[0] <= 1000.0 - estimate
        else:  # 10^4 s estimated, 10^3 left: not started
            assert not limits and res.status == "MaxTime"


def test_too_large_conic_restricted_program_stops_with_a_message(monkeypatch):
    """A hinge restricted program whose dense operator would exceed
    _CLARABEL_OPERATOR_BYTES is not given to Clarabel: the solve stops at once, says why,
    and returns a feasible point (zero here), never a hang or an out-of-memory crash."""
    from convexbench.native import working_set

    monkeypatch.setattr(working_set, "_CLARABEL_OPERATOR_BYTES", 1000)
    program = _slow_hinge_program()
    start = time.perf_counter()
    run = solve_native(program, NativeOptions(hinge_ipm_max_width=0))  # Clarabel's route
    assert time.perf_counter() - start < 5.0
    assert run.status == "error"  # no answer (it was "optimal_inaccurate", which claims one)
    assert "too large" in run.message and "GB dense operator" in run.message
    cert = certify(program, run.solution)
    assert cert.relative_violation <= 1e-6

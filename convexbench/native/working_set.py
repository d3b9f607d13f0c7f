"""Column generation (working set) with cone-row generation, stopped on the certificate.

Outer loop:

1. solve the program restricted to the working-set columns and the selected cone rows
   accurately (squared loss: ``ipm.solve_ipm``, for gated ReLU after ``newton.solve_newton``
   warm-started at the previous optimum, on a float32 Gram matrix with exact products, or
   matrix-free (``gram.py``) when that matrix would outgrow 64 MB and X: image-size data,
   where every violating column then joins at once;
   ``reduced.solve_reduced``, i.e. Clarabel, on request or when the interior-point method
   fails numerically; logistic: proximal Newton, ``logistic.solve_restricted_logistic``;
   hinge: ``ipm_hinge.solve_ipm_hinge`` up to ``hinge_ipm_*`` wide; beyond, and for failed
   hinge and logistic solves: ``reduced.solve_reduced_loss``, Clarabel on the prediction
   operator);
2. add every cone row of a working-set column that the solution violates (row generation:
   at the optimum only a few of the n rows of a group are tight);
3. price ALL columns of the program against lam = -(loss gradient at the prediction), for the
   hinge loss -y alpha with the restricted program's margin multipliers alpha: columns that
   a point of their cone already prices above beta join without more work (relu2), then
   cone-free bounds ||A_c^T lam|| for all columns at once (matrix-free, vectorized), exact
   cone prices (NNLS, or an atom SOCP for relu3) in decreasing order of the bound,
   branch-and-bound style; columns priced above beta join the working set;
4. stop when no row and no column was added and the dual gap, computed from an upper bound
   on the largest exact price over all columns, is below the tolerance.

Under ``time_limit`` one ``Deadline`` (native/deadline.py) goes down to every routine that
can run long (Gram builds, factorizations, Newton, interior-point and conjugate-gradient
iterations, pricing; Clarabel gets the time left); when it passes, the solve returns the best
feasible point it has seen (restricted optima, an interrupted restricted solve's iterate, the
warm start; zero, always feasible, if none) with status ``time_limit``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np

from convexbench.arrays import lambda_max
from convexbench.certificates import default_dual_direction, failure, relative_violation
from convexbench.native import newton
from convexbench.native.deadline import NEVER, Deadline, DeadlineExpired
from convexbench.native.dense_gram import RowSamples
from convexbench.native.duality import relative_gap, scaled_dual_value
from convexbench.native.families import ColumnFamily, family_for
from convexbench.native.gram import MatrixFreeGram
from convexbench.native.ipm import solve_ipm
from convexbench.native.ipm_hinge import WeightedGram, solve_ipm_hinge
from convexbench.native.logistic import solve_restricted_logistic
from convexbench.native.mixed import mixed_gram
from convexbench.native.reduced import ReducedResult, solve_reduced, solve_reduced_loss
from convexbench.native.repair import column_scales, feasible_near, repair_seconds
from convexbench.native.threads import blas_threads
from convexbench.programs.base import DUAL_HINT, ConvexProgram, Solution


@dataclass(frozen=True)
class NativeOptions:
    tol: float = 1e-6  # the certificate's tolerance (certificates.failure) to reach
    time_limit: float | None = None
    max_outer: int = 500
    init_columns: int = 20
    max_add: int | None = None  # columns added per round (None: the family's default)
    dense_fraction: float = 0.5  # cone-free programs: when at least this fraction of the
    # columns outside the set violate after a restricted solve, all violators join (above 1:
    # never); measured uci:breast-cancer-wisc-diag gated2, beta = 1e-2 / 1e-3 lambda_max:
    # 0.53 / 0.56 -> 0.24 / 0.23 s; uci:pima at 1e-1 (28 of 100 columns active): 0.08 -> 0.13 s
    growth: float = 1.0  # ... or up to this fraction of the working set, when that is more:
    # optima with most groups active took a round per max_add columns (measured, gated2 with
    # beta = 0.5, P = 300: uci:pima 3.5 -> 1.1 s, uci:wine-quality-red 16.3 -> 4.4 s; relu2
    # on uci:pima 13.5 -> 6.5 s; the bench's sparse gated2 n=1000 optimum 0.25 -> 0.30 s).
    # 0.5 -> 1.0 at f4c224e, in process, once pricing used the restricted solve's own dual:
    # twelve relu2 / relu3 cases on six UCI sets at 1e-2 / 1e-3 lambda_max 63.4 -> 56.1 s
    # (statlog-australian-credit relu2 1e-3 7.3 -> 3.9 s, uci:steel-plates relu2 1e-3
    # 59.3 -> 39.6 s; none slower by more than 2%), five hinge / logistic cases 56.6 -> 52.4 s
    # (credit-approval relu2 hinge 1e-3 15.3 -> 16.2 s), gated2 unchanged, the bench's
    # planted relu2 n=1000 2.40 -> 2.60 s (164 -> 170 iterations)
    seed_rows: int | None = None  # cone rows per new column (default: 2 m d, at most n / 4 from
    # 16 on; 2 m d rows are nearly every row where d is large against n.  relu2, measured in
    # process: uci:musk-1 (n = 357, d = 166) at 1e-1 / 1e-2 lambda_max 29.8 -> 19.0 s and
    # 58.8 -> 45.5 s, 11304 -> 3660 rows selected in the end; uci:molec-biol-promoter
    # (d = 57) at 1e-2 10.1 -> 1.65 s; uci:spectf (d = 44) at 1e-3 3.25 -> 0.61 s; n / 8
    # made uci:ionosphere at 1e-1 take 6 rounds instead of 4)
    safety: float = 0.3  # stop at relative gap <= safety * tol (and gap + violation within
    # VIOLATION_SHARE * tol)
    price_eps: float = 0.1  # a column violates when its price exceeds beta (1 + price_eps tol)
    reduced_tol: float | None = None  # restricted-solve tolerance (default
    # min(REDUCED_TOL_MAX, REDUCED_TOL tol))
    coarse_tol: float = 0.0  # restricted tolerance while the set grows (0: fine from the start;
    # 1e-6 measured slower on relu2 n=1000: inexact duals admit extra columns)
    reduced_solver: str = "ipm"  # "ipm" (dense, one N x N array) or "clarabel"
    direct_solve_method: str | None = None  # Clarabel's linear solver, when it is used (None:
    # reduced.default_method(), faer when the build has it)
    threads: int = 1  # BLAS and Clarabel threads (1 measured faster on 2 loaded cores)
    prune: bool = True  # drop working-set columns that the restricted optimum sets to zero
    prune_rows: bool = True  # drop cone rows the restricted optimum leaves clearly inactive
    repair: bool = True  # time-limited two-layer runs: project the last restricted point onto
    # the cones (native/repair.py) and return it when it beats the best feasible point
    gated_newton: bool = True  # cone-free restricted programs: warm-started active-set Newton
    # first (native/newton.py), the interior-point method only when it fails
    mixed_precision: bool = True  # ... with its Gram matrix in float32 (native/mixed.py)
    logistic_newton: bool = True  # logistic: proximal Newton (native/logistic.py) before the
    # conic form with exponential cones
    sample_space_max_n: int = 20_000  # matrix-free (gated, image-size) Newton solves are
    # preconditioned in sample space up to this many samples: one n x n float32 array
    # (576 MB at n = 12000); beyond it, or at 0, by the exact block diagonal (memory of order
    # X and the masks, but 150-400 conjugate-gradient steps per Newton step instead of 4-6:
    # measured on Fashion-MNIST 12000 x 784, 20 columns)
    sample_ipm_losses: tuple[str, ...] = ("squared", "hinge", "logistic")  # gated ReLU with
    # these losses and at most this many samples (hinge: the second limit) is solved whole by
    # the interior-point method in sample space (native/sample_ipm.py, two n x n float64
    # arrays) instead of the working set.  Measured on uci:spambase (n = 3451, P = 100) at
    # 1e-1 / 1e-2 / 1e-3 of lambda_max: squared 6.7 / 4.2 / 5.3 s against the working set's
    # 6.1 / 3.1 s at the last two; hinge 11 / 13 / 17 s against 56 s at 1e-1 (Clarabel and
    # ECOS: over 300 s)
    sample_ipm_max_n: int = 2000
    sample_ipm_max_n_hinge: int = 4000
    hinge_ipm_max_width: int = 4000  # hinge: restricted programs up to this many variables
    hinge_ipm_width_per_sample: float = 2.5  # and this many per sample by the interior-point
    # method of native/ipm_hinge.py (one dense N x N array, n N^2 + N^3 / 3 flops per
    # iteration), wider ones and its failures by Clarabel.  Measured (one process, against
    # Clarabel for every restricted solve): relu2 / relu3 on credit-approval, ilpd-indian-liver
    # and blood, 1.5-3.2x faster; with every width credit-approval relu2 at 1e-3 took 24 s
    # against 19 s (its late working sets are wider), with this limit 16 s against 17 s
    whole_program_flops: float = 3e8  # squared-loss programs with cone rows whose whole form
    # (every column, every nonzero cone row) costs at most this many flops per interior-point
    # iteration (``whole_program_flops``), at beta <= ``whole_program_beta`` ||X^T y||_inf
    # (dense optima: many rounds), are solved whole in the first round instead of by a
    # working set grown round by round (``_whole``).  Measured in process against the working
    # set on 24 UCI sets with n <= 576, relu2 and relu3: at 1e-2 / 1e-3 of ||X^T y||_inf
    # 1.0-3.7x faster on all but acute-inflammation (0.3-0.9x, 0.05-0.3 s) and two cases
    # (vertebral-column relu2 1e-2 0.82x; relu3 1e-3 0.26x: an extra solve); at 1e-1 mostly
    # slower (0.15-1.0x, sparse optima), hence the beta condition (0: never).  The same beta
    # condition sends small gated2 programs with at least n / 2 variables straight to the
    # sample-space method (``api._dense_at_small_beta``)
    whole_program_beta: float = 0.02
    whole_switch_ratio: float = 3.0  # squared loss with cone rows: once an interior-point
    # iteration on the whole program would cost at most this many times one on the grown
    # working set (``_grow_to_whole``), the next round solves the whole program (0: never).
    # Measured in process on 18 UCI sets (n 263-750; relu2, relu3 at 1e-2 / 1e-3 of
    # ||X^T y||_inf; 72 programs, best of 2 alternating): 260.6 s -> 194.3 s in all (ratio
    # 1.5: 240.3 s); on the 26 programs where it switches 1.15-2.5x faster
    # (statlog-german-credit relu2 1e-3 11.3 -> 4.5 s), except relu3 on pima and tic-tac-toe
    # at 1e-3 (0.59x: 108-127k rows make the whole solve 61 iterations) and ionosphere relu2
    # at 1e-2 (0.87x).  A per-row cost added to the flops spared those two relu3 programs but
    # lost more elsewhere (113.4 / 121.9 s against 109.2 s on the 26)
    dense_handoff: bool = False  # cone-free programs: stop the working set as soon as a
    # pricing finds the optimum dense (``dense_fraction`` of the columns outside violate),
    # returning ``NativeRun.dense`` for the sample-space method to take over (api.py)


@dataclass
class NativeRun:
    solution: Solution
    status: str  # optimal | optimal_inaccurate | time_limit | error (no answer: ``message``)
    iterations: int  # outer iterations
    inner_iterations: int  # interior-point iterations of the restricted solves, summed
    seconds: float
    relative_gap: float
    violation: float  # relative_violation, as in the certificate
    n_columns: int
    n_rows: int  # cone rows of the restricted program whose point was last assessed
    trace: list[tuple[float, float, float]] = field(default_factory=list)  # (t, obj, viol)
    message: str = ""
    dense: bool = False  # stopped by ``NativeOptions.dense_handoff`` (not a final answer)


@dataclass
class _State:
    cols: np.ndarray
    x: np.ndarray
    which: np.ndarray  # (k, R) bool: selected cone rows

    def add(self, new_cols: np.ndarray, new_x: np.ndarray, new_which: np.ndarray) -> None:
        self.cols = np.concatenate([self.cols, new_cols])
        self.x = np.concatenate([self.x, new_x])
        self.which = np.concatenate([self.which, new_which])


# a cone row leaves the working set when the restricted optimum holds it clearly inactive:
# cosine of the angle between the row and the column above PRUNE_ROW_ANGLE (PRUNE_ROW_ANGLE_WIDE
# for columns wider than PRUNE_WIDE: there a row costs more, d^2 in a formed block, n^2 in
# row form), multiplier below PRUNE_ROW_DUAL of the largest.  Measured in process (no pruning
# / 1e-2 / 1e-1): uci:musk-1 (d = 166) relu2 1e-2 33.9 / 17.8 / 31.4 s, fashion-mnist 2v4
# n=500 (d = 784) relu2 1e-2 459 / 236 s; eleven UCI cases with d <= 100 (relu2, relu3;
# squared, hinge, logistic) 85.6 / 76.8 / 67.1 s, hill-valley relu2 1e-3 445 / 499 / 414
# iterations
PRUNE_ROW_ANGLE = 1e-1
PRUNE_ROW_ANGLE_WIDE = 1e-2
PRUNE_WIDE = 128
PRUNE_ROW_DUAL = 1e-6


def _prune_rows(fam: ColumnFamily, state: _State, duals: np.ndarray, once: np.ndarray,
                whole: bool = False) -> None:
    """Drop the cone rows the restricted optimum leaves clearly inactive (above), each at most
    once per column (``once``: (n_columns, R)), so that a row pricing or a later round needs
    again comes back for good: no cycling.  After a solve of the whole program (``whole``)
    every inactive row with a negligible multiplier goes, whatever its angle: most of its
    rows are far from mattering, and a re-solve with them all (the certificate asking for
    more accuracy) ended in NumericalError (uci:statlog-australian-credit relu2 at 1e-3
    ||X^T y||_inf: 27383 rows kept by the angle rule, 5407 without it, then certified)."""
    own, r = np.nonzero(state.which)
    if not len(own) or not np.isfinite(duals).all():
        return
    angle = PRUNE_ROW_ANGLE_WIDE if fam.m * fam.d > PRUNE_WIDE else PRUNE_ROW_ANGLE
    if whole:
        angle = 0.0
    vals = fam.cone_values(state.cols, state.x)[own, r]
    scale = fam.row_norms(state.cols)[own, r] * fam.column_norms(state.x)[own]
    drop = ((vals > angle * scale) & (duals <= PRUNE_ROW_DUAL * duals.max())
            & ~once[state.cols[own], r])
    state.which[own[drop], r[drop]] = False
    once[state.cols[own[drop]], r[drop]] = True


def _seed(fam: ColumnFamily, cols: np.ndarray, x: np.ndarray, count: int) -> np.ndarray:
    """Each column's rows whose multipliers were positive at its last exact pricing, and its
    ``count`` tightest cone rows at the points ``x`` by angle (K_c x_c over the rows' norms:
    raw values favour long rows), all-zero rows excepted (relu3's second-layer rows of
    neurons off at a sample: seeding them made the loop take 5-11 more rounds on uci:pima,
    relu3)."""
    which = np.zeros((len(cols), fam.R), dtype=bool)
    if fam.R == 0 or len(cols) == 0:
        return which
    norms = fam.row_norms(cols)
    zero = norms == 0  # no constraint at all: never worth a seat
    vals = np.where(zero, np.inf, fam.cone_values(cols, x) / np.where(zero, 1.0, norms))
    count = min(count, fam.R)
    idx = np.argpartition(vals, count - 1, axis=1)[:, :count]
    np.put_along_axis(which, idx, True, axis=1)
    for i, c in enumerate(cols):
        which[i, fam.multiplier_rows(int(c))] = True
    return which & ~zero


def whole_program_flops(fam: ColumnFamily) -> float:
    """Flops of one interior-point iteration on the whole program (every column, every cone
    row): ``restricted_flops`` of all columns with all their rows."""
    return restricted_flops(fam, fam.n_columns, fam.n_columns * fam.R)


def restricted_flops(fam: ColumnFamily, k: int, rows: int) -> float:
    """Flops of one interior-point iteration on a restricted program of k columns and
    ``rows`` cone rows: the rows' part of the Newton blocks (rows x m d x d, relu3's
    first-layer rows touching d of the m d variables) and the Gram part (N^3 / 3 dense up
    to N = 2 n, else Woodbury through n x n: n^2 N + n^3 / 3)."""
    n, md = fam.program.n, fam.m * fam.d
    N = k * md
    gram = N**3 / 3.0 if N <= 2 * n else n * n * N + n**3 / 3.0
    return float(rows) * md * fam.d + gram


def _solve_whole(program: ConvexProgram, fam: ColumnFamily, opts: NativeOptions) -> bool:
    """Whether the first round solves the whole program (``NativeOptions.whole_program_flops``):
    under a time limit only when that limit is ``WHOLE_TIME_MARGIN`` times the time the
    solve is expected to take at most (a cut first round leaves the time-limited return
    the working set's entry points, which the whole program has none of)."""
    if not _has_whole_route(fam):
        return False
    flops = whole_program_flops(fam)
    if flops > opts.whole_program_flops or not _time_allows(
            flops, opts.time_limit, WHOLE_FLOP_RATE, WHOLE_TIME_MARGIN):
        return False
    return at_small_beta(program, opts)


def _has_whole_route(fam: ColumnFamily) -> bool:
    """The programs the whole-program solve applies to: squared loss, with cone rows."""
    return fam.program.loss.name == "squared" and fam.R > 0


def _time_allows(flops: float, left: float | None, rate: float, margin: float) -> bool:
    """Whether ``left`` seconds (None: no limit) are ``margin`` times the time a whole
    program's solve is expected to take at most: ``WHOLE_ITERATIONS`` iterations of
    ``flops`` at ``rate`` flops per second plus ``WHOLE_ITERATION_OVERHEAD`` each."""
    expected = WHOLE_ITERATIONS * (WHOLE_ITERATION_OVERHEAD + flops / rate)
    return left is None or left >= margin * expected


def _grow_to_whole(fam: ColumnFamily, state: _State, opts: NativeOptions,
                   left: float | None, rate: float = 0.0) -> bool:
    """Whether the next round solves the whole program instead of the grown working set: when
    one of its iterations would cost at most ``opts.whole_switch_ratio`` times one on the
    working set (dense optima, most columns in: the rounds left would only add cone rows,
    each round a cold solve of nearly the whole program), and the time ``left`` (seconds,
    None: no limit) is ``SWITCH_TIME_MARGIN`` times the solve's expected time at ``rate``
    flops per second, the rate the last restricted solve ran at, or ``SWITCH_FLOP_RATE``
    when that is more (a cut solve leaves the best feasible point of the rounds before)."""
    if not _has_whole_route(fam) or len(state.cols) == fam.n_columns:
        return False
    if fam.n_columns * fam.R * fam.m * fam.d * 8 > WHOLE_ROW_BYTES:
        return False  # its cone rows alone would not fit (full-size Fashion-MNIST relu2: 15 GB)
    whole = whole_program_flops(fam)
    current = restricted_flops(fam, len(state.cols), int(state.which.sum()))
    return (whole <= opts.whole_switch_ratio * current
            and _time_allows(whole, left, max(rate, SWITCH_FLOP_RATE), SWITCH_TIME_MARGIN))


def at_small_beta(program: ConvexProgram, opts: NativeOptions) -> bool:
    """beta <= ``opts.whole_program_beta`` ||X^T y||_inf: where optima are dense enough for
    the whole program to beat the working set's rounds (``NativeOptions.whole_program_flops``)."""
    return program.beta <= opts.whole_program_beta * lambda_max(program.X, program.y)


def _whole(fam: ColumnFamily, state: _State) -> _State:
    """Every column (at the point of the warm start or of the grown working set where it has
    one, else zero) with every nonzero cone row: the program itself, for one restricted
    solve.  Small programs
    (``NativeOptions.whole_program_flops``) spend more on rounds than on this solve:
    measured in process, squared loss, against the working set (uci:monks-2 relu3 at 1e-2
    lambda_max 1.12 -> 0.43 s, uci:horse-colic relu3 at 1e-3 5.0 -> 1.7 s)."""
    cols = np.arange(fam.n_columns, dtype=np.int64)
    x = np.zeros((fam.n_columns, fam.m * fam.d))
    x[state.cols] = state.x
    return _State(cols, x, fam.row_norms(cols) > 0)


def _dense(fam: ColumnFamily, cheap: np.ndarray, thresh: float, in_set: np.ndarray,
           dense_fraction: float) -> bool:
    """Whether at least ``dense_fraction`` of the columns outside the set violate, by their
    ``cheap`` prices (cone-free families, where these are exact, after a restricted solve)."""
    if fam.R or not in_set.any():
        return False
    outside = ~in_set
    return np.count_nonzero(outside & (cheap > thresh)) >= dense_fraction * outside.sum()


def _price(
    fam: ColumnFamily, lam: np.ndarray, beta: float, thresh: float, in_set: np.ndarray,
    max_add: int, deadline: Deadline = NEVER, dense_fraction: float = np.inf,
) -> tuple[list[int], list[np.ndarray], float]:
    """Violating columns outside the set (at most ``max_add``), their maximizers, and an upper
    bound on the largest exact price over all columns (valid when no violator was found;
    infinite when the deadline interrupted the pricing).  Columns whose lower bound
    (``fam.lower_prices``: a point of the column's cone) exceeds the threshold join first,
    without an exact price, the largest bounds first.  The columns that survive the
    refined bound are priced exactly in batches of ``fam.price_batch`` columns in decreasing
    order of their cheap bounds (``fam.exact_prices``, one SOCP per batch for relu3; one at a
    time for the others).  A price that reads the clock (relu3's wide atoms,
    ``native/atom_ipm.py``; the NNLS of two-layer prices and of relu3's refined bounds from
    d = ``cones.WARM_NNLS_MIN_D``: seconds each at n = 12000, d = 784) stops at the deadline;
    none (in particular none that cannot be interrupted: a Clarabel SOCP) starts with less
    time left than the slowest one so far took (``fam.slowest_price``: a refined bound, or
    refined bound and exact price of a batch)."""
    cheap, grads = fam.cheap_prices(lam)
    order = np.argsort(-cheap)
    outside = ~in_set
    if _dense(fam, cheap, thresh, in_set, dense_fraction):
        # a dense optimum (cone-free prices are exact): most columns still violate after a
        # restricted solve, so growing the set by rounds only adds rounds (uci:pima gated2,
        # beta = 1e-2 lambda_max: 6 restricted solves, 49 Newton steps)
        max_add = len(cheap)
    batch = max(int(fam.price_batch), 1)
    new: list[int] = []
    dirs: list[np.ndarray] = []
    taken = np.zeros(len(cheap), dtype=bool)
    lower = fam.lower_prices(grads)
    if lower is not None:
        # sure violators (a feasible point prices them above the threshold) join without
        # an exact price, the largest lower bounds first: at n = 12000, d = 784 an exact
        # price is an NNLS of seconds, a lower bound a fraction of one product with X
        lows, points = lower
        sure = np.flatnonzero(outside & (lows > thresh * (1.0 + _SURE_MARGIN)))
        sure = sure[np.argsort(-lows[sure])][:max_add]
        new, dirs = [int(c) for c in sure], [points[c] for c in sure]
        if len(new) >= max_add:
            return new, dirs, np.inf
        taken[sure] = True  # not priced below
    best = 0.0
    skipped = 0.0  # the largest refined bound of a column that was not priced exactly
    bound = 0.0
    pending: list[int] = []  # columns past the refined bound, waiting for their batch

    def price_pending(began: float) -> None:
        nonlocal best
        prices, maximizers = fam.exact_prices(np.array(pending), grads, deadline)
        fam.slowest_price = max(fam.slowest_price, time.perf_counter() - began)
        for c, price, u in zip(pending, prices, maximizers, strict=True):
            best = max(best, float(price))
            if price > thresh and not in_set[c]:
                new.append(c)
                dirs.append(u)
        pending.clear()

    def out_of_time() -> bool:
        left = deadline.left()
        return left is not None and left <= fam.slowest_price

    try:
        for c in order:
            if out_of_time():
                return new, dirs, np.inf
            if pending and (cheap[c] <= thresh
                            or len(new) + int(outside[pending].sum()) >= max_add):
                # the batch may hold the last violators wanted: price it before going on
                price_pending(time.perf_counter())
                if out_of_time():
                    return new, dirs, np.inf
            if cheap[c] <= thresh or len(new) >= max_add:
                bound = max(best, skipped, float(cheap[c]))
                break
            if taken[c]:
                continue
            began = time.perf_counter()
            refined = fam.refined_bound(int(c), grads, deadline)
            if refined <= thresh or (in_set[c] and refined <= best):
                fam.slowest_price = max(fam.slowest_price, time.perf_counter() - began)
                skipped = max(skipped, refined)
                continue
            pending.append(int(c))
            if len(pending) >= batch:
                price_pending(began)
        else:
            if pending:
                if out_of_time():
                    return new, dirs, np.inf
                price_pending(time.perf_counter())
            bound = max(best, skipped)
    except DeadlineExpired:  # inside an exact price or a refined bound (they read the clock)
        return new, dirs, np.inf
    return new, dirs, bound


# tolerances of the working-set loop, relative to the certificate's ``tol`` unless said
ROW_TOL = 1e-2  # a cone row violated by more than ROW_TOL tol max|y| joins the program
REDUCED_TOL = 1e-3  # restricted solves to REDUCED_TOL tol ...
REDUCED_TOL_MAX = 1e-9  # ... or this, the smaller (absolute, on unit-scaled data)
REDUCED_TOL_STEP = 1e-2  # a restricted solve too coarse for the certificate: tolerance x this
REDUCED_TOL_FLOOR = 1e-13  # ... down to this
VIOLATION_SHARE = 0.9  # of the tolerance, the gap plus violation of a point the loop
# certifies (before: 0.3 for both, ``safety``: uci:hill-valley relu2 at 1e-2 lambda_max
# ended with gap 1.2e-9 and two rows violated by 8.5e-7 in all, and a 1.5 s round more of
# 8.0 s to remove them)
PRUNE_NORM = 1e-7  # columns below this fraction of the largest column norm are dropped
WHOLE_ITERATIONS = 60  # at most this many interior-point iterations (measured 24-61) ...
WHOLE_ITERATION_OVERHEAD = 0.01  # ... of at most this many seconds (measured 5-10 ms at the
WHOLE_FLOP_RATE = 2e9  # smallest programs) plus the flops at this rate (measured 2e9-1e10)
WHOLE_TIME_MARGIN = 4.0
SWITCH_FLOP_RATE = 1e10  # unless the last restricted solve ran faster: the whole programs
# the working set grew into ran at 1.0e10-3.5e10 flops per second (at 1e-3 lambda_max
# uci:pima relu3, statlog-australian-credit relu2, cylinder-bands relu2, at 1e-2
# statlog-german-credit relu2: 4.4e8 / 8.2e8 / 1.15e9 / 2.9e9 flops an iteration, 61 / 48 /
# 42 / 51 iterations in 2.6 / 1.7 / 2.2 / 4.2 s), the restricted solve before each at 0.95 /
# 1.35 / 1.8 / 1.9e10, slower every time (uci:ozone relu2 at 1e-2: 3.8e10, then 5.6e10)
SWITCH_TIME_MARGIN = 2.0
WHOLE_ROW_BYTES = 1 << 28  # the working set grows to the whole program only when its cone
# rows (every column's, m d floats each) take at most this much memory
_MIN_SEED_ROWS = 16  # the default seed's cap (n / 4) never goes below this
_SURE_MARGIN = 1e-9  # a lower bound counts above the threshold past this relative margin
_CLARABEL_FLOP_RATE = 1e9  # Clarabel's speed on a dense n x N restricted program: one
# iteration ~ n^2 N / rate seconds (measured: uci:musk-1 relu2 hinge, n = 357, N = 5478,
# 0.7 s; fashion-mnist:2v4,n=500, n = 1000, N = 15680, 8 s)
_CLARABEL_OPERATOR_BYTES = 1 << 31  # a hinge/logistic restricted program whose dense n x N
# operator is larger is not given to Clarabel (fashion-mnist:0v6,n=6000 gated2 hinge: 7.5 GB
# at 100 columns, and hours of Clarabel iterations): the solve stops with a message instead
_CLARABEL_FALLBACK_MAX = 2000  # Clarabel's KKT system on a dense N x N Gram: ~100 N^2 bytes
RETRY_REFINE = 2  # refinement steps of the interior-point method's second try, before Clarabel
_DENSE_GRAM_BYTES = 1 << 26  # a dense Gram matrix this large (or as large as X) is not built


def _matrix_free(fam: ColumnFamily, n_columns: int) -> bool:
    """Whether a gated working set of ``n_columns`` is solved matrix-free (``gram.py``):
    when its dense form, a float32 N x N Gram matrix up to N = 2 n and the n x n sample-space
    matrix beyond, would take more than 64 MB and more than X itself (full-size image data:
    N = 15680 at 20 columns of d = 784)."""
    if not (fam.R == 0 and fam.m == 1):
        return False
    N, n = n_columns * fam.d, fam.program.n
    dense = 4 * N * N if N <= 2 * n else 8 * n * n
    return dense > max(_DENSE_GRAM_BYTES, fam.X.nbytes)


def _sample_space(fam: ColumnFamily, n_columns: int, opts: NativeOptions) -> bool:
    """Whether a matrix-free working set's Newton solves are preconditioned in sample
    space (an n x n factorization per step; else by blocks, for n above
    ``opts.sample_space_max_n``)."""
    return _matrix_free(fam, n_columns) and fam.program.n <= opts.sample_space_max_n


def _solve_restricted(
    fam: ColumnFamily, cols: np.ndarray, y: np.ndarray, beta: float, owner: np.ndarray,
    rows: np.ndarray, tol: float, deadline: Deadline, opts: NativeOptions,
    x0: np.ndarray, samples: RowSamples | None = None,
) -> ReducedResult:
    """The restricted program by the dense interior-point method, or by Clarabel when asked
    to or when the interior-point method fails numerically twice (the second time with its
    directions refined from the first iteration) on a working set small enough for
    Clarabel's dense KKT system (N <= ``_CLARABEL_FALLBACK_MAX``; beyond that the method's
    best iterate is returned and the certificate of the outer loop judges it); Clarabel gets
    the N x N Gram matrix, or the n x N prediction operator for working sets wider than 2 n.
    ``x0`` (k, m d) is the previous restricted optimum padded with zero rows for the new
    columns.  Status ``MaxTime`` once ``deadline`` has passed in a solve (``DeadlineExpired``
    from a Gram build)."""
    gram = None
    if opts.reduced_solver == "ipm" and opts.gated_newton and _matrix_free(fam, len(cols)):
        # products from X and the masks only; no fallback builds the dense form: a failed
        # Newton solve returns its last iterate for the outer loop's certificate to judge
        free = MatrixFreeGram(fam.X, fam.row_weights(cols))
        if _sample_space(fam, len(cols), opts):
            free.sample = fam.sample_gram
        return newton.solve_newton(free, fam.adjoint(cols, y), beta, fam.d, x0, tol=tol,
                                   deadline=deadline)
    if opts.reduced_solver == "ipm":
        tried = None
        if opts.gated_newton and newton.applies(fam, len(cols)):
            # cone-free (gated): a Newton method warm-started at the previous optimum (from
            # zero on the first round: measured faster than the interior-point method there
            # too, 14 vs 23 ms on gated2 n=1000 d=20 P=500), on H in float32 when
            # ``mixed_precision`` (half the memory; exact products, refined solves; the
            # interior-point fallback then needs its own float64 H)
            if opts.mixed_precision:
                newton_gram, Aty = mixed_gram(fam, cols, y, deadline=deadline)
            else:
                gram, Aty = fam.gram(cols, y, deadline=deadline)
                newton_gram = gram
            tried = newton.solve_newton(newton_gram, Aty, beta, fam.d, x0, tol=tol,
                                        deadline=deadline)
            del newton_gram
            if tried.ok or tried.status == "MaxTime":
                return tried
        if gram is None:
            gram, Aty = fam.gram(cols, y, deadline=deadline)
        res = solve_ipm(gram, Aty, beta, fam.m, fam.d, owner, rows, tol=tol,
                        deadline=deadline, samples=samples)
        if not (res.ok or res.status == "MaxTime") and gram.size <= _CLARABEL_FALLBACK_MAX:
            # refined directions from the first iteration on (``ipm.REFINE_FROM``) before
            # Clarabel, which costs 10x more (uci:pima relu2 at 1e-3 lambda_max: 19 s)
            again = solve_ipm(gram, Aty, beta, fam.m, fam.d, owner, rows, tol=tol,
                              deadline=deadline, samples=samples, refine=RETRY_REFINE,
                              refine_from=np.inf)
            res = replace(again, iterations=again.iterations + res.iterations,
                          seconds=again.seconds + res.seconds)
        if tried is not None:  # count the failed attempt's work too
            res = replace(res, iterations=res.iterations + tried.iterations,
                          seconds=res.seconds + tried.seconds)
        if res.ok or res.status == "MaxTime" or gram.size > _CLARABEL_FALLBACK_MAX:
            return res
    n, width = fam.program.n, len(cols) * fam.m * fam.d
    if width > 2 * n and n * width * 8 <= _CLARABEL_OPERATOR_BYTES:
        # wider than the data has rows: Clarabel on the n x N prediction operator (n dense
        # rows) instead of the dense N x N Gram matrix (uci:ilpd-indian-liver relu2 at 1e-3
        # ||X^T y||_inf, N = 1449, n = 437: 5.4 -> 1.9 s)
        return _solve_restricted_loss(fam, cols, y, "squared", beta, owner, rows, tol,
                                      deadline, opts, x0)
    if gram is None:
        gram, Aty = fam.gram(cols, y, deadline=deadline)
    H = gram.full()
    del gram
    left = deadline.left()
    if left is not None and left <= 0:
        return ReducedResult(x0, "MaxTime", 0, 0.0)
    return solve_reduced(H, Aty, beta, fam.m, fam.d, owner, rows, tol=tol,
                         time_limit=left, direct_solve_method=opts.direct_solve_method,
                         threads=opts.threads)


def _solve_restricted_loss(
    fam: ColumnFamily, cols: np.ndarray, y: np.ndarray, loss: str, beta: float,
    owner: np.ndarray, rows: np.ndarray, tol: float, deadline: Deadline,
    opts: NativeOptions, x0: np.ndarray,
) -> ReducedResult:
    """The restricted program with the hinge or logistic loss (no Gram form for these
    losses), or the squared loss on a working set wider than 2 n, by Clarabel on the n x N
    prediction operator of the working set, with the time
    left before ``deadline``, less the estimated time of one of its iterations, as
    Clarabel's limit (not started when less is left).  Status ``TooLarge`` (not started)
    when that operator would exceed ``_CLARABEL_OPERATOR_BYTES``."""
    n, width = fam.program.n, len(cols) * fam.m * fam.d
    if n * width * 8 > _CLARABEL_OPERATOR_BYTES:
        return ReducedResult(x0, "TooLarge", 0, 0.0)
    left = deadline.left()
    if left is not None:
        # Clarabel reads its clock between iterations only: keep one iteration's time in hand
        # (decided before the n x N operator is built: 7.5 GB for fashion-mnist:0v6,n=6000
        # gated2 with 100 columns, 43 s to allocate)
        left -= n * n * width / _CLARABEL_FLOP_RATE
        if left <= 0:
            return ReducedResult(x0, "MaxTime", 0, 0.0)
    A = _prediction_operator(fam, cols)
    return solve_reduced_loss(A, y, loss, beta, fam.m, fam.d, owner, rows, tol=tol,
                              time_limit=left,
                              direct_solve_method=opts.direct_solve_method,
                              threads=opts.threads)


def _prediction_operator(fam: ColumnFamily, cols: np.ndarray) -> np.ndarray:
    """The working set's n x N prediction operator A (columns' blocks side by side)."""
    blocks = fam.prediction_blocks(cols)  # (k, n, md)
    return blocks.transpose(1, 0, 2).reshape(blocks.shape[1], -1)


def solve_working_set(
    program: ConvexProgram, options: NativeOptions | None = None,
    warm_start: Solution | None = None,
) -> NativeRun:
    """Solve a program (squared, hinge or logistic loss) to the certificate's tolerance (see
    the module doc), with ``options.threads`` BLAS threads."""
    opts = options or NativeOptions()
    with blas_threads(opts.threads):
        return _working_set(program, opts, warm_start)


def _working_set(program: ConvexProgram, opts: NativeOptions, warm_start: Solution | None
                 ) -> NativeRun:
    start = time.perf_counter()
    fam = family_for(program)
    y, beta, loss = program.y, program.beta, program.loss
    md = fam.m * fam.d
    # cone rows violated by more than this (in prediction units) join the restricted program
    y_scale = float(np.max(np.abs(y)))
    row_tol = ROW_TOL * opts.tol * (y_scale if y_scale > 0 else 1.0)
    seed_rows = opts.seed_rows or min(2 * md, max(_MIN_SEED_ROWS, program.n // 4))
    fine_tol = opts.reduced_tol or min(REDUCED_TOL_MAX, opts.tol * REDUCED_TOL)
    # while columns are still being added, a coarser restricted solve prices well enough
    reduced_tol = max(fine_tol, min(opts.coarse_tol, opts.tol))
    thresh = beta * (1.0 + opts.price_eps * opts.tol)
    per_round = opts.max_add or fam.default_max_add

    deadline = Deadline.after(opts.time_limit, start)

    def elapsed() -> float:
        return time.perf_counter() - start

    best: tuple[float, Solution, float, float] | None = None  # (obj, solution, gap, viol)

    def consider(cols: np.ndarray, x: np.ndarray) -> None:
        """Keep (cols, x) as ``best`` when it is finite, feasible and better (a point that
        was not a restricted optimum: the warm start, an interrupted solve's iterate)."""
        nonlocal best
        if not np.all(np.isfinite(x)):
            return
        objective, violation = _assess(program, fam, cols, x)[1::2]
        if violation <= opts.tol and (best is None or objective < best[0]):
            best = (objective, fam.to_solution(cols, x), np.inf, violation)

    if warm_start is not None:
        cols, x = fam.from_solution(warm_start)
        state = _State(cols, x, _seed(fam, cols, x, seed_rows))
        if deadline.limited:
            consider(cols, x)
    else:
        state = _State(np.zeros(0, np.int64), np.zeros((0, md)), np.zeros((0, fam.R), bool))
    # the next solve is of the whole program: a small one at small beta, or one that a warm
    # start (the previous optimum along a regularization path) already nearly fills
    whole = _solve_whole(program, fam, opts) or (
        len(state.cols) > 0 and _grow_to_whole(fam, state, opts, deadline.left()))
    pruned_whole = False  # the point assessed: a whole program's, its rows then pruned
    if whole:
        state = _whole(fam, state)
    trace: list[tuple[float, float, float]] = []
    pruned_rows: dict[int, np.ndarray] = {}  # cone rows of each column pruned once
    inactive_dropped = np.zeros((fam.n_columns, fam.R), dtype=bool)  # rows pruned once
    inner = 0
    status, message = "optimal_inaccurate", "outer iteration limit"
    rel_gap, violation = np.inf, 0.0
    need_solve = len(state.cols) > 0
    solved_rows = int(state.which.sum())
    solver_direction: np.ndarray | None = None
    rate = 0.0  # flops per second of the last restricted solve (restricted_flops' model)
    interrupted: np.ndarray | None = None  # the iterate of a restricted solve cut short
    entered_along: dict[int, np.ndarray] = {}  # the pricing's point of each column added
    it = 0
    while it < opts.max_outer:
        it += 1
        if need_solve:
            if deadline.expired():
                status, message = "time_limit", "time limit reached"
                break
            kept = int(state.which.sum())  # the rows of this solve (it does not change them)
            tic, flops = time.perf_counter(), restricted_flops(fam, len(state.cols), kept)
            try:
                res = _solve_state(fam, state, y, beta, loss.name, reduced_tol, deadline, opts)
                rate = flops * res.iterations / max(time.perf_counter() - tic, 1e-9)
            except DeadlineExpired:  # in a Gram build: no iterate of the restricted program
                status, message = "time_limit", "time limit reached in the reduced solve"
                break
            inner += res.iterations
            if res.status == "TooLarge":
                width = len(state.cols) * md
                status = "error"  # no answer: not an inaccurate optimum
                message = (f"the restricted {loss.name} program ({program.n} x {width}) is too "
                           f"large for this solver: its conic form needs a "
                           f"{program.n * width * 8 / 2**30:.1f} GB dense operator")
                break
            if res.status == "MaxTime":
                if deadline.limited:  # the interrupted solve's iterate, if feasible and better
                    consider(state.cols, res.x)
                    interrupted = res.x
                status, message = "time_limit", "time limit reached in the reduced solve"
                if not deadline.expired():  # Clarabel, not started: one iteration > time left
                    message = "the restricted solve could not finish before the time limit"
                break
            solver_direction = res.direction
            if solver_direction is None:
                # the loss gradient at the solve's own point, before the pruning below: the
                # interior-point method leaves tiny columns (1e-6 .. 1e-5 of the largest
                # norm), and dropping them moved the residual enough to price columns of
                # the set at 12.5 beta (uci:hill-valley relu2 at 1e-3 lambda_max, round 3;
                # every price <= beta to 1e-8 at the unpruned point): a certificate gap of
                # 4e-2 and spurious columns, 15 rounds
                solver_direction = default_dual_direction(program,
                                                          fam.predict(state.cols, res.x))
            state.x = res.x
            if opts.prune_rows and res.ok and res.row_duals is not None:
                _prune_rows(fam, state, res.row_duals, inactive_dropped, whole)
            # a whole program pruned to its relevant rows: a different, better-conditioned
            # program, re-solved at the same tolerance if the certificate asks for more
            pruned_whole = whole and int(state.which.sum()) < kept
            whole = False
        if need_solve and opts.prune and len(state.cols):
            # drop columns the restricted optimum sets to zero, each at most once, and keep
            # their cone rows: pruning a column that pricing brings back, without its rows,
            # made the loop cycle (measured on uci:mammographic, relu3)
            norms = fam.column_norms(state.x)
            zero = norms <= PRUNE_NORM * float(norms.max())
            drop = zero & ~np.isin(state.cols, list(pruned_rows))
            for c, rows_c in zip(state.cols[drop], state.which[drop], strict=True):
                pruned_rows[int(c)] = np.flatnonzero(rows_c)
            state = _State(state.cols[~drop], state.x[~drop], state.which[~drop])
        z, objective, vals, violation = _assess(program, fam, state.cols, state.x)
        # the dual direction (the loss gradient; hinge: -y alpha from the restricted duals,
        # since the subgradient at margins exactly 1 is ambiguous)
        direction = (solver_direction if solver_direction is not None
                     else default_dual_direction(program, z))
        solved_rows = int(state.which.sum())  # the rows of the point assessed
        added_rows = 0
        if vals is not None:
            fresh = (vals < -row_tol) & ~state.which
            del vals  # (k, n): not kept through pricing and the next restricted solve
            added_rows = int(fresh.sum())
            state.which |= fresh
        trace.append((elapsed(), objective, violation))
        in_set = np.zeros(fam.n_columns, dtype=bool)
        in_set[state.cols] = True
        max_add = (opts.init_columns if len(state.cols) == 0
                   else max(per_round, int(opts.growth * len(state.cols))))
        if _sample_space(fam, len(state.cols) + max_add, opts):
            # a restricted Newton step costs one n x n factorization whatever the width:
            # every violator joins at once (full-size Fashion-MNIST gated2: 5 rounds -> 1)
            max_add = fam.n_columns
        if opts.dense_handoff and _dense(fam, fam.cheap_prices(-direction)[0], thresh, in_set,
                                         opts.dense_fraction):
            return NativeRun(fam.to_solution(state.cols, state.x), "optimal_inaccurate", it,
                             inner, elapsed(), np.inf, float(violation), len(state.cols), 0,
                             trace, "dense optimum: handed over", dense=True)
        new, dirs, bound = _price(fam, -direction, beta, thresh, in_set, max_add, deadline,
                                  opts.dense_fraction)
        feasible = violation <= opts.tol
        if not new and feasible:
            rel_gap = relative_gap(objective,
                                   scaled_dual_value(loss, y, beta, direction, bound))
        if feasible and (best is None or objective < best[0]):
            # every feasible restricted point is feasible for the full program: keep the best
            # one for a time-limited return
            gap = rel_gap if not new else np.inf
            best = (objective, _with_hint(fam.to_solution(state.cols, state.x),
                                          solver_direction), gap, violation)
        if new:
            new_cols = np.array(new, dtype=np.int64)
            new_x = np.zeros((len(new), md))
            new_which = _seed(fam, new_cols, np.array(dirs), seed_rows)
            for i, c in enumerate(new):
                new_which[i, pruned_rows.get(c, [])] = True
                entered_along[c] = dirs[i]
            state.add(new_cols, new_x, new_which)
            if _grow_to_whole(fam, state, opts, deadline.left(), rate):
                state = _whole(fam, state)
                whole = True
        # the gap with a margin (``safety``, on both sides: the final certificate prices
        # exactly and may differ in rounding), the violation to VIOLATION_SHARE of the
        # tolerance (the final certificate computes the same quantity from the same point)
        certified = (not new and feasible and abs(rel_gap) <= opts.safety * opts.tol
                     and failure(rel_gap, violation, VIOLATION_SHARE * opts.tol) is None)
        if certified:  # cone rows violated within the certificate's tolerance need no round
            # more (uci:ozone relu2 at 1e-1 lambda_max: one row, relative violation 2.9e-8,
            # cost a 16 s restricted solve of 85 s)
            status, message = "optimal", ""
            break
        if not new and added_rows == 0:
            if reduced_tol <= REDUCED_TOL_FLOOR * (1.0 + 1e-6):  # 1e-9 * 1e-2 * 1e-2 is not
                # <= 1e-13 in floating point: one more round at 1e-15 followed, NumericalError
                # (uci:statlog-australian-credit relu2 at 1e-3 lambda_max: 0.7 s of 7.6)
                message = "reduced problem at its accuracy floor"
                break
            # the restricted solve was not accurate enough for the certificate
            if not pruned_whole:
                reduced_tol = (fine_tol if reduced_tol > fine_tol
                               else reduced_tol * REDUCED_TOL_STEP)
        need_solve = True
        if deadline.expired():
            status, message = "time_limit", "time limit reached"
            break
    if status == "time_limit" and opts.repair and len(state.cols):
        # the last restricted optimum and the interrupted solve's iterate violate rows
        # outside the working set: their projections onto the cones are feasible
        until = start + float(opts.time_limit) + repair_seconds(float(opts.time_limit))
        # ... and, for a solve cut short before its first restricted optimum (full-size
        # Fashion-MNIST relu2 at T = 60 s), the directions along which the columns entered
        # (points of their cones from pricing), each scaled to lower the objective
        along = np.array([entered_along.get(int(c), np.zeros(md)) for c in state.cols])
        for x in (state.x, interrupted, along):
            if x is None or not np.any(x):  # zero (a first round cut short): nothing to fix
                continue
            fixed = feasible_near(fam, loss, y, beta, state.cols, x, until)
            if fixed is None:  # no projection (relu3): scaled as it is, kept if feasible
                # (the entry points are: pricing maximizers satisfy every cone row)
                fixed = x * column_scales(fam, loss, y, beta, state.cols, x, until)[:, None]
            consider(state.cols, fixed)
    if status == "time_limit" and best is None:  # zero is always feasible
        solution = fam.to_solution(np.zeros(0, np.int64), np.zeros((0, md)))
        rel_gap, violation = np.inf, 0.0
    elif status == "optimal" or best is None:
        solution = _with_hint(fam.to_solution(state.cols, state.x), solver_direction)
    else:
        solution, rel_gap, violation = best[1], best[2], best[3]
    return NativeRun(solution, status, it, inner, elapsed(), float(rel_gap), float(violation),
                     len(state.cols), solved_rows, trace, message)


def _solve_state(fam: ColumnFamily, state: _State, y: np.ndarray, beta: float, loss: str,
                 tol: float, deadline: Deadline, opts: NativeOptions) -> ReducedResult:
    """The program restricted to the working set (its columns and selected cone rows),
    from the current point ``state.x``, by the solver for its loss (module doc, step 1).
    The solver's multipliers of the cone rows, when it gives them, become the columns'
    Lagrangian bounds for the next pricing (``ColumnFamily.remember_multipliers``)."""
    owner, rows = fam.cone_rows(state.cols, state.which)
    res = _solve_rows(fam, state, y, beta, loss, owner, rows, tol, deadline, opts,
                      fam.cone_row_samples(state.cols, state.which))
    if res.row_duals is not None and res.ok:
        fam.remember_multipliers(state.cols, owner, rows, res.row_duals)
    return res


def _solve_rows(fam: ColumnFamily, state: _State, y: np.ndarray, beta: float, loss: str,
                owner: np.ndarray, rows: np.ndarray, tol: float, deadline: Deadline,
                opts: NativeOptions, samples: RowSamples | None = None) -> ReducedResult:
    """``_solve_state`` given the working set's cone rows (owner, rows; ``samples``: the
    same rows as signed rows of X, when they are)."""
    if loss == "squared":
        return _solve_restricted(fam, state.cols, y, beta, owner, rows, tol, deadline, opts,
                                 state.x, samples)
    tried = None  # our own method for the loss, when it applies
    width = len(state.cols) * fam.m * fam.d
    if loss == "logistic" and opts.logistic_newton:
        tried = solve_restricted_logistic(fam, state.cols, y, beta, owner, rows, state.x, tol,
                                          mixed=opts.mixed_precision, deadline=deadline)
    elif loss == "hinge" and width <= min(opts.hinge_ipm_max_width,
                                          opts.hinge_ipm_width_per_sample * fam.program.n):
        tried = solve_ipm_hinge(WeightedGram(_prediction_operator(fam, state.cols)), y, beta,
                                fam.m, fam.d, owner, rows, tol=tol, deadline=deadline)
    if tried is not None and (tried.ok or tried.status == "MaxTime"):
        return tried
    # the conic form (Clarabel), counting a failed attempt's work
    res = _solve_restricted_loss(fam, state.cols, y, loss, beta, owner, rows, tol, deadline,
                                 opts, state.x)
    return res if tried is None else replace(res, iterations=res.iterations + tried.iterations)


def _assess(program: ConvexProgram, fam: ColumnFamily, cols: np.ndarray, x: np.ndarray
            ) -> tuple[np.ndarray, float, np.ndarray | None, float]:
    """(prediction z, objective, cone values (k, R) or None without cone rows, relative
    violation as in the certificate) of the point (cols, x)."""
    y, loss = program.y, program.loss
    z = fam.predict(cols, x)
    objective = loss.value(z, y) + program.beta * float(fam.column_norms(x).sum())
    if not (fam.R and len(cols)):
        return z, objective, None, 0.0
    vals = fam.cone_values(cols, x)
    # the certificate's measure: the per-sample sum of violations (R = layers x n rows per
    # column) bounds how far they move the network's objective
    per_row = np.maximum(-vals, 0.0).reshape(len(cols), -1, program.n).sum(axis=(0, 1))
    return z, objective, vals, relative_violation(loss, z, y, objective, per_row)


def _with_hint(solution: Solution, direction: np.ndarray | None) -> Solution:
    """The solution with the restricted solve's dual direction as its certificate hint."""
    if direction is not None:
        solution[DUAL_HINT] = direction
    return solution

"""Entry points of the native solver: one program, or a decreasing beta path with warm starts."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from convexbench.names import LOSSES
from convexbench.native.group_lasso import fista_gated
from convexbench.native.row_space import row_space
from convexbench.native.sample_ipm import solve_gated_in_sample_space, use_sample_ipm
from convexbench.native.working_set import (
    NativeOptions,
    NativeRun,
    at_small_beta,
    solve_working_set,
)
from convexbench.programs.base import ConvexProgram, Solution
from convexbench.programs.gated2 import GatedRelu2Program
from convexbench.programs.relu2 import Relu2Program
from convexbench.programs.relu3 import Relu3Program
from convexbench.programs.scaling import from_scaled, to_scaled, trace_from_scaled, unit_scaled

METHODS = ("working_set", "fista")


def unsupported_reason(program: ConvexProgram, method: str = "working_set") -> str | None:
    """None when the native solver handles ``program``, else why not."""
    if not isinstance(program, (Relu2Program, GatedRelu2Program, Relu3Program)):
        return f"native: unknown program type {type(program).__name__}"
    if program.loss.name not in LOSSES:
        return (f"native: the {program.loss.name} loss is not supported (supported: "
                f"{', '.join(LOSSES)}); use a conic backend such as clarabel")
    if method not in METHODS:
        return f"native: unknown method {method!r}; choose one of {', '.join(METHODS)}"
    if method == "fista" and not isinstance(program, GatedRelu2Program):
        return "native: method 'fista' solves gated ReLU (gated2) only"
    return None


def solve_native(
    program: ConvexProgram, options: NativeOptions | None = None,
    warm_start: Solution | None = None, method: str = "working_set",
) -> NativeRun:
    """Solve ``program`` to ``options.tol`` (relative gap and violation of the certificate).

    The solver works on the program rescaled to unit data (``programs.scaling.unit_scaled``),
    so that its internal tolerances mean the same at every scale of X, y and beta; the
    solution and the trace come back in the program's own units.
    """
    reason = unsupported_reason(program, method)
    if reason:
        raise ValueError(reason)
    opts = options or NativeOptions()
    scaled, a, c = unit_scaled(program)
    if scaled is not program:
        if warm_start is not None:
            warm_start = to_scaled(warm_start, a, c)
        run = _solve_in_row_space(scaled, opts, warm_start, method)
        run.solution = from_scaled(run.solution, a, c)
        run.trace = trace_from_scaled(run.trace, c)
        return run
    return _solve_in_row_space(program, opts, warm_start, method)


def _solve_in_row_space(program: ConvexProgram, opts: NativeOptions,
                        warm_start: Solution | None, method: str) -> NativeRun:
    """``_solve`` on the program reduced to the row space of its data when it has more
    features than samples (``row_space.py``: the same optimum in r = rank X <= n dimensions
    instead of d; measured in process, relu2 at 1e-2 of ||X^T y||_inf: uci:trains, d = 29 ->
    7, 3.4x faster; uci:lung-cancer, d = 56 -> 23, 4.1x; Fashion-MNIST 0v6 at 250 images per
    class, raw pixels, d = 784 -> 499, 1.34x, gated2 2.0x)."""
    start = time.perf_counter()
    space = row_space(program, opts.time_limit)
    if space is None:
        return _solve(program, opts, warm_start, method)
    if opts.time_limit is not None:  # the SVD (n^2 d flops) counts against the limit
        opts = replace(opts, time_limit=opts.time_limit - (time.perf_counter() - start))
    if warm_start is not None:
        warm_start = space.to_reduced(warm_start)
    run = _solve(space.reduce(program), opts, warm_start, method)
    run.solution = space.from_reduced(run.solution)
    return run


def _solve(program: ConvexProgram, opts: NativeOptions, warm_start: Solution | None,
           method: str) -> NativeRun:
    if method == "fista":
        assert isinstance(program, GatedRelu2Program)
        U0 = None if warm_start is None else warm_start["U"]
        run = fista_gated(program.X, program.y, program.masks, program.beta,
                          tol=opts.safety * opts.tol, time_limit=opts.time_limit, U0=U0)
        return NativeRun({"U": run.U}, run.status, run.iterations, 0, run.seconds,
                         run.relative_gap, 0.0, program.n_active({"U": run.U}), 0, run.trace)
    if use_sample_ipm(program, opts):
        assert isinstance(program, GatedRelu2Program)
        return _working_set_then_sample_space(program, opts, warm_start)
    return solve_working_set(program, opts, warm_start=warm_start)


def _working_set_then_sample_space(program: GatedRelu2Program, opts: NativeOptions,
                                   warm_start: Solution | None) -> NativeRun:
    """The working set until a pricing finds the optimum dense, then the sample-space
    interior-point method on the whole program (with the time left).

    After the first restricted solve (20 columns) either few columns outside violate and
    the working set finishes in a few cheap rounds (the bench's planted gated2 n = 600,
    P = 150: 0.054 s against 0.116 s), or most do and every further round costs more than
    the whole sample-space solve (uci:pima at 1e-2 lambda_max: 0.25 s against 0.075 s).
    When that first restricted program is wider than the data has rows (init_columns * d >
    n), it alone costs about what the sample-space solve does (uci:ionosphere, d = 33:
    0.067 s with it, 0.04 s without), so the sample-space method starts at once."""
    start = time.perf_counter()
    if (opts.init_columns * program.d > program.n or program.loss.name == "hinge"
            or _dense_at_small_beta(program, opts)):
        # (hinge: the working set's restricted programs are Clarabel's, slower than the
        # whole sample-space solve from the first round on)
        return solve_gated_in_sample_space(program, opts)
    first = solve_working_set(program, replace(opts, dense_handoff=True), warm_start)
    if not first.dense:
        return first
    left = None if opts.time_limit is None else opts.time_limit - (time.perf_counter() - start)
    run = solve_gated_in_sample_space(program, replace(opts, time_limit=left))
    run.seconds = time.perf_counter() - start
    run.iterations += first.iterations
    run.trace = first.trace + [(first.seconds + t, f, v) for t, f, v in run.trace]
    return run


def _dense_at_small_beta(program: GatedRelu2Program, opts: NativeOptions) -> bool:
    """Whether the sample-space method starts at once because the optimum is surely dense:
    beta <= ``opts.whole_program_beta`` ||X^T y||_inf with at least n / 2 variables (P d).
    The working set's first round then only delays the handoff (measured in process,
    squared loss, 1e-2 / 1e-3 of ||X^T y||_inf on 14 UCI sets with n <= 1902: 1.02-1.9x
    faster, congressional-voting 3.2x; with fewer variables the working set can finish on
    its own: uci:titanic, d = 3, n = 1650, 0.31 s against 0.61 s, hence the second
    condition)."""
    return program.n_groups * program.d >= program.n / 2 and at_small_beta(program, opts)


def solve_path(
    program_factory: Callable[[float], ConvexProgram], betas: Sequence[float],
    options: NativeOptions | None = None, method: str = "working_set",
) -> list[NativeRun]:
    """Solve ``program_factory(beta)`` for each beta (sort them decreasing for the best warm
    starts), each run warm-started from the previous solution."""
    runs: list[NativeRun] = []
    previous: Solution | None = None
    opts = options or NativeOptions()
    for beta in betas:
        run = solve_native(program_factory(float(beta)), replace(opts), previous, method)
        runs.append(run)
        previous = run.solution
    return runs

"""Convex training end to end: data -> program -> backend -> certified result -> network.

This is the Python API behind ``convexbench solve`` and the experiments.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from convexbench.arrays import accuracy, is_pm1
from convexbench.backends import SolveResult, solve
from convexbench.backends.registry import accepts_warm_start
from convexbench.errors import UserError
from convexbench.names import DEFAULT_PRESET
from convexbench.programs import make_program
from convexbench.programs.base import ConvexProgram, Solution


@dataclass(frozen=True)
class ConvexTraining:
    """A certified convex training run and the network it reconstructs."""

    program: ConvexProgram
    result: SolveResult
    network: Any | None
    record: dict[str, Any] = field(default_factory=dict)


def train_convex(
    X: np.ndarray,
    y: np.ndarray,
    model: str = "relu2",
    beta: float = 1e-2,
    loss: str = "squared",
    patterns: str | int = 100,
    m1: int = 2,
    form: str = "A",
    seed: int = 0,
    backend: str = "clarabel",
    accuracy_preset: str = DEFAULT_PRESET,
    time_limit: float | None = None,
    X_test: np.ndarray | None = None,
    y_test: np.ndarray | None = None,
    limit: int | None = None,
    refine_rounds: int = 0,
    refine_new: int = 100,
    warm_start: Solution | None = None,
    **solve_options: Any,
) -> ConvexTraining:
    """Build the program, solve it with ``backend``, certify it and reconstruct the network.

    With ``refine_rounds`` > 0 (sampled patterns or atoms), column generation follows:
    patterns (atoms) whose dual price exceeds beta are searched for
    (:mod:`convexbench.programs.pricing`), up to ``refine_new`` are added to the active ones
    and the program is solved again, until no violator is found or the rounds are spent.

    ``warm_start``: a solution of the same program at another beta (same data, patterns and
    seed), e.g. the previous point of a regularization path; backends that accept warm
    starts (native) start from it, the others solve cold.  See :func:`train_convex_path`.
    """
    start = time.perf_counter()
    kwargs = {} if limit is None else {"limit": limit}
    program = make_program(
        model, X, y, beta, loss=loss, patterns=patterns, m1=m1, form=form, seed=seed, **kwargs
    )
    groups_seconds = time.perf_counter() - start
    return _train_program(
        program, start, groups_seconds, patterns=patterns, seed=seed, backend=backend,
        accuracy_preset=accuracy_preset, time_limit=time_limit, X_test=X_test, y_test=y_test,
        refine_rounds=refine_rounds, refine_new=refine_new, warm_start=warm_start,
        **solve_options)


def train_convex_path(
    X: np.ndarray,
    y: np.ndarray,
    betas: Sequence[float],
    model: str = "relu2",
    loss: str = "squared",
    patterns: str | int = 100,
    m1: int = 2,
    form: str = "A",
    seed: int = 0,
    backend: str = "clarabel",
    accuracy_preset: str = DEFAULT_PRESET,
    time_limit: float | None = None,
    X_test: np.ndarray | None = None,
    y_test: np.ndarray | None = None,
    limit: int | None = None,
    warm_starts: bool = True,
    **solve_options: Any,
) -> list[ConvexTraining]:
    """A regularization path: one certified :func:`train_convex` run per beta, in decreasing
    order of beta, on one program (the patterns or atoms are built once).

    With a backend that accepts warm starts (native) and ``warm_starts``, each solve starts
    from the previous beta's solution (the optimum grows denser as beta falls, so the
    previous working set is a good start); other backends solve each beta cold.  Every run
    is certified on its own.  ``time_limit`` holds for each solve.  Each record gets
    ``path_index`` and ``warm_started``.
    """
    betas = sorted((float(b) for b in betas), reverse=True)
    if not betas:
        raise UserError("a regularization path needs at least one beta")
    start = time.perf_counter()
    kwargs = {} if limit is None else {"limit": limit}
    base = make_program(
        model, X, y, betas[0], loss=loss, patterns=patterns, m1=m1, form=form, seed=seed,
        **kwargs
    )
    groups_seconds = time.perf_counter() - start
    runs: list[ConvexTraining] = []
    previous: Solution | None = None
    for index, beta in enumerate(betas):
        program = base if index == 0 else _with_beta(base, beta)
        tic = time.perf_counter()
        training = _train_program(
            program, tic - (groups_seconds if index == 0 else 0.0),
            groups_seconds if index == 0 else 0.0, patterns=patterns, seed=seed,
            backend=backend, accuracy_preset=accuracy_preset, time_limit=time_limit,
            X_test=X_test, y_test=y_test, warm_start=previous if warm_starts else None,
            **solve_options)
        training.record["path_index"] = index
        training.record["warm_started"] = bool(
            previous is not None and warm_starts and accepts_warm_start(backend))
        runs.append(training)
        solution = training.result.solution
        previous = solution if solution is not None and training.result.verified else previous
    return runs


def _with_beta(program: ConvexProgram, beta: float) -> ConvexProgram:
    """The same program (data, patterns or atoms, loss) at another beta."""
    if not np.isfinite(beta) or beta <= 0:
        raise UserError(f"beta must be a positive number, got {beta}")
    other = copy.copy(program)
    other.beta = float(beta)
    return other


def _train_program(
    program: ConvexProgram,
    start: float,
    groups_seconds: float,
    patterns: str | int,
    seed: int,
    backend: str,
    accuracy_preset: str,
    time_limit: float | None,
    X_test: np.ndarray | None,
    y_test: np.ndarray | None,
    refine_rounds: int = 0,
    refine_new: int = 100,
    warm_start: Solution | None = None,
    **solve_options: Any,
) -> ConvexTraining:
    """Solve a built program, refine, certify and describe it (see :func:`train_convex`)."""
    result = solve(
        program, backend=backend, accuracy=accuracy_preset, time_limit=time_limit,
        warm_start=warm_start, **solve_options
    )
    refinement: dict[str, Any] = {}
    if refine_rounds > 0 and not program.exact_groups:
        program, result, refinement = _refine(
            program,
            result,
            refine_rounds,
            refine_new,
            seed,
            dict(backend=backend, accuracy=accuracy_preset, time_limit=time_limit, **solve_options),
        )
    total_seconds = time.perf_counter() - start
    record: dict[str, Any] = program.describe()
    record.update(refinement)
    record.update(
        {
            "patterns": "all" if program.exact_groups else int(patterns),
            "exact_patterns": program.exact_groups,
            "seed": seed,
            "backend": result.backend,
            "backend_version": result.backend_version,
            "accuracy": result.accuracy,
            "status": result.status,
            "raw_status": result.raw_status,
            "verified": result.verified,
            "status_agrees": result.status_agrees,
            "objective": result.objective,
            "solver_objective": result.solver_objective,
            "times": {"patterns": groups_seconds, **result.times, "total": total_seconds},
            "peak_memory_mb": result.peak_memory_mb,
            "iterations": result.iterations,
            "message": result.message,
            "size": program.size(),
        }
    )
    cert = result.certificate
    network = None
    if cert is not None:
        record.update(
            {
                "max_violation": cert.max_violation,
                "gap": cert.gap,
                "relative_gap": cert.relative_gap,
                "gap_exact": cert.gap_exact,
                "dual_value": cert.dual_value,
                "relative_violation": cert.relative_violation,
                "globally_optimal": bool(
                    program.exact_groups and cert.gap_exact and result.verified
                    and program.model != "gated2"
                ),
                "certifies": _what_is_certified(program, result.verified, cert.gap_exact),
            }
        )
    if result.solution is not None and cert is not None and cert.finite:
        network = program.reconstruct(result.solution)
        record["nonconvex_objective"] = program.nonconvex_objective(network)
        record["n_active_solver"] = record["n_active"] = program.n_active(result.solution)
        if record["n_active"] > program.n + 1:
            # an interior point of a non-unique optimum: purify to <= n + 1 groups (claim 4)
            from convexbench.programs.sparsify import sparsify

            sparse = sparsify(program, result.solution)
            record["n_active"] = program.n_active(sparse)
            record["objective_sparse"] = program.objective(sparse)
        train_pred = program.predict(result.solution)
        if is_pm1(program.y):
            record["train_accuracy"] = accuracy(train_pred, program.y)
        if X_test is not None and y_test is not None:
            try:
                test_pred = network.predict(X_test)
            except ValueError:
                test_pred = None
            if test_pred is not None:
                if is_pm1(y_test):
                    record["test_accuracy"] = accuracy(test_pred, y_test)
                record["test_loss"] = program.loss.value(test_pred, y_test) / len(y_test)
    else:
        record.update({"nonconvex_objective": None, "n_active": None})
    return ConvexTraining(program, result, network, record)


def _what_is_certified(program: ConvexProgram, verified: bool, gap_exact: bool) -> str:
    """One sentence: what a verified solve of ``program`` proves."""
    if not verified:
        return "nothing (not verified)"
    if program.model == "gated2":
        return ("the optimum of the convex gated-ReLU model with these gates (a relaxation "
                "of the ReLU network, not the non-convex ReLU training problem)")
    if not gap_exact:
        return "a feasible network (the optimality gap is a bound)"
    if program.exact_groups:
        return "the global optimum of the non-convex training problem (all patterns)"
    return "the optimum over the sampled patterns: an upper bound attained by a real network"


def _refine(program, result, rounds: int, max_new: int, seed: int, solve_kwargs: dict):
    """Column generation (see :func:`train_convex`): add the groups that violate the dual
    check, keep the active ones, re-solve; intermediate solves use the ``low`` preset."""
    from convexbench.programs.pricing import extend_program

    start = time.perf_counter()
    first_objective = result.objective
    added = 0
    rounds_run = 0
    for round_index in range(1, rounds + 1):
        if result.solution is None:
            break
        lam = program.loss.gradient(program.predict(result.solution), program.y)
        candidate, n_new = extend_program(
            program, result.solution, lam, max_new, seed=seed + round_index
        )
        if n_new == 0:
            break
        candidate_result = solve(
            candidate, **{**solve_kwargs, "accuracy": "low"}, with_certificate=False
        )
        if candidate_result.solution is None:
            break
        program, result = candidate, candidate_result
        added += n_new
        rounds_run = round_index
    if rounds_run:  # the last program, solved to the requested accuracy
        result = solve(program, **solve_kwargs)
    return (
        program,
        result,
        {
            "refine_rounds": rounds_run,
            "groups_added": added,
            "objective_sampled": first_objective,
            "refine_seconds": time.perf_counter() - start,
        },
    )

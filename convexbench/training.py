"""Convex training end to end: data -> program -> backend -> certified result -> network.

This is the Python API behind ``convexbench solve`` and the experiments.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from convexbench.arrays import accuracy, is_pm1
from convexbench.backends import SolveResult, solve
from convexbench.names import DEFAULT_PRESET
from convexbench.programs import make_program
from convexbench.programs.base import ConvexProgram


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
    **solve_options: Any,
) -> ConvexTraining:
    """Build the program, solve it with ``backend``, certify it and reconstruct the network.

    With ``refine_rounds`` > 0 (sampled patterns or atoms), column generation follows:
    patterns (atoms) whose dual price exceeds beta are searched for
    (:mod:`convexbench.programs.pricing`), up to ``refine_new`` are added to the active ones
    and the program is solved again, until no violator is found or the rounds are spent.
    """
    start = time.perf_counter()
    kwargs = {} if limit is None else {"limit": limit}
    program = make_program(
        model, X, y, beta, loss=loss, patterns=patterns, m1=m1, form=form, seed=seed, **kwargs
    )
    groups_seconds = time.perf_counter() - start
    result = solve(
        program, backend=backend, accuracy=accuracy_preset, time_limit=time_limit, **solve_options
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

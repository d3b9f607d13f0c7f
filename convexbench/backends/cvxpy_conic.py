"""Conic solvers reached through cvxpy (one adapter class, one entry per solver)."""

from __future__ import annotations

import importlib
import importlib.metadata
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import cvxpy as cp

from convexbench.backends.base import Backend, BackendInfo, RawRun
from convexbench.backends.presets import Preset
from convexbench.programs.base import ConvexProgram

CVXPY_STATUS = {
    cp.OPTIMAL: "optimal",
    cp.OPTIMAL_INACCURATE: "optimal_inaccurate",
    cp.INFEASIBLE: "infeasible",
    cp.INFEASIBLE_INACCURATE: "infeasible",
    cp.UNBOUNDED: "unbounded",
    cp.UNBOUNDED_INACCURATE: "unbounded",
    getattr(cp, "USER_LIMIT", "user_limit"): "time_limit",
}


@dataclass(frozen=True)
class SolverSpec:
    name: str  # convexbench's name
    cvxpy_name: str
    distribution: str  # pip distribution that carries the solver
    cones: tuple[str, ...]
    options: Callable[[Preset, float | None, int], dict[str, Any]]
    license_check: Callable[[], str | None] | None = None  # returns a reason if unusable
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _clarabel(p: Preset, time_limit, threads):
    opts = {"tol_gap_abs": p.solver_tol, "tol_gap_rel": p.solver_tol, "tol_feas": p.solver_tol, "max_iter": 500}
    if time_limit:
        opts["time_limit"] = float(time_limit)
    return opts


def _ecos(p: Preset, time_limit, threads):
    return {"abstol": p.solver_tol, "reltol": p.solver_tol, "feastol": p.solver_tol, "max_iters": 500}


def _scs(p: Preset, time_limit, threads):
    opts = {"eps_abs": p.solver_tol, "eps_rel": p.solver_tol, "max_iters": p.max_iter * 10}
    if time_limit:
        opts["time_limit_secs"] = float(time_limit)
    return opts


SOLVERS: dict[str, SolverSpec] = {
    "clarabel": SolverSpec("clarabel", "CLARABEL", "clarabel", ("zero", "nonneg", "soc", "exp"),
                           _clarabel),
    "ecos": SolverSpec("ecos", "ECOS", "ecos", ("zero", "nonneg", "soc", "exp"), _ecos),
    "scs": SolverSpec("scs", "SCS", "scs", ("zero", "nonneg", "soc", "exp"), _scs),
}


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


class CvxpyBackend(Backend):
    """A conic solver called through cvxpy: build, compile and solve timed separately."""

    def __init__(self, spec: SolverSpec):
        self.spec = spec
        self.name = spec.name

    def info(self) -> BackendInfo:
        version = _version(self.spec.distribution)
        installed = version is not None and self.spec.cvxpy_name in cp.installed_solvers()
        message = "available" if installed else f"unavailable: {self.spec.distribution} not installed"
        available = installed
        if installed and self.spec.license_check is not None:
            reason = self.spec.license_check()
            if reason:
                available, message = False, f"unavailable: {reason}"
        return BackendInfo(self.name, installed, version, available, message, self.spec.cones)

    def run(self, program: ConvexProgram, preset: Preset, time_limit=None, threads=1) -> RawRun:
        model = program.build_cvxpy()
        problem = model.problem
        options = self.spec.options(preset, time_limit, threads)
        start = time.perf_counter()
        data, chain, inverse_data = problem.get_problem_data(
            self.spec.cvxpy_name, solver_opts=options
        )
        compile_seconds = time.perf_counter() - start
        start = time.perf_counter()
        try:
            raw = chain.solve_via_data(problem, data, False, False, options)
        except cp.error.SolverError as exc:
            return RawRun("error", "solver_error", None, compile_seconds=compile_seconds,
                          solve_seconds=time.perf_counter() - start,
                          build_seconds=model.build_seconds, message=str(exc).splitlines()[0])
        solve_wall = time.perf_counter() - start
        problem.unpack_results(raw, chain, inverse_data)
        stats = problem.solver_stats
        status = CVXPY_STATUS.get(problem.status, "error")
        solution = program.solution_from_cvxpy(model) if status.startswith("optimal") else None
        return RawRun(
            status=status,
            raw_status=str(problem.status),
            solution=solution,
            solver_objective=None if problem.value is None else float(problem.value),
            compile_seconds=compile_seconds,
            solve_seconds=float(stats.solve_time) if stats and stats.solve_time else solve_wall,
            build_seconds=model.build_seconds,
            iterations=None if stats is None else stats.num_iters,
        )


CVXPY_BACKENDS = {name: CvxpyBackend(spec) for name, spec in SOLVERS.items()}

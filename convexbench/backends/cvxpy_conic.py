"""Conic solvers reached through cvxpy: one generic adapter, one :class:`SolverSpec` each.

Every run builds a fresh ``cvxpy.Problem`` (cold timings) and times three phases apart:
our build (``program.build_cvxpy``), cvxpy's compilation (``get_problem_data``) and the
solver (``solve_via_data``; the solver's own reported solve time where it gives one).
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import math
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import cvxpy as cp

from convexbench.backends.base import Backend, BackendInfo, RawRun
from convexbench.backends.licensing import license_state, size_limit_reason
from convexbench.backends.presets import PRESETS, Preset
from convexbench.programs.base import ConvexProgram

CVXPY_STATUS = {
    cp.OPTIMAL: "optimal",
    cp.OPTIMAL_INACCURATE: "optimal_inaccurate",
    cp.INFEASIBLE: "infeasible",
    cp.INFEASIBLE_INACCURATE: "infeasible",
    cp.UNBOUNDED: "unbounded",
    cp.UNBOUNDED_INACCURATE: "unbounded",
}
_USER_LIMIT = getattr(cp, "USER_LIMIT", "user_limit")

_CONE_NAMES = {"Zero": "zero", "NonNeg": "nonneg", "SOC": "soc", "ExpCone": "exp",
               "PSD": "psd", "SvecPSD": "psd", "PowCone3D": "pow", "PowConeND": "pow"}


@dataclass(frozen=True)
class SolverSpec:
    """How one solver is called through cvxpy and how the presets map onto its options."""

    name: str  # convexbench's name
    cvxpy_name: str
    distribution: str  # pip distribution that carries the solver
    module: str  # import name
    cones: tuple[str, ...]
    tolerance_options: tuple[str, ...] = ()  # each gets the preset's solver tolerance
    iteration_option: str | None = None
    iterations: Mapping[str, int] = field(default_factory=dict)  # preset name -> cap
    time_option: str | None = None  # None: only the hard kill of isolation enforces a limit
    thread_option: str | None = None
    fixed: Mapping[str, Any] = field(default_factory=dict)  # always passed
    params_key: str | None = None  # nest the mapped options in this dict (MOSEK)
    min_tol: float = 0.0  # tightest tolerance the solver copes with
    tolerances: Mapping[str, float] = field(default_factory=dict)  # preset -> tol override
    option_floors: Mapping[str, float] = field(default_factory=dict)
    license: str | None = None  # key of convexbench.backends.licensing.license_state
    feature_check: Callable[[], str | None] | None = None  # reason if unusable here
    commercial: bool = False
    notes: str = ""

    def tolerance(self, preset: Preset) -> float:
        return max(self.tolerances.get(preset.name, preset.solver_tol), self.min_tol)

    def options(self, preset: Preset, time_limit: float | None = None, threads: int = 1
                ) -> dict[str, Any]:
        """The solver options for ``preset`` (cvxpy ``solve`` keyword arguments)."""
        mapped: dict[str, Any] = {}
        tol = self.tolerance(preset)
        for name in self.tolerance_options:
            mapped[name] = max(tol, self.option_floors.get(name, 0.0))
        if self.iteration_option:
            mapped[self.iteration_option] = self.iterations.get(preset.name, preset.max_iter)
        if self.time_option and time_limit is not None and math.isfinite(time_limit):
            mapped[self.time_option] = float(max(time_limit, 1e-3))
        if self.thread_option:
            mapped[self.thread_option] = int(threads)
        options = dict(self.fixed)
        if self.params_key:
            options[self.params_key] = mapped
        else:
            options.update(mapped)
        return options


def _clarabel_method_check(method: str) -> str | None:
    """None if this clarabel build accepts ``direct_solve_method=method``."""
    from convexbench.native.reduced import clarabel_method_error

    return clarabel_method_error(method)


_CLARABEL = dict(
    cvxpy_name="CLARABEL", distribution="clarabel", module="clarabel",
    cones=("zero", "nonneg", "soc", "exp", "pow", "psd"),
    tolerance_options=("tol_gap_abs", "tol_gap_rel", "tol_feas"),
    iteration_option="max_iter", iterations={"low": 200, "medium": 300, "high": 500},
    time_option="time_limit", thread_option="max_threads",
)

SOLVERS: dict[str, SolverSpec] = {
    "clarabel": SolverSpec("clarabel", **_CLARABEL,
                           notes="interior point; default KKT solver of this build"),
    "clarabel-qdldl": SolverSpec(
        "clarabel-qdldl", **_CLARABEL, fixed={"direct_solve_method": "qdldl"},
        feature_check=functools.partial(_clarabel_method_check, "qdldl"),
        notes="interior point; QDLDL sparse LDL (single-threaded)"),
    "clarabel-faer": SolverSpec(
        "clarabel-faer", **_CLARABEL, fixed={"direct_solve_method": "faer"},
        feature_check=functools.partial(_clarabel_method_check, "faer"),
        notes="interior point; faer sparse LDL (multi-threaded: max_threads)"),
    "ecos": SolverSpec(
        "ecos", "ECOS", "ecos", "ecos", ("zero", "nonneg", "soc", "exp"),
        tolerance_options=("abstol", "reltol", "feastol"), iteration_option="max_iters",
        iterations={"low": 100, "medium": 200, "high": 300}, min_tol=1e-9,
        notes="interior point; no time option (hard kill only); single-threaded"),
    "scs": SolverSpec(
        "scs", "SCS", "scs", "scs", ("zero", "nonneg", "soc", "exp", "pow", "psd"),
        tolerance_options=("eps_abs", "eps_rel"), iteration_option="max_iters",
        iterations={"low": 20_000, "medium": 100_000, "high": 500_000},
        time_option="time_limit_secs",
        notes="first-order (ADMM); may stop short of high accuracy: the certificate decides"),
    "cvxopt": SolverSpec(
        "cvxopt", "CVXOPT", "cvxopt", "cvxopt", ("zero", "nonneg", "soc", "psd"),
        tolerance_options=("abstol", "reltol", "feastol"), iteration_option="maxiters",
        iterations={"low": 100, "medium": 200, "high": 300},
        tolerances={"low": 1e-7, "medium": 1e-8, "high": 1e-8}, fixed={"refinement": 3},
        notes="interior point; no time option (hard kill only); threads via BLAS; its "
              "Cholesky KKT solver fails below 1e-8, and its points often verify only at low"),
    "mosek": SolverSpec(
        "mosek", "MOSEK", "mosek", "mosek", ("zero", "nonneg", "soc", "exp", "pow", "psd"),
        tolerance_options=("MSK_DPAR_INTPNT_CO_TOL_REL_GAP", "MSK_DPAR_INTPNT_CO_TOL_PFEAS",
                           "MSK_DPAR_INTPNT_CO_TOL_DFEAS"),
        iteration_option="MSK_IPAR_INTPNT_MAX_ITERATIONS",
        iterations={"low": 400, "medium": 400, "high": 400},
        time_option="MSK_DPAR_OPTIMIZER_MAX_TIME", thread_option="MSK_IPAR_NUM_THREADS",
        params_key="mosek_params", license="mosek", commercial=True,
        notes="interior point; commercial (needs a MOSEK license)"),
    "gurobi": SolverSpec(
        "gurobi", "GUROBI", "gurobipy", "gurobipy", ("zero", "nonneg", "soc"),
        tolerance_options=("BarQCPConvTol", "BarConvTol", "FeasibilityTol", "OptimalityTol"),
        option_floors={"FeasibilityTol": 1e-9, "OptimalityTol": 1e-9},
        iteration_option="BarIterLimit", iterations={"low": 1000, "medium": 1000, "high": 1000},
        time_option="TimeLimit", thread_option="Threads", license="gurobi", commercial=True,
        notes="barrier; commercial; the pip package carries a size-limited license"),
    "copt": SolverSpec(
        "copt", "COPT", "coptpy", "coptpy", ("zero", "nonneg", "soc", "exp", "psd"),
        tolerance_options=("FeasTol", "DualTol", "RelGap"),
        option_floors={"FeasTol": 1e-9, "DualTol": 1e-9},
        iteration_option="BarIterLimit", iterations={"low": 500, "medium": 500, "high": 500},
        time_option="TimeLimit", thread_option="Threads", license="copt", commercial=True,
        notes="barrier; commercial (needs a COPT license, or size-limited without)"),
}

# SOCP-capable cvxpy solvers that are not listed above are added generically when installed
# (solver defaults, no tolerance mapping).  ECOS_BB is ECOS's branch-and-bound front end.
_NOT_GENERIC = {"ECOS_BB"}
_LICENSE_LABELS = {"mosek": "MOSEK", "gurobi": "Gurobi", "copt": "COPT"}


@functools.lru_cache(maxsize=1)
def installed_cvxpy_solvers() -> frozenset[str]:
    return frozenset(cp.installed_solvers())


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def discover_generic_specs() -> dict[str, SolverSpec]:
    """Specs for installed SOCP-capable cvxpy solvers that have no hand-written spec."""
    from cvxpy.reductions.solvers.defines import SOLVER_MAP_CONIC

    known = {spec.cvxpy_name for spec in SOLVERS.values()}
    found: dict[str, SolverSpec] = {}
    for cvxpy_name in sorted(installed_cvxpy_solvers() - known - _NOT_GENERIC):
        solver = SOLVER_MAP_CONIC.get(cvxpy_name)
        if solver is None:
            continue
        cones = tuple(dict.fromkeys(
            _CONE_NAMES.get(c.__name__, c.__name__.lower())
            for c in getattr(solver, "SUPPORTED_CONSTRAINTS", [])))
        if "soc" not in cones:
            continue
        name = cvxpy_name.lower()
        found[name] = SolverSpec(name, cvxpy_name, name, name, cones,
                                 notes="discovered through cvxpy; solver defaults (no preset "
                                       "mapping), only the hard kill enforces time limits")
    return found


class CvxpyBackend(Backend):
    """A conic solver called through cvxpy: build, compile and solve timed separately."""

    kind = "cvxpy"

    def __init__(self, spec: SolverSpec):
        self.spec = spec
        self.name = spec.name

    @property
    def enforces_time_limit(self) -> bool:
        # cvxpy's compilation (seconds to minutes on large programs) cannot be interrupted,
        # so a time limit is enforced by a child process even where the solver has a time
        # option; the option still lets the solver stop cleanly with its last point
        return False

    @property
    def time_limit_enforcement(self) -> str:
        if self.spec.time_option is None:
            return ("isolated child killed at T+grace (the solver has no time option; "
                    "cvxpy compilation included)")
        return (f"solver option {self.spec.time_option} on the time left after compilation "
                f"+ isolated child killed at T+grace")

    @property
    def time_limit_summary(self) -> str:
        if self.spec.time_option is None:
            return "kill at T+grace"
        return f"{self.spec.time_option} (time left) + kill at T+grace"

    def preset_options(self, preset: Preset, time_limit: float | None = None, threads: int = 1
                       ) -> dict[str, Any]:
        return self.spec.options(preset, time_limit, threads)

    def option_names(self) -> dict[str, Any]:
        spec = self.spec
        return {"tolerances": list(spec.tolerance_options), "iterations": spec.iteration_option,
                "time_limit": spec.time_option, "threads": spec.thread_option,
                "fixed": dict(spec.fixed), "nested_in": spec.params_key}

    def info(self) -> BackendInfo:
        spec = self.spec
        version = _version(spec.distribution)
        found = importlib.util.find_spec(spec.module) is not None
        installed = found and spec.cvxpy_name in installed_cvxpy_solvers()
        if not installed:
            hint = f"pip install {spec.distribution}"
            if spec.commercial:
                hint += f"; needs a {_LICENSE_LABELS.get(spec.name, spec.name)} license"
            reason = "not installed" if not found else f"not usable by cvxpy {cp.__version__}"
            return BackendInfo(self.name, False, version, False,
                               f"unavailable: {reason} ({hint})", spec.cones,
                               notes=spec.notes, kind=self.kind)
        available, size_limited, message = True, False, "available"
        if spec.license is not None:
            state = license_state(spec.license)
            available, size_limited = state.usable, state.size_limited
            message = state.message if state.size_limited else (
                "available (licensed)" if state.usable else f"unavailable: {state.message}")
        if available and spec.feature_check is not None:
            reason = _cached_feature_check(self.name, spec.feature_check)
            if reason:
                available, message = False, f"unavailable: {reason}"
        return BackendInfo(self.name, True, version, available, message, spec.cones,
                           size_limited=size_limited, notes=spec.notes, kind=self.kind)

    def supports(self, program: ConvexProgram) -> str | None:
        reason = super().supports(program)
        if reason is None and self.spec.license is not None:
            info = self.info()
            if info.size_limited:
                reason = size_limit_reason(self.name, program.size())
        return reason

    def run(self, program: ConvexProgram, preset: Preset, time_limit: float | None = None,
            threads: int = 1) -> RawRun:
        start = time.perf_counter()
        model = program.build_cvxpy()
        problem = model.problem

        def remaining() -> float | None:
            return None if time_limit is None else time_limit - (time.perf_counter() - start)

        tic = time.perf_counter()
        try:
            data, chain, inverse_data = problem.get_problem_data(
                self.spec.cvxpy_name, solver_opts=self.spec.options(preset, remaining(), threads))
        except (cp.error.SolverError, cp.error.DCPError, ValueError) as exc:
            return RawRun("error", "compile_error", None, build_seconds=model.build_seconds,
                          compile_seconds=time.perf_counter() - tic, message=_first_line(exc))
        compile_seconds = time.perf_counter() - tic
        left = remaining()
        if left is not None and left <= 0:
            return RawRun("time_limit", "time limit reached during compilation", None,
                          build_seconds=model.build_seconds, compile_seconds=compile_seconds,
                          message="the time limit ran out before the solver started")
        options = self.spec.options(preset, left, threads)
        tic = time.perf_counter()
        try:
            raw = chain.solve_via_data(problem, data, False, False, options)
        except Exception as exc:  # solver errors of every kind become an "error" row
            return RawRun("error", "solver_error", None, build_seconds=model.build_seconds,
                          compile_seconds=compile_seconds, solve_seconds=time.perf_counter() - tic,
                          message=_first_line(exc))
        solve_call = time.perf_counter() - tic
        raw_status = _raw_status(raw)
        try:
            with warnings.catch_warnings():  # "may be inaccurate": the status says it already
                warnings.simplefilter("ignore")
                problem.unpack_results(raw, chain, inverse_data)
        except Exception as exc:
            return RawRun("error", raw_status or "solver_error", None,
                          build_seconds=model.build_seconds, compile_seconds=compile_seconds,
                          solve_seconds=solve_call, message=_first_line(exc),
                          extra={"solve_call_seconds": solve_call})
        has_point = all(var.value is not None for var in model.variables.values())
        status = normalize_status(problem.status, raw_status, has_point, solve_call, left)
        stats = problem.solver_stats
        iterations = None if stats is None else stats.num_iters
        if iterations is None and isinstance(raw, dict):
            iterations = (raw.get("info") or {}).get("iter") if isinstance(raw.get("info"),
                                                                           dict) else None
        reported = None if stats is None else stats.solve_time
        return RawRun(
            status=status,
            raw_status=raw_status or str(problem.status),
            solution=program.solution_from_cvxpy(model) if has_point else None,
            solver_objective=None if problem.value is None else float(problem.value),
            compile_seconds=compile_seconds,
            solve_seconds=float(reported) if reported else solve_call,
            build_seconds=model.build_seconds,
            iterations=None if iterations is None else int(iterations),
            extra={"solve_call_seconds": solve_call, "cvxpy_status": str(problem.status)},
        )


@functools.cache
def _cached_feature_check(name: str, check: Callable[[], str | None]) -> str | None:
    return check()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def _raw_status(raw: Any) -> str | None:
    """The solver's own status string, where its raw output carries one."""
    status = getattr(raw, "status", None)
    if status is not None:
        return str(status)
    if isinstance(raw, dict):
        info = raw.get("info")
        if isinstance(info, dict):
            for key in ("infostring", "status"):
                if key in info:
                    return str(info[key])
        if "status" in raw:
            return str(raw["status"])
    return None


def normalize_status(cvxpy_status: str | None, raw_status: str | None, has_point: bool,
                     solve_seconds: float = 0.0, time_left: float | None = None) -> str:
    """Map cvxpy's and the solver's status onto convexbench's normalized statuses."""
    text = (raw_status or "").lower().replace("_", "")
    if "maxtime" in text or "timelimit" in text or "time limit" in text:
        return "time_limit"
    if cvxpy_status == _USER_LIMIT:
        if time_left is not None and solve_seconds >= 0.95 * time_left:
            return "time_limit"
        # an iteration limit: the solver did not converge; a returned point is still certified
        return "optimal_inaccurate" if has_point else "error"
    return CVXPY_STATUS.get(cvxpy_status, "error")


def cvxpy_backends() -> dict[str, CvxpyBackend]:
    """Every hand-written spec plus the discovered SOCP-capable cvxpy solvers."""
    specs = dict(SOLVERS)
    specs.update(discover_generic_specs())
    return {name: CvxpyBackend(spec) for name, spec in specs.items()}


CVXPY_BACKENDS = {name: CvxpyBackend(spec) for name, spec in SOLVERS.items()}
__all__ = ["CVXPY_BACKENDS", "PRESETS", "CvxpyBackend", "SolverSpec", "cvxpy_backends",
           "normalize_status"]

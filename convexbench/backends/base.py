"""The backend interface and the records of a solve.

A backend turns a :class:`~convexbench.programs.base.ConvexProgram` into a solution (a dict of
numpy blocks).  It never decides whether the answer is right: :func:`convexbench.backends.solve`
certifies every solution independently (see ``convexbench.certificates``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from convexbench.backends.presets import Preset
from convexbench.certificates import Certificate
from convexbench.programs.base import ConvexProgram, Solution


@dataclass(frozen=True)
class BackendInfo:
    """What is known about a backend on this machine."""

    name: str
    installed: bool
    version: str | None
    available: bool  # installed and licensed
    message: str  # e.g. "unavailable: no MOSEK license", "size-limited: Gurobi pip license"
    cones: tuple[str, ...] = ("zero", "nonneg", "soc")
    size_limited: bool = False
    notes: str = ""
    kind: str = "backend"  # "cvxpy", "native", "test"

    @property
    def licence(self) -> str:
        """The licence state in a few words."""
        if not self.installed:
            return "n/a (not installed)"
        if self.size_limited:
            return "size-limited"
        if "licens" in self.message:
            return "licensed" if self.available else "missing"
        return "not needed"


@dataclass
class RawRun:
    """What a backend reports, before certification."""

    status: str  # one of STATUSES
    raw_status: str
    solution: Solution | None
    solver_objective: float | None = None
    compile_seconds: float = 0.0
    solve_seconds: float = 0.0
    build_seconds: float = 0.0
    iterations: int | None = None
    message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SolveResult:
    """One certified solve.

    ``times`` holds seconds: ``build`` (our cvxpy model), ``compile`` (cvxpy's reduction to
    the solver's format), ``solve`` (the solver's own reported time, else our clock around the
    call), ``solve_call`` (our clock around the solver call), ``wall`` (the whole backend run
    in the process that ran it), ``elapsed`` (the caller's clock, including process start for
    isolated runs) and ``certify``.  Unknown phases (a killed run) are NaN.
    ``peak_memory_mb`` is the peak resident memory of the process that ran the solve,
    ``memory_baseline_mb`` its resident memory when the run started.
    """

    backend: str
    backend_version: str | None
    accuracy: str
    status: str
    raw_status: str
    verified: bool
    status_agrees: bool  # did the solver's own "optimal" agree with the certificate's verdict?
    objective: float | None  # recomputed from the returned point
    solver_objective: float | None
    certificate: Certificate | None
    solution: Solution | None
    times: dict[str, float]
    peak_memory_mb: float | None
    iterations: int | None
    message: str = ""
    memory_baseline_mb: float | None = None
    isolated: bool = False
    tolerance: float | None = None  # the certificate tolerance of the preset
    time_limit: float | None = None
    # (seconds since the solve started, objective, relative violation) of the iterates, for
    # backends that report them (native, scnn); empty otherwise
    trace: tuple[tuple[float, float, float], ...] = ()

    @property
    def succeeded(self) -> bool:
        """Success means a certificate that holds, whatever the solver said."""
        return self.verified

    @property
    def memory_mb(self) -> float | None:
        """What the solve added to the resident memory: peak minus the baseline."""
        if self.peak_memory_mb is None or self.memory_baseline_mb is None:
            return None
        if not (math.isfinite(self.peak_memory_mb) and math.isfinite(self.memory_baseline_mb)):
            return None
        return max(self.peak_memory_mb - self.memory_baseline_mb, 0.0)

    def summary(self) -> dict[str, Any]:
        """A JSON-friendly record without the solution arrays and the trace (NaN -> None)."""
        out = asdict(self)
        out.pop("solution")
        out.pop("trace")
        return _json_safe(out)

    def as_row(self, **context: Any) -> dict[str, Any]:
        """One flat record of the solve (``context`` columns first): status, objective,
        certificate, every clock as ``<phase>_s`` and memory.  The one place a result becomes
        a table row (compare, bench, scaling)."""
        cert = self.certificate
        row: dict[str, Any] = dict(context)
        row.update({
            "backend": self.backend, "version": self.backend_version,
            "accuracy": self.accuracy, "tolerance": self.tolerance, "status": self.status,
            "raw_status": self.raw_status, "verified": self.verified,
            "status_agrees": self.status_agrees, "objective": self.objective,
            "solver_objective": self.solver_objective,
            "relative_gap": None if cert is None else cert.relative_gap,
            "max_violation": None if cert is None else cert.max_violation,
            "relative_violation": None if cert is None else cert.relative_violation,
        })
        for phase in ("build", "compile", "solve", "solve_call", "wall", "elapsed", "certify"):
            row[f"{phase}_s"] = self.times.get(phase)
        row.update({
            "peak_memory_mb": self.peak_memory_mb, "memory_baseline_mb": self.memory_baseline_mb,
            "memory_mb": self.memory_mb, "iterations": self.iterations,
            "isolated": self.isolated, "time_limit": self.time_limit, "message": self.message,
        })
        return row


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class Backend:
    """One solver family.  Subclasses implement :meth:`info` and :meth:`run`."""

    name: str = "backend"
    kind: str = "backend"
    accepts_warm_start: bool = False  # run(..., warm_start=) starts from a given solution

    @property
    def enforces_time_limit(self) -> bool:
        """Whether :meth:`run` stops by itself at ``time_limit``, every phase of it included
        (else a limited solve runs in a child process that is killed at the limit + grace)."""
        return False

    @property
    def time_limit_enforcement(self) -> str:
        """How a ``time_limit`` is enforced, in a sentence (``convexbench backends``)."""
        return "isolated child killed at T+grace (the backend has no time limit of its own)"

    @property
    def time_limit_summary(self) -> str:
        """:attr:`time_limit_enforcement` in a few words (the table column)."""
        return "kill at T+grace"

    def info(self) -> BackendInfo:
        raise NotImplementedError

    def prepare(self) -> None:
        """One-off set-up before a timed run, outside its clock and time limit (e.g. importing
        a heavy solver package); the default does nothing."""

    def supports(self, program: ConvexProgram) -> str | None:
        """None if the backend can solve ``program``, else the reason it cannot."""
        if program.loss.needs_exp_cone and "exp" not in self.info().cones:
            return f"{self.name} has no exponential cone (needed by the {program.loss.name} loss)"
        return None

    def preset_options(self, preset: Preset, time_limit: float | None = None, threads: int = 1
                       ) -> dict[str, Any]:
        """The backend's own options for ``preset`` (documentation and ``--json``).

        The default says only that the preset's tolerance is passed on; backends with
        options of their own override this and :meth:`option_names`.
        """
        return {"tol": preset.tol}

    def option_names(self) -> dict[str, Any]:
        """Which of the backend's options carry tolerance, iterations, time and threads."""
        return {"tolerances": ["tol"], "iterations": None, "time_limit": None, "threads": None}

    def run(
        self,
        program: ConvexProgram,
        preset: Preset,
        time_limit: float | None = None,
        threads: int = 1,
    ) -> RawRun:
        raise NotImplementedError

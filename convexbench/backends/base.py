"""The backend interface and the records of a solve.

A backend turns a :class:`~convexbench.programs.base.ConvexProgram` into a solution (a dict of
numpy blocks).  It never decides whether the answer is right: :func:`convexbench.backends.solve`
certifies every solution independently (see ``convexbench.certificates``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from convexbench.backends.presets import Preset
from convexbench.certificates import Certificate
from convexbench.programs.base import ConvexProgram, Solution

STATUSES = (
    "optimal",
    "optimal_inaccurate",
    "infeasible",
    "unbounded",
    "time_limit",
    "memory_limit",
    "crashed",
    "unavailable",
    "error",
)


@dataclass(frozen=True)
class BackendInfo:
    name: str
    installed: bool
    version: str | None
    available: bool  # installed and licensed
    message: str  # e.g. "unavailable: no MOSEK license", "size-limited: Gurobi pip license"
    cones: tuple[str, ...] = ("zero", "nonneg", "soc")
    size_limited: bool = False


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
    """One certified solve."""

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
    times: dict[str, float]  # build, compile, solve, wall, certify (seconds)
    peak_memory_mb: float | None
    iterations: int | None
    message: str = ""

    def summary(self) -> dict[str, Any]:
        """A JSON-friendly record without the solution arrays."""
        out = asdict(self)
        out.pop("solution")
        return out


class Backend:
    """One solver family.  Subclasses implement :meth:`info` and :meth:`run`."""

    name: str = "backend"

    def info(self) -> BackendInfo:
        raise NotImplementedError

    def supports(self, program: ConvexProgram) -> str | None:
        """None if the backend can solve ``program``, else the reason it cannot."""
        if program.loss.needs_exp_cone and "exp" not in self.info().cones:
            return f"{self.name} has no exponential cone (needed by the {program.loss.name} loss)"
        return None

    def run(
        self,
        program: ConvexProgram,
        preset: Preset,
        time_limit: float | None = None,
        threads: int = 1,
    ) -> RawRun:
        raise NotImplementedError

"""The ``native`` backend: convexbench's own working-set solver (``convexbench.native``).

Supports gated ReLU, two-layer ReLU and three-layer ReLU with the squared, hinge and logistic
losses (the hinge loss's restricted programs are solved by Clarabel, see
``native/reduced.py``; the logistic loss's by proximal Newton, ``native/logistic.py``).
The solution comes back in the program's block layout; ``solve`` certifies it like every
other backend's.
"""

from __future__ import annotations

from dataclasses import replace

from convexbench import __version__
from convexbench.backends.base import Backend, BackendInfo, RawRun
from convexbench.backends.presets import Preset
from convexbench.native import NativeOptions, solve_native, unsupported_reason
from convexbench.programs.base import ConvexProgram, Solution


class NativeBackend(Backend):
    """Working-set column generation + exact cone pricing + accurate restricted solves
    (dense primal-dual interior point, ``native/ipm.py``; warm-started active-set Newton for
    gated ReLU, ``native/newton.py``; proximal Newton for logistic, ``native/logistic.py``;
    Clarabel for hinge)."""

    name = "native"
    kind = "native"
    accepts_warm_start = True  # run(..., warm_start=): a regularization path's previous optimum

    @property
    def enforces_time_limit(self) -> bool:
        return True

    @property
    def time_limit_enforcement(self) -> str:
        return ("native deadline checks in every loop (working set, pricing, restricted "
                "solves), in-process")

    @property
    def time_limit_summary(self) -> str:
        return "deadline checks (in-process)"

    def __init__(self, options: NativeOptions | None = None, method: str = "working_set"):
        self.options = options or NativeOptions()
        self.method = method

    def info(self) -> BackendInfo:
        return BackendInfo(self.name, True, __version__, True, "available",
                           cones=("zero", "nonneg", "soc"), kind="native",
                           notes="working-set column generation, exact cone pricing, "
                                 "dense interior point on the reduced program (squared loss), "
                                 "proximal Newton (logistic), Clarabel (hinge)")

    def preset_options(self, preset: Preset, time_limit: float | None = None, threads: int = 1
                       ) -> dict:
        """The native options a preset maps to (the certificate's tolerance is the target)."""
        return {"tol": preset.tol, "time_limit": time_limit, "method": self.method,
                "safety": self.options.safety, "max_add": self.options.max_add}

    def option_names(self) -> dict:
        return {"tolerances": ["tol"], "iterations": None, "time_limit": "time_limit",
                "threads": None}

    def supports(self, program: ConvexProgram) -> str | None:
        return unsupported_reason(program, self.method)

    def run(
        self, program: ConvexProgram, preset: Preset, time_limit: float | None = None,
        threads: int = 1, warm_start: Solution | None = None,
    ) -> RawRun:
        reason = self.supports(program)
        if reason:
            return RawRun("error", "unsupported", None, message=reason)
        options = replace(self.options, tol=preset.tol, time_limit=time_limit,
                          threads=max(int(threads), 1))
        run = solve_native(program, options, warm_start=warm_start, method=self.method)
        return RawRun(
            status=run.status,
            raw_status=run.status if not run.message else f"{run.status}: {run.message}",
            solution=run.solution,
            solver_objective=run.trace[-1][1] if run.trace else None,
            compile_seconds=0.0,
            solve_seconds=run.seconds,
            build_seconds=0.0,
            iterations=run.iterations,
            message=run.message,
            extra={"inner_iterations": run.inner_iterations, "relative_gap": run.relative_gap,
                   "violation": run.violation, "n_columns": run.n_columns,
                   "n_rows": run.n_rows, "trace": run.trace},
        )

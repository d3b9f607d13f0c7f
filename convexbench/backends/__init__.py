"""Backends: conic solvers through cvxpy and the native solver, certified independently.

``solve(program, backend, accuracy, time_limit, threads, isolate, memory_limit_mb)`` is the
entry point; see ``convexbench/backends/README.md`` for the presets and their mapping.
"""

from __future__ import annotations

from convexbench.backends.base import Backend, BackendInfo, RawRun, SolveResult
from convexbench.backends.cvxpy_conic import CVXPY_BACKENDS, CvxpyBackend, SolverSpec
from convexbench.backends.isolation import IsolatedRun, run_isolated
from convexbench.backends.mapping import describe_backends, mapping_markdown
from convexbench.backends.presets import PRESETS, Preset, get_preset
from convexbench.backends.registry import (
    all_backends,
    default_backend_names,
    get_backend,
    resolve_backends,
    safe_info,
)
from convexbench.backends.run import (
    certify_run,
    needs_isolation,
    run_backend,
    solve,
    unavailable_result,
)
from convexbench.names import STATUSES

__all__ = ["Backend", "BackendInfo", "CVXPY_BACKENDS", "CvxpyBackend", "IsolatedRun",
           "PRESETS", "Preset", "RawRun", "STATUSES", "SolveResult", "SolverSpec",
           "all_backends", "certify_run", "default_backend_names", "describe_backends",
           "get_backend", "get_preset", "mapping_markdown", "needs_isolation",
           "resolve_backends", "run_backend", "run_isolated", "safe_info", "solve",
           "unavailable_result"]

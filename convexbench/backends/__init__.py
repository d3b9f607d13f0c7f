"""Backends: conic solvers through cvxpy and the native solver, certified independently."""

from __future__ import annotations

import resource
import time

from convexbench.backends.base import Backend, BackendInfo, RawRun, SolveResult
from convexbench.backends.cvxpy_conic import CVXPY_BACKENDS
from convexbench.backends.presets import PRESETS, Preset, get_preset
from convexbench.certificates import certify
from convexbench.errors import UnavailableError, UserError
from convexbench.programs.base import ConvexProgram

__all__ = [
    "Backend",
    "BackendInfo",
    "RawRun",
    "SolveResult",
    "Preset",
    "PRESETS",
    "all_backends",
    "get_backend",
    "solve",
]


def all_backends() -> dict[str, Backend]:
    return dict(CVXPY_BACKENDS)


def get_backend(name: str) -> Backend:
    backends = all_backends()
    if name not in backends:
        raise UserError(f"unknown backend {name!r}; known: {', '.join(backends)}")
    return backends[name]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def solve(
    program: ConvexProgram,
    backend: str = "clarabel",
    accuracy: str = "medium",
    time_limit: float | None = None,
    threads: int = 1,
) -> SolveResult:
    """Solve ``program`` with ``backend`` and certify the answer independently."""
    preset = get_preset(accuracy)
    chosen = get_backend(backend)
    info = chosen.info()
    if not info.available:
        raise UnavailableError(f"backend {backend} is {info.message}")
    reason = chosen.supports(program)
    if reason:
        raise UserError(reason)
    wall_start = time.perf_counter()
    raw = chosen.run(program, preset, time_limit=time_limit, threads=threads)
    wall = time.perf_counter() - wall_start
    return certify_run(program, raw, chosen.name, info.version, preset, wall, _peak_rss_mb())


def certify_run(program, raw: RawRun, backend, version, preset: Preset, wall, peak_mb):
    """Turn a backend's raw report into a certified :class:`SolveResult`."""
    start = time.perf_counter()
    certificate = certify(program, raw.solution) if raw.solution is not None else None
    certify_seconds = time.perf_counter() - start
    verified = certificate is not None and certificate.holds(preset.tol)
    solver_says_ok = raw.status == "optimal"
    return SolveResult(
        backend=backend,
        backend_version=version,
        accuracy=preset.name,
        status=raw.status,
        raw_status=raw.raw_status,
        verified=verified,
        status_agrees=solver_says_ok == verified,
        objective=None if certificate is None else certificate.objective,
        solver_objective=raw.solver_objective,
        certificate=certificate,
        solution=raw.solution,
        times={
            "build": raw.build_seconds,
            "compile": raw.compile_seconds,
            "solve": raw.solve_seconds,
            "wall": wall,
            "certify": certify_seconds,
        },
        peak_memory_mb=peak_mb,
        iterations=raw.iterations,
        message=raw.message,
    )

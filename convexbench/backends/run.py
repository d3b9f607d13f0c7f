"""Solving one program with one backend: limits, clocks, memory and independent verification."""

from __future__ import annotations

import math
import time
from dataclasses import replace

from threadpoolctl import threadpool_limits

from convexbench.backends.base import Backend, RawRun, SolveResult
from convexbench.backends.isolation import DEFAULT_GRACE, run_isolated, warm_up_backend
from convexbench.backends.presets import Preset, get_preset
from convexbench.backends.registry import get_backend, safe_info
from convexbench.backends.resources import PeakMemory
from convexbench.certificates import certify
from convexbench.errors import UnavailableError, UserError
from convexbench.programs.base import DUAL_HINT, ConvexProgram, Solution
from convexbench.programs.scaling import from_scaled, to_scaled, trace_from_scaled, unit_scaled

NAN = float("nan")


def check_limits(time_limit: float | None, threads: int, memory_limit_mb: float | None) -> None:
    """A :class:`UserError` for a non-positive time limit, thread count or memory limit."""
    if time_limit is not None and not (time_limit > 0):
        raise UserError(f"--time-limit must be positive, got {time_limit}")
    if int(threads) != threads or threads < 1:
        raise UserError(f"--threads must be a positive integer, got {threads}")
    if memory_limit_mb is not None and not (memory_limit_mb > 0):
        raise UserError(f"--memory-limit must be positive (MB), got {memory_limit_mb}")


def solve(
    program: ConvexProgram,
    backend: str | Backend = "clarabel",
    accuracy: str | Preset = "medium",
    time_limit: float | None = None,
    threads: int = 1,
    isolate: bool | None = None,
    memory_limit_mb: float | None = None,
    grace: float = DEFAULT_GRACE,
    start_method: str | None = None,
    with_certificate: bool = True,
    warm_up: ConvexProgram | None = None,
    warm_start: Solution | None = None,
) -> SolveResult:
    """Solve ``program`` with ``backend`` and certify the answer independently.

    ``warm_start``: a solution of a program with the same groups (e.g. the previous beta of
    a regularization path), in the program's units; backends that accept warm starts
    (``accepts_warm_start``: native) start from it, the others ignore it.

    ``warm_up``: a small program solved once, untimed, before the run (in the same process,
    child or not), so that the memory baseline holds what a first solve loads for good.

    ``with_certificate=False`` is for intermediate iterates that are never reported (e.g. the rounds
    of column generation): the objective is recomputed but no certificate is built, and the
    result is not ``verified``.

    ``time_limit`` is wall-clock seconds for the whole run from this call: cvxpy's build and
    compilation, a child process's start-up and the solver.  A run the limit cut short has
    status ``time_limit`` and is not certified (its objective is recomputed), so it returns
    within about ``time_limit + grace`` seconds; a run that finished in time is certified,
    which takes what it takes.

    ``isolate=None`` runs in a child process when a memory limit is set or when a time limit
    is set and the backend cannot stop by itself in every phase: every cvxpy backend (the
    compilation cannot be interrupted; a solver with a time option gets the time left after
    compilation), not the native one.  ``True``/``False`` force it (``isolate=False`` with a
    cvxpy backend leaves the compilation unlimited).  Hangs, crashes and memory exhaustion
    of an isolated run come back as results (``time_limit``, ``crashed``, ``memory_limit``).
    Raises :class:`UnavailableError` for an unknown, uninstalled or unlicensed backend or one
    that cannot solve the program.
    """
    preset = get_preset(accuracy)
    check_limits(time_limit, threads, memory_limit_mb)
    chosen = get_backend(backend)
    info = safe_info(chosen)
    if not info.available:
        raise UnavailableError(f"backend {chosen.name} is {info.message}")
    reason = chosen.supports(program)
    if reason:
        raise UnavailableError(f"backend {chosen.name} cannot solve this program: {reason}")
    return run_backend(program, chosen, preset, time_limit=time_limit, threads=threads,
                       isolate=isolate, memory_limit_mb=memory_limit_mb, grace=grace,
                       start_method=start_method, version=info.version,
                       with_certificate=with_certificate, warm_up=warm_up,
                       warm_start=warm_start)


def needs_isolation(backend: Backend, time_limit: float | None,
                    memory_limit_mb: float | None) -> bool:
    """Whether a limit can only be enforced from outside the process: a memory limit, or a
    time limit for a backend that cannot stop by itself in every phase (every cvxpy backend,
    whose compilation cannot be interrupted)."""
    if memory_limit_mb is not None:
        return True
    return time_limit is not None and not backend.enforces_time_limit


def run_backend(
    program: ConvexProgram,
    backend: Backend,
    preset: Preset,
    time_limit: float | None = None,
    threads: int = 1,
    isolate: bool | None = None,
    memory_limit_mb: float | None = None,
    grace: float = DEFAULT_GRACE,
    start_method: str | None = None,
    version: str | None = None,
    with_certificate: bool = True,
    warm_up: ConvexProgram | None = None,
    warm_start: Solution | None = None,
) -> SolveResult:
    """Run an available backend (in-process or isolated) and certify; checks nothing else.

    ``backend.prepare()`` and the ``warm_up`` solve (see :func:`solve`) are off the clock.
    """
    if isolate is None:
        isolate = needs_isolation(backend, time_limit, memory_limit_mb)
    if not isolate:
        warm_up_backend(backend, warm_up, preset, threads)
    start = time.perf_counter()
    # the solver sees unit-size data (its absolute tolerances then mean the same at every
    # scale); its answer is mapped back and certified on the program as given
    scaled, a, c = unit_scaled(program)
    if warm_start is not None and backend.accepts_warm_start:
        backend = WarmStarted(backend, warm_start if scaled is program
                              else to_scaled(warm_start, a, c))
    if isolate:
        outcome = run_isolated(backend, scaled, preset, time_limit=time_limit, threads=threads,
                               memory_limit_mb=memory_limit_mb, grace=grace,
                               start_method=start_method, warm_up=warm_up)
        raw, wall, elapsed = outcome.raw, outcome.run_seconds, outcome.elapsed
        peak, baseline = outcome.peak_memory_mb, outcome.memory_baseline_mb
    else:
        with PeakMemory() as memory, threadpool_limits(limits=threads):
            try:
                raw = backend.run(scaled, preset, time_limit=time_limit, threads=threads)
            except MemoryError:
                raw = RawRun("memory_limit", "MemoryError", None, message="MemoryError")
            except UnavailableError:
                raise
            except Exception as exc:  # a backend bug becomes an "error" row
                raw = RawRun("error", type(exc).__name__, None,
                             message=f"{type(exc).__name__}: {exc}"[:300])
        wall = elapsed = time.perf_counter() - start
        peak, baseline = memory.peak_mb, memory.baseline_mb
    if scaled is not program:
        raw = _unscaled(raw, a, c)
    return certify_run(program, raw, backend.name, version, preset, wall, peak,
                       elapsed=elapsed, memory_baseline_mb=baseline, isolated=bool(isolate),
                       time_limit=time_limit, with_certificate=with_certificate)


class WarmStarted(Backend):
    """A backend that accepts warm starts, handed one (a solution of the program it will
    run, in the units it sees).  A plain picklable object, so the warm start reaches an
    isolated child too; a program whose block shapes differ from the warm start's (the
    child's ``warm_up`` solve) is solved cold."""

    def __init__(self, backend: Backend, warm_start: Solution):
        self.backend, self.warm_start = backend, warm_start
        self.name, self.kind = backend.name, backend.kind

    @property
    def enforces_time_limit(self) -> bool:
        return self.backend.enforces_time_limit

    def info(self):
        return self.backend.info()

    def prepare(self) -> None:
        self.backend.prepare()

    def supports(self, program: ConvexProgram) -> str | None:
        return self.backend.supports(program)

    def run(self, program: ConvexProgram, preset: Preset, time_limit: float | None = None,
            threads: int = 1) -> RawRun:
        shapes = program.block_shapes()
        fits = all(name == DUAL_HINT or tuple(block.shape) == tuple(shapes.get(name, ()))
                   for name, block in self.warm_start.items())
        return self.backend.run(program, preset, time_limit=time_limit, threads=threads,
                                warm_start=self.warm_start if fits else None)


def _unscaled(raw: RawRun, a: float, c: float) -> RawRun:
    """A raw run on ``unit_scaled`` data in the original program's units."""
    solution = None if raw.solution is None else from_scaled(raw.solution, a, c)
    objective = None if raw.solver_objective is None else raw.solver_objective * c**2
    extra = dict(raw.extra)
    if "trace" in extra:  # native: (seconds, objective, relative violation)
        extra["trace"] = trace_from_scaled(extra["trace"], c)
    return replace(raw, solution=solution, solver_objective=objective, extra=extra)


def certify_run(
    program: ConvexProgram,
    raw: RawRun,
    backend: str,
    version: str | None,
    preset: Preset,
    wall: float,
    peak_mb: float | None,
    elapsed: float | None = None,
    memory_baseline_mb: float | None = None,
    isolated: bool = False,
    time_limit: float | None = None,
    with_certificate: bool = True,
) -> SolveResult:
    """Turn a backend's raw report into a certified :class:`SolveResult`.

    Success (``verified``) means the certificate holds at the preset's tolerance, whatever
    the solver said; ``status_agrees`` records whether the solver's "optimal" matched it.
    A point returned at the time limit is not certified (certifying a large program can take
    longer than the limit): its objective is recomputed and it is not ``verified``.
    """
    start = time.perf_counter()
    certificate, message = None, raw.message
    recomputed = None
    if raw.solution is not None and raw.status == "time_limit":
        recomputed = _objective(program, raw.solution)
        message = _joined(message, "not certified (stopped at the time limit)")
    elif raw.solution is not None and not with_certificate:
        recomputed = program.objective(raw.solution)
        message = _joined(message, "not certified (intermediate iterate)")
    elif raw.solution is not None:
        try:
            certificate = certify(program, raw.solution)
        except Exception as exc:  # a malformed solution is not verified, and says why
            message = _joined(message, f"certificate failed: {exc}")
    certify_seconds = time.perf_counter() - start
    verified = certificate is not None and certificate.holds(preset.tol)
    if certificate is not None and not verified:
        why = certificate.failure(preset.tol)
        message = _joined(message, f"not verified: {why}")
    solver_says_ok = raw.status == "optimal"
    objective = recomputed if recomputed is not None and math.isfinite(recomputed) else None
    if certificate is not None and math.isfinite(certificate.objective):
        objective = certificate.objective
    return SolveResult(
        backend=backend,
        backend_version=version,
        accuracy=preset.name,
        status=raw.status,
        raw_status=raw.raw_status,
        verified=verified,
        status_agrees=solver_says_ok == verified,
        objective=objective,
        solver_objective=raw.solver_objective,
        certificate=certificate,
        solution=raw.solution,
        times={"build": raw.build_seconds, "compile": raw.compile_seconds,
               "solve": raw.solve_seconds,
               "solve_call": float(raw.extra.get("solve_call_seconds", raw.solve_seconds)),
               "wall": wall, "elapsed": wall if elapsed is None else elapsed,
               "certify": certify_seconds},
        peak_memory_mb=peak_mb,
        iterations=raw.iterations,
        message=message,
        memory_baseline_mb=memory_baseline_mb,
        isolated=isolated,
        tolerance=preset.tol,
        time_limit=time_limit,
        trace=tuple(tuple(point) for point in raw.extra.get("trace", ())),
    )


def _joined(message: str, more: str) -> str:
    return f"{message}; {more}" if message else more


def _objective(program: ConvexProgram, solution) -> float | None:
    try:
        return float(program.objective(solution))
    except Exception:  # a malformed point of a cut-short run has no objective
        return None


def unavailable_result(backend: str, version: str | None, preset: Preset, reason: str,
                       time_limit: float | None = None) -> SolveResult:
    """The record of a backend that was skipped (not installed, unlicensed, unsupported)."""
    return SolveResult(
        backend=backend, backend_version=version, accuracy=preset.name, status="unavailable",
        raw_status="skipped", verified=False, status_agrees=True, objective=None,
        solver_objective=None, certificate=None, solution=None,
        times={key: NAN for key in ("build", "compile", "solve", "solve_call", "wall",
                                    "elapsed", "certify")},
        peak_memory_mb=None, iterations=None, message=reason, tolerance=preset.tol,
        time_limit=time_limit)

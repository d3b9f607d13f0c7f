"""Solves per backend: wall time, peak memory, and accuracy/iterations against a cached
high-accuracy reference (``convexbench.backends.solve``, accuracy preset ``medium``)."""

from __future__ import annotations

import math

from convexbench.backends import solve

from ._common import (
    BACKENDS,
    MODELS,
    SOLVE_SIZE,
    THREADS,
    make,
    pin_threads,
    require_backend,
    skip_reason,
)

ACCURACY = "medium"
REFERENCE = ("clarabel", "high")  # backend and preset of the reference objective
TIME_LIMIT = 10.0  # seconds per solve, so that a slow backend cannot stall the suite


def _solve(program, backend, accuracy=ACCURACY):
    # in this process (peakmem sees it), even where a time limit would isolate it
    return solve(program, backend=backend, accuracy=accuracy, threads=THREADS,
                 time_limit=TIME_LIMIT, isolate=False)


class Solve:
    """Wall time and peak memory of a certified solve (build, compile, solve, certify)."""

    params = (list(MODELS), list(BACKENDS))
    param_names = ["model", "backend"]
    number = 1
    repeat = (1, 3, 10.0)
    warmup_time = 0.0
    timeout = 120

    def setup(self, model, backend):
        pin_threads()
        self.program = make(model, *SOLVE_SIZE[model])
        require_backend(backend, self.program)

    def time_solve(self, model, backend):
        _solve(self.program, backend)

    def peakmem_solve(self, model, backend):
        _solve(self.program, backend)


def _record(result) -> dict:
    cert = result.certificate
    return {
        "status": result.status,
        "objective": result.objective,
        "iterations": result.iterations,
        "solve_seconds": result.times.get("solve"),
        "certificate_gap": None if cert is None else cert.relative_gap,
    }


class Accuracy:
    """What each backend reaches at the ``medium`` preset, solved once in ``setup_cache``.

    ``track_objective_gap`` is (objective - reference) / |reference|, the reference being
    clarabel at the ``high`` preset (negative values mean a slightly infeasible point)."""

    params = (list(MODELS), list(BACKENDS))
    param_names = ["model", "backend"]
    timeout = 120

    def setup_cache(self):
        pin_threads()
        cache = {}
        for model in MODELS:
            program = make(model, *SOLVE_SIZE[model])
            reference = _solve(program, *REFERENCE)
            if reference.objective is None:
                raise RuntimeError(f"{model}: reference solve failed ({reference.status})")
            entry = {"reference": reference.objective}
            for backend in BACKENDS:
                reason = skip_reason(backend, program)
                if reason:  # not installed, or not this backend's model: n/a
                    entry[backend] = {"skip": reason}
                    continue
                if backend == REFERENCE[0] and ACCURACY == REFERENCE[1]:
                    entry[backend] = _record(reference)
                    continue
                try:
                    entry[backend] = _record(_solve(program, backend))
                except Exception as exc:  # reported by the benchmarks of this backend
                    entry[backend] = f"{type(exc).__name__}: {exc}"
            cache[model] = entry
        return cache

    setup_cache.timeout = 600

    def setup(self, cache, model, backend):
        record = cache[model][backend]
        if isinstance(record, dict) and "skip" in record:
            raise NotImplementedError(record["skip"])
        if isinstance(record, str):
            raise RuntimeError(f"{backend} failed on {model}: {record}")
        self.record = record
        self.reference = cache[model]["reference"]

    def track_objective_gap(self, cache, model, backend):
        objective = self.record["objective"]
        if objective is None:
            return math.nan
        return (objective - self.reference) / max(abs(self.reference), 1e-12)

    track_objective_gap.unit = "relative"

    def track_certificate_gap(self, cache, model, backend):
        gap = self.record["certificate_gap"]
        return math.nan if gap is None else gap

    track_certificate_gap.unit = "relative"

    def track_iterations(self, cache, model, backend):
        iterations = self.record["iterations"]
        return math.nan if iterations is None else iterations

    track_iterations.unit = "iterations"

    def track_solver_seconds(self, cache, model, backend):
        seconds = self.record["solve_seconds"]
        return math.nan if seconds is None else seconds

    track_solver_seconds.unit = "seconds"

"""The asv suite in ``benchmarks/`` imports and runs: setup_cache, setup and one call of
every benchmark, on tiny problems (asv itself runs it in CI: ``.ci/run``)."""

from __future__ import annotations

import importlib
import inspect
import itertools
import math
import os
import pkgutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PREFIXES = ("time_", "peakmem_", "track_", "mem_", "timeraw_")
TINY_SOLVE_SIZE = {"relu2": (20, 3, 8), "gated2": (20, 3, 8), "relu3": (15, 2, 6)}
# scnn's augmented Lagrangian runs to the benchmarks' 10 s time limit even on tiny programs
# (tests/test_backends_scnn.py covers it); left out here to keep the suite fast
SLOW = ("scnn-al",)


@pytest.fixture(scope="module")
def suite():
    """Every benchmark module, imported as asv does (package ``benchmarks``), made tiny."""
    saved_env = dict(os.environ)
    sys.path.insert(0, str(ROOT))
    try:
        package = importlib.import_module("benchmarks")
        modules = [importlib.import_module(f"benchmarks.{info.name}")
                   for info in pkgutil.iter_modules(package.__path__)
                   if info.name.startswith("bench_")]
        common = importlib.import_module("benchmarks._common")
        backends = importlib.import_module("benchmarks.bench_backends")
        mp = pytest.MonkeyPatch()
        mp.setattr(backends, "SOLVE_SIZE", TINY_SOLVE_SIZE)
        mp.setattr(backends, "BACKENDS", tuple(b for b in backends.BACKENDS if b not in SLOW))
        yield modules
        mp.undo()
        if common._limits is not None:
            common._limits.restore_original_limits()
            common._limits = None
    finally:
        sys.path.remove(str(ROOT))
        os.environ.clear()
        os.environ.update(saved_env)


def _benchmarks(modules):
    for module in modules:
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__:
                continue
            for name in sorted(vars(cls)):
                if name.startswith(PREFIXES):
                    yield cls, name


def _run(cls, name, params, cache_store):
    """asv's protocol for one parameter combination; returns the value or None if skipped."""
    obj = cls()
    args = list(params)
    if hasattr(cls, "setup_cache"):
        if cls not in cache_store:
            cache_store[cls] = cls().setup_cache()
        args = [cache_store[cls], *args]
    if hasattr(obj, "setup"):
        try:
            obj.setup(*args)
        except NotImplementedError:
            return None
    value = getattr(obj, name)(*args)
    if hasattr(obj, "teardown"):
        obj.teardown(*args)
    return value


def _combos(cls):
    params = getattr(cls, "params", ())
    if params and not isinstance(params[0], list):
        params = (params,)
    return list(itertools.product(*params)) if params else [()]


def test_suite_discovers_every_kind(suite):
    names = {name.split("_")[0] for _, name in _benchmarks(suite)}
    assert {"time", "peakmem", "track"} <= names
    assert {m.__name__ for m in suite} >= {"benchmarks.bench_programs",
                                           "benchmarks.bench_backends",
                                           "benchmarks.bench_patterns"}


def test_every_benchmark_runs_once(suite):
    """The first parameter combination of every benchmark (every combination of the solver
    benchmarks, on tiny problems) runs, and track_* benchmarks return numbers."""
    cache_store: dict = {}
    ran = 0
    for cls, name in _benchmarks(suite):
        combos = _combos(cls)
        if cls.__name__ not in ("Solve", "Accuracy"):
            combos = combos[:1]
        for params in combos:
            if any(p in SLOW for p in params):
                continue
            value = _run(cls, name, params, cache_store)
            ran += 1
            if name.startswith("track_") and value is not None:
                assert isinstance(value, int | float), (cls.__name__, name, params)
                assert not math.isnan(value) or name == "track_iterations", (name, params)
    assert ran > 20


def test_accuracy_reference_agrees(suite):
    """On tiny problems every available backend lands within 1e-3 of the reference."""
    backends = importlib.import_module("benchmarks.bench_backends")
    cache = backends.Accuracy().setup_cache()
    for model, entry in cache.items():
        for backend, record in entry.items():
            if backend == "reference" or (isinstance(record, dict) and "skip" in record):
                continue
            assert not isinstance(record, str), record
            gap = (record["objective"] - entry["reference"]) / abs(entry["reference"])
            assert abs(gap) < 1e-3, (model, backend, gap)

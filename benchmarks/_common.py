"""Shared helpers: pinned threads, program construction on seeded planted data, backends."""

from __future__ import annotations

import os

from threadpoolctl import threadpool_limits

from convexbench.backends import all_backends, get_backend
from convexbench.data.synthetic import planted_data
from convexbench.names import MODELS
from convexbench.programs import make_program

__all__ = ["MODELS", "planted_data"]  # re-exported for the benchmark modules

THREADS = int(os.environ.get("CONVEXBENCH_BENCH_THREADS", "1"))
BETA = 1e-2  # regularization weight of every benchmarked program
M1 = 2  # first-layer width of the relu3 sub-networks
# cvxopt (in the `all` extra) is left out: 5-15 s per solve here, and it errors on small relu3.
# scnn-rfista (gated2) and scnn-al (relu2) need the optional scnn (pyscnn): without it, and on
# the other models, their benchmarks are skipped (n/a)
BACKENDS = ("clarabel", "ecos", "scs", "native", "scnn-rfista", "scnn-al")
# the solve/accuracy problem of each model: (n, d, patterns); each solve takes well under 1 s
# on one core with clarabel and ecos (scs takes about 1 s)
SOLVE_SIZE = {"relu2": (100, 5, 50), "gated2": (100, 5, 50), "relu3": (60, 4, 40)}

_limits = None


def pin_threads() -> None:
    """Limit the BLAS/OpenMP pools of this process to ``THREADS`` threads (idempotent)."""
    global _limits
    if _limits is None:
        _limits = threadpool_limits(limits=THREADS)


def make(model: str, n: int, d: int, patterns, seed: int = 0):
    """``make_program`` on planted data (``patterns``: "all" or the number of samples)."""
    X, y = planted_data(n, d, seed)
    return make_program(model, X, y, BETA, patterns=patterns, m1=M1, seed=seed)


def backend_available(name: str) -> bool:
    """True when ``name`` is a registered backend that can run on this machine."""
    backend = all_backends().get(name)
    return backend is not None and backend.info().available


def skip_reason(name: str, program=None) -> str | None:
    """Why ``name`` cannot be benchmarked (on ``program``), or None."""
    if not backend_available(name):
        return f"backend {name} is not available"
    if program is not None:
        return get_backend(name).supports(program)
    return None


def require_backend(name: str, program=None) -> None:
    """Raise NotImplementedError (asv: skip) if the backend is missing or cannot solve it."""
    reason = skip_reason(name, program)
    if reason:
        raise NotImplementedError(reason)

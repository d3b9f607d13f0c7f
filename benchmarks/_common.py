"""Shared helpers: pinned threads, seeded planted data, program construction, backends."""

from __future__ import annotations

import os

import numpy as np
from threadpoolctl import threadpool_limits

from convexbench.backends import all_backends, get_backend
from convexbench.programs import make_program

THREADS = int(os.environ.get("CONVEXBENCH_BENCH_THREADS", "1"))
BETA = 1e-2  # regularization weight of every benchmarked program
M1 = 2  # first-layer width of the relu3 sub-networks
MODELS = ("relu2", "gated2", "relu3")
# cvxopt (in the `all` extra) is left out: 5-15 s per solve here, and it errors on small relu3
BACKENDS = ("clarabel", "ecos", "scs", "native")
# the solve/accuracy problem of each model: (n, d, patterns); each solve takes well under 1 s
# on one core with clarabel and ecos (scs takes about 1 s)
SOLVE_SIZE = {"relu2": (100, 5, 50), "gated2": (100, 5, 50), "relu3": (60, 4, 40)}

_limits = None


def pin_threads() -> None:
    """Limit the BLAS/OpenMP pools of this process to ``THREADS`` threads (idempotent)."""
    global _limits
    if _limits is None:
        _limits = threadpool_limits(limits=THREADS)


def planted_data(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Seeded regression data: X ~ N(0, 1), y = a planted 4-neuron ReLU network + noise."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    W = rng.standard_normal((d, 4))
    y = np.maximum(X @ W, 0.0) @ rng.standard_normal(4) + 0.1 * rng.standard_normal(n)
    return X, y


def make(model: str, n: int, d: int, patterns, seed: int = 0):
    """``make_program`` on planted data (``patterns``: "all" or the number of samples)."""
    X, y = planted_data(n, d, seed)
    return make_program(model, X, y, BETA, patterns=patterns, m1=M1, seed=seed)


def backend_available(name: str) -> bool:
    """True when ``name`` is a registered backend that can run on this machine."""
    backend = all_backends().get(name)
    return backend is not None and backend.info().available


def require_backend(name: str, program=None) -> None:
    """Raise NotImplementedError (asv: skip) if the backend is missing or cannot solve it."""
    if not backend_available(name):
        raise NotImplementedError(f"backend {name} is not available")
    if program is not None:
        reason = get_backend(name).supports(program)
        if reason:
            raise NotImplementedError(reason)

"""Adapter to the reference solvers of pilancilab/scnn (Mishkin, Sahiner & Pilanci, ICML 2022).

scnn is published on PyPI as ``pyscnn`` (import name ``scnn``; its ``lab`` module comes from the
``linalg-backends`` distribution). The PyPI project named ``scnn`` is unrelated. One way to
install it without pulling a CUDA torch or torchvision (scnn never imports torchvision)::

    pip install torch==2.13.0 opt-einsum
    pip install --no-deps pyscnn==0.0.10 linalg-backends==0.0.1b0

Two solver/model pairs exist in scnn: R-FISTA on the gated ReLU program (``gated2``) and the
augmented Lagrangian method on the two-layer ReLU program (``relu2``). Scaling: scnn minimises
``1/(2n) ||r||^2 + lam * sum of group norms``. Ours is ``1/2 ||r||^2 + beta * sum``, so we pass
``lam = beta / n``. The minimiser is the same and our objective is ``n`` times scnn's.
"""

from __future__ import annotations

import importlib
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

PAIRS = {("gated2", "rfista"), ("relu2", "al")}
_REQUIRED = ("scnn.models", "scnn.solvers", "scnn.regularizers", "scnn.metrics",
             "scnn.private.interface")


@dataclass
class ScnnOutcome:
    """One scnn solve, with its weights converted to our solution format.

    ``solution`` is ``{"U": (P, d)}`` for gated2 or ``{"V": (P, d), "W": (P, d)}`` for relu2,
    with rows in the order of the ``gates`` passed in. Rows whose pattern scnn dropped are zero.
    ``wall`` covers everything from the first scnn call on: the data conversion, the patterns
    and the solve. ``solve`` covers scnn's optimisation loop only. Both exclude the time spent
    recording the trace. ``trace`` holds ``(seconds since start, solution)`` pairs.
    """

    model: str
    method: str
    status: str  # "converged", "max_iters", "time_limit" or "stopped" (divergence check)
    raw_status: dict[str, Any]
    iterations: int | None  # R-FISTA steps, or total inner steps of the AL method
    wall: float
    solve: float
    solution: dict[str, np.ndarray]
    trace: list[tuple[float, dict[str, np.ndarray]]] = field(default_factory=list)
    lam: float = 0.0
    n_patterns: int = 0  # patterns scnn kept after removing duplicate and empty ones
    note: str = ""


class _TimeLimit(Exception):
    """Raised by the callback to stop scnn's loop once ``max_seconds`` is spent."""


def scnn_available() -> str | None:
    """Return None if pilancilab's scnn can be imported, else a one-line reason."""
    try:
        optimize = importlib.import_module("scnn.optimize")
    except Exception as exc:  # ImportError, or an unrelated 'scnn' that fails to import
        first = (str(exc).splitlines() or [""])[0]
        return f"pilancilab scnn not importable ({type(exc).__name__}: {first})"
    if not hasattr(optimize, "optimize_model"):
        return "the installed 'scnn' is not pilancilab's (no scnn.optimize.optimize_model)"
    for name in _REQUIRED:
        try:
            importlib.import_module(name)
        except Exception as exc:
            first = (str(exc).splitlines() or [""])[0]
            return f"pilancilab scnn is incomplete: {name} ({type(exc).__name__}: {first})"
    return None


class _Recorder:
    """scnn callback: copies the weights on a geometric schedule and stops at the time limit."""

    def __init__(self, start: float, max_seconds: float, growth: float | None) -> None:
        self.start = start
        self.max_seconds = max_seconds
        self.growth = growth
        self.overhead = 0.0
        self.steps = 0
        self.next_record = 1
        self.points: list[tuple[float, np.ndarray]] = []
        self.last_model: Any = None

    def elapsed(self, now: float | None = None) -> float:
        return (time.perf_counter() if now is None else now) - self.start - self.overhead

    def __call__(self, model: Any, X: Any, y: Any) -> Any:
        now = time.perf_counter()
        self.steps += 1
        self.last_model = model
        if self.elapsed(now) > self.max_seconds:
            raise _TimeLimit
        if self.growth is not None and self.steps >= self.next_record:
            self.points.append((self.elapsed(now), np.array(model.weights, copy=True)))
            self.next_record = max(self.steps + 1, math.ceil(self.steps * self.growth))
        self.overhead += time.perf_counter() - now
        return model


def _row_index(gates: np.ndarray, G: np.ndarray) -> np.ndarray:
    """Index into ``gates`` (P, d) of every column of scnn's gate matrix G (d, p)."""
    lookup: dict[bytes, int] = {}
    for i, g in enumerate(gates):
        lookup.setdefault(g.tobytes(), i)
    index = np.empty(G.shape[1], dtype=int)
    for j in range(G.shape[1]):
        col = np.ascontiguousarray(G[:, j])
        i = lookup.get(col.tobytes())
        if i is None:
            close = np.flatnonzero(np.all(np.isclose(gates, col, rtol=0, atol=1e-12), axis=1))
            if close.size == 0:
                raise RuntimeError("scnn returned a gate vector that is not among ours")
            i = int(close[0])
        index[j] = i
    return index


def _to_solution(weights: np.ndarray, model: str, index: np.ndarray, shape: tuple[int, int]):
    """Convert scnn's internal weights ((c, p, d), or (2, c, p, d) for relu2) to ours."""
    weights = np.asarray(weights, dtype=np.float64)
    names = ("U",) if model == "gated2" else ("V", "W")
    blocks = [weights] if model == "gated2" else [weights[0], weights[1]]
    solution = {}
    for name, block in zip(names, blocks, strict=True):
        full = np.zeros(shape)
        full[index] = block.reshape(-1, shape[1])  # c = 1
        solution[name] = full
    return solution


def _status(raw: dict[str, Any], steps: int | None, max_iters: int) -> str:
    if raw.get("success"):
        return "converged"
    if steps is not None and steps >= max_iters:
        return "max_iters"
    return "stopped" if "success" in raw else "unknown"


def run_scnn(
    X: np.ndarray,
    y: np.ndarray,
    beta: float,
    gates: np.ndarray,
    model: str,
    method: str,
    tol: float = 1e-6,
    max_seconds: float = 600.0,
    *,
    max_iters: int = 10000,
    trace: bool = True,
    trace_growth: float = 1.1,
) -> ScnnOutcome:
    """Solve our gated2/relu2 program with scnn's R-FISTA or augmented Lagrangian (AL) method.

    We call the steps of ``scnn.optimize.optimize_model`` in its order: ``set_device``,
    ``process_data``, ``build_internal_model``, ``build_optimizer``, then the optimisation
    procedure. ``optimize_model`` drops the solver's exit status and gives no callback, so we do
    not call it directly. The options are those of ``optimize_model(..., unitize_data=False,
    device="cpu", dtype="float64", return_convex=True)``: ``ConvexGatedReLU``/``ConvexReLU`` on
    ``G = gates.T`` with ``bias=False`` and regulariser ``NeuronGL1(beta / n)``. scnn builds its
    patterns as ``1[X g > 0]``, then drops duplicate and all-zero patterns and reorders them.
    Ours use ``1[X g >= 0]``. For continuous data the two agree, and ``note`` counts any entry
    where they differ. scnn's CPU backend is numpy in float64, so torch is imported but not used.

    ``tol`` is scnn's own stopping tolerance: the squared norm of the minimum-norm subgradient
    of its 1/n-scaled objective. For AL it also bounds the constraint violation
    (``constraint_tol``). ``max_iters`` caps the R-FISTA steps, or for AL the total inner steps
    and the dual updates. scnn has no time limit, so a callback stops its loop after
    ``max_seconds`` (status ``"time_limit"``) and returns the last iterate.

    Trace: with ``trace=True`` the callback copies the iterate after steps 1, 2, ... on a
    geometric schedule (each step number about ``trace_growth`` times the last). Each copy is
    stamped with the time since start, less the time spent copying. For AL these are inner
    iterates between dual updates and may be infeasible: certify them. Solvers that stop by
    themselves have a final point, which is appended.

    Side effects of scnn: it sets lab's global backend and dtype, and reseeds numpy's legacy
    global RNG and torch's. We restore numpy's legacy RNG state, torch's default dtype and the
    root logger level.
    """
    reason = scnn_available()
    if reason is not None:
        raise RuntimeError(reason)
    if (model, method) not in PAIRS:
        raise ValueError(f"scnn pairs {sorted(PAIRS)} only, got ({model!r}, {method!r})")
    X = np.ascontiguousarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    gates = np.ascontiguousarray(gates, dtype=np.float64)
    n, d = X.shape
    if gates.ndim != 2 or gates.shape[1] != d or y.shape[0] != n:
        raise ValueError(f"shapes X {X.shape}, y {y.shape}, gates {gates.shape} do not match")
    lam = float(beta) / n

    import torch
    from scnn.metrics import Metrics
    from scnn.models import ConvexGatedReLU, ConvexReLU
    from scnn.private.interface import (
        build_internal_model,
        build_metrics_tuple,
        build_optimizer,
        get_logger,
        process_data,
        set_device,
    )
    from scnn.regularizers import NeuronGL1
    from scnn.solvers import AL, RFISTA

    np_state = np.random.get_state()
    torch_dtype = torch.get_default_dtype()
    root_level = logging.root.level
    try:
        start = time.perf_counter()
        logger = get_logger("scnn", False, False, None)
        set_device("cpu", "float64", 778)  # scnn's default seed; the solvers are deterministic
        if model == "gated2":
            public = ConvexGatedReLU(gates.T.copy(), c=1, bias=False)
            solver = RFISTA(public, max_iters=max_iters, tol=tol)
        else:
            public = ConvexReLU(gates.T.copy(), c=1, bias=False)
            solver = AL(public, max_primal_iters=max_iters, max_dual_iters=max_iters, tol=tol,
                        constraint_tol=tol)
        regularizer = NeuronGL1(lam)
        metrics = Metrics(objective=False, grad_norm=False)  # scnn logs only times then
        train, test, _ = process_data(X, y[:, None], None, None, False, False)
        internal = build_internal_model(public, regularizer, train[0])
        procedure = build_optimizer(solver, regularizer, metrics)
        recorder = _Recorder(start, max_seconds, trace_growth if trace else None)
        solve_start = recorder.elapsed()
        try:
            raw, internal, _ = procedure(logger, internal, lambda m: m, tuple(train), tuple(test),
                                         build_metrics_tuple(metrics), callback=recorder)
            raw = dict(raw)
            timed_out = False
        except _TimeLimit:
            internal = recorder.last_model
            raw, timed_out = {"success": False, "time_limit": max_seconds}, True
        end = recorder.elapsed()
    finally:
        np.random.set_state(np_state)
        torch.set_default_dtype(torch_dtype)
        logging.root.setLevel(root_level)

    G = np.asarray(internal.U, dtype=np.float64)
    index = _row_index(gates, G)
    steps = raw.get("iterations", raw.get("total_inner_iterations"))
    if timed_out:
        steps = recorder.steps
    status = "time_limit" if timed_out else _status(raw, steps, max_iters)
    shape = (gates.shape[0], d)
    solution = _to_solution(internal.weights, model, index, shape)
    points = [(t, _to_solution(w, model, index, shape)) for t, w in recorder.points]
    if trace and (not points or points[-1][0] < end):
        points.append((end, solution))
    ours = X @ gates[index].T >= 0
    theirs = X @ G > 0
    mismatch = int(np.count_nonzero(ours != theirs))
    note = f"lam = beta/n = {lam:.6g}; {G.shape[1]} of {gates.shape[0]} patterns kept by scnn"
    if mismatch:
        note += f"; {mismatch} mask entries differ (X g = 0 exactly)"
    return ScnnOutcome(model, method, status, raw, None if steps is None else int(steps), end,
                       end - solve_start, solution, points if trace else [], lam, G.shape[1],
                       note)


def certified_trace(program: Any, outcome: ScnnOutcome) -> list[tuple[float, float, float]]:
    """``(seconds, objective, relative violation)`` per trace point, by our certificate."""
    from convexbench.certificates import certify

    rows = []
    for t, solution in outcome.trace:
        cert = certify(program, solution)
        rows.append((t, cert.objective, cert.relative_violation))
    return rows

"""The ``scnn-rfista`` and ``scnn-al`` backends: the reference solvers of pilancilab/scnn.

scnn (Mishkin, Sahiner & Pilanci, ICML 2022) is published on PyPI as ``pyscnn`` (import name
``scnn``; its ``lab`` module comes from ``linalg-backends``; the PyPI project named ``scnn`` is
unrelated).  It needs torch, and its wheel pins an old CUDA torch, so install it in two steps
(README, "scnn")::

    pip install torch==2.13.0 opt-einsum
    pip install --no-deps pyscnn==0.0.10 linalg-backends==0.0.1b0

Two solver/program pairs exist in scnn: R-FISTA on the gated ReLU program (``scnn-rfista``,
``gated2``) and the augmented Lagrangian method on the two-layer ReLU program (``scnn-al``,
``relu2``), squared loss only.  Both solve on exactly the program's patterns: the internal
model is built on the program's pattern matrix (scnn's ``build_internal_model`` would recompute
patterns from gate vectors as ``1[X g > 0]`` and drop duplicates), so the answer is a point of
the very program the other backends solve and is certified like theirs.

Scaling: scnn minimises ``1/(2n) ||r||^2 + lam * sum of group norms``; ours is
``1/2 ||r||^2 + beta * sum``, so ``lam = beta / n``: the same minimiser, our objective ``n``
times scnn's.  scnn's tolerance ``tol`` bounds the squared norm of the minimum-norm
subgradient of its ``1/n``-scaled objective (R-FISTA) or of the augmented Lagrangian's inner
problems (AL, where ``constraint_tol`` bounds the cone violation); :func:`scnn_options` maps
the presets onto it.  scnn has no time limit: a callback checks the deadline after every
iteration and stops the loop with the last iterate (status ``time_limit``).
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import logging
import math
import time
from typing import Any

import numpy as np

from convexbench.backends.base import Backend, BackendInfo, RawRun
from convexbench.backends.presets import Preset
from convexbench.certificates import relative_violation
from convexbench.programs.base import ConvexProgram, Solution

INSTALL_HINT = ("pip install torch==2.13.0 opt-einsum && pip install --no-deps "
                "pyscnn==0.0.10 linalg-backends==0.0.1b0")
_REQUIRED = ("scnn.optimize", "scnn.models", "scnn.solvers", "scnn.regularizers",
             "scnn.metrics", "scnn.private.interface", "scnn.private.models")

# scnn's tolerance per preset.  Its ``tol`` bounds a *squared* subgradient norm of the
# 1/n-scaled objective (on unit-size data), and the certificate's gap, built from the residual,
# shrinks like the square root of the objective error: measured on gated2 (200 x 8 planted,
# 40 patterns, beta 1 / 10 / 32), tol 1e-12 gives certificate gaps of 4e-5 / 5e-6 / 3e-6,
# 1e-15 gives 1.4e-6 / 1.5e-7 / 7e-8.  From about 1e-16 on the squared norm may stop
# decreasing (float64; measured at beta 32), and the run then ends at the iteration cap or
# the time limit: ``high`` asks for 1e-16 and is often not reachable.  AL's
# ``constraint_tol`` (the cone violation) gets the preset's solver tolerance.
SCNN_TOL = {"low": 1e-12, "medium": 1e-15, "high": 1e-16}
SCNN_MAX_ITERS = {"low": 10_000, "medium": 100_000, "high": 100_000}
TRACE_GROWTH = 1.1  # iterates are copied after steps 1, 2, ... about 1.1 times apart

SCNN_METHODS = {"scnn-rfista": ("gated2", "rfista"), "scnn-al": ("relu2", "al")}


@functools.lru_cache(maxsize=1)
def scnn_available() -> str | None:
    """None if pilancilab's scnn can be imported, else a one-line reason."""
    try:
        optimize = importlib.import_module("scnn.optimize")
    except Exception as exc:  # ImportError, or an unrelated 'scnn' that fails to import
        first = (str(exc).splitlines() or [""])[0]
        return f"not installed (pilancilab scnn, PyPI pyscnn: {type(exc).__name__}: {first})"
    if not hasattr(optimize, "optimize_model"):
        return "the installed 'scnn' is not pilancilab's (no scnn.optimize.optimize_model)"
    for name in _REQUIRED:
        try:
            importlib.import_module(name)
        except Exception as exc:
            first = (str(exc).splitlines() or [""])[0]
            return f"pilancilab scnn is incomplete: {name} ({type(exc).__name__}: {first})"
    return None


def scnn_version() -> str | None:
    try:
        return importlib.metadata.version("pyscnn")
    except importlib.metadata.PackageNotFoundError:
        return None


def scnn_options(method: str, preset: Preset) -> dict[str, Any]:
    """scnn's solver options for ``preset`` (R-FISTA: ``tol``, ``max_iters``; AL: ``tol``,
    ``constraint_tol``, ``max_primal_iters``, ``max_dual_iters``)."""
    tol = SCNN_TOL.get(preset.name, max(preset.solver_tol**2, SCNN_TOL["high"]))
    iters = SCNN_MAX_ITERS.get(preset.name, preset.max_iter)
    if method == "rfista":
        return {"tol": tol, "max_iters": iters}
    return {"tol": tol, "constraint_tol": preset.solver_tol, "max_primal_iters": iters,
            "max_dual_iters": iters}


class _TimeLimit(Exception):
    """Raised by the callback to stop scnn's loop at the deadline."""


class _Recorder:
    """scnn callback: copies the weights on a geometric schedule, stops at the deadline."""

    def __init__(self, start: float, time_limit: float | None) -> None:
        self.start = start
        self.time_limit = time_limit
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
        if self.time_limit is not None and now - self.start > self.time_limit:
            raise _TimeLimit
        if self.steps >= self.next_record:
            self.points.append((self.elapsed(now), np.array(model.weights, copy=True)))
            self.next_record = max(self.steps + 1, math.ceil(self.steps * TRACE_GROWTH))
        self.overhead += time.perf_counter() - now
        return model


def _to_solution(weights: Any, model: str, shape: tuple[int, int]) -> Solution:
    """scnn's internal weights ((c, P, d), or (2, c, P, d) for relu2; c = 1) as our blocks."""
    weights = np.asarray(weights, dtype=np.float64)
    if model == "gated2":
        return {"U": weights.reshape(shape).copy()}
    return {"V": weights[0].reshape(shape).copy(), "W": weights[1].reshape(shape).copy()}


class ScnnBackend(Backend):
    """One scnn solver on its program (``gated2`` with R-FISTA, ``relu2`` with AL)."""

    kind = "scnn"

    def __init__(self, name: str):
        self.name = name
        self.model, self.method = SCNN_METHODS[name]

    @property
    def enforces_time_limit(self) -> bool:
        return True

    @property
    def time_limit_enforcement(self) -> str:
        return ("callback checks the deadline after every scnn iteration and stops with the "
                "last iterate, in-process")

    @property
    def time_limit_summary(self) -> str:
        return "callback deadline check (in-process)"

    def info(self) -> BackendInfo:
        solver = "R-FISTA" if self.method == "rfista" else "augmented Lagrangian"
        notes = f"pilancilab scnn {solver} on {self.model}, squared loss; lam = beta/n"
        reason = scnn_available()
        if reason is not None:
            return BackendInfo(self.name, False, None, False, f"unavailable: {reason}", (),
                               kind=self.kind, notes=f"{notes}; install: {INSTALL_HINT}")
        return BackendInfo(self.name, True, scnn_version(), True, "available",
                           cones=("zero", "nonneg", "soc"), kind=self.kind, notes=notes)

    def supports(self, program: ConvexProgram) -> str | None:
        if program.model != self.model:
            return f"{self.name} solves {self.model} programs only (got {program.model})"
        if program.loss.name != "squared":
            return f"{self.name} has the squared loss only (got {program.loss.name})"
        return None

    def preset_options(self, preset: Preset, time_limit: float | None = None, threads: int = 1
                       ) -> dict[str, Any]:
        return {**scnn_options(self.method, preset), "lam": "beta/n",
                "time_limit": time_limit}

    def option_names(self) -> dict[str, Any]:
        tolerances = ["tol"] if self.method == "rfista" else ["tol", "constraint_tol"]
        iterations = "max_iters" if self.method == "rfista" else "max_primal_iters"
        return {"tolerances": tolerances, "iterations": iterations, "time_limit": "time_limit",
                "threads": None}

    def prepare(self) -> None:
        scnn_available()  # imports scnn and torch (about 2 s), outside the run's clock

    def run(self, program: ConvexProgram, preset: Preset, time_limit: float | None = None,
            threads: int = 1) -> RawRun:
        reason = scnn_available() or self.supports(program)
        if reason:
            return RawRun("error", "unsupported", None, message=reason)
        return _run(program, self.model, self.method, scnn_options(self.method, preset),
                    time_limit)


def _run(program: ConvexProgram, model: str, method: str, options: dict[str, Any],
         time_limit: float | None) -> RawRun:
    """Build scnn's internal model on the program's patterns, run its optimisation procedure
    (the steps of ``scnn.optimize.optimize_model``, which drops the exit status and takes no
    callback) and convert the answer.

    scnn sets lab's global backend and dtype and reseeds numpy's legacy global RNG and
    torch's: numpy's legacy RNG state, torch's default dtype and the root logger level are
    restored.
    """
    import lab
    import torch
    from scnn.metrics import Metrics
    from scnn.models import ConvexGatedReLU, ConvexReLU
    from scnn.private.interface import (
        build_internal_regularizer,
        build_metrics_tuple,
        build_optimizer,
        get_logger,
        process_data,
        set_device,
    )
    from scnn.private.models import AL_MLP, ConvexMLP
    from scnn.regularizers import NeuronGL1
    from scnn.solvers import AL, RFISTA

    X = np.ascontiguousarray(program.X, dtype=np.float64)
    y = np.asarray(program.y, dtype=np.float64).reshape(-1)
    n, d = X.shape
    P = program.n_groups
    lam = float(program.beta) / n
    np_state = np.random.get_state()
    torch_dtype = torch.get_default_dtype()
    root_level = logging.root.level
    start = time.perf_counter()
    try:
        logger = get_logger("scnn", False, False, None)
        set_device("cpu", "float64", 778)  # scnn's default seed; the solvers are deterministic
        gates = np.zeros((d, P))  # only used to predict on new data, never here
        if model == "gated2":
            public = ConvexGatedReLU(gates, c=1, bias=False)
            solver = RFISTA(public, **options)
        else:
            public = ConvexReLU(gates, c=1, bias=False)
            solver = AL(public, **options)
        regularizer = NeuronGL1(lam)
        metrics = Metrics(objective=False, grad_norm=False)  # scnn logs only times then
        train, test, _ = process_data(X, y[:, None], None, None, False, False)
        # (n, P): exactly our patterns, where scnn would compute 1[X g > 0] from gates
        D, U = lab.all_to_tensor((program.masks, gates), dtype=lab.get_dtype())
        internal_reg = build_internal_regularizer(regularizer)
        if model == "gated2":
            internal = ConvexMLP(d, D, U, "einsum", regularizer=internal_reg, c=1)
        else:
            internal = AL_MLP(d, D, U, "einsum", delta=1000, regularizer=internal_reg, c=1)
        procedure = build_optimizer(solver, regularizer, metrics)
        recorder = _Recorder(start, time_limit)
        build_seconds = recorder.elapsed()
        try:
            raw, internal, _ = procedure(logger, internal, lambda m: m, tuple(train),
                                         tuple(test), build_metrics_tuple(metrics),
                                         callback=recorder)
            raw, timed_out = dict(raw), False
        except _TimeLimit:
            internal = recorder.last_model
            raw, timed_out = {"success": False}, True
        end = recorder.elapsed()
    finally:
        np.random.set_state(np_state)
        torch.set_default_dtype(torch_dtype)
        logging.root.setLevel(root_level)

    steps = raw.get("iterations", raw.get("total_inner_iterations"))
    if timed_out:
        steps, status, raw_status = recorder.steps, "time_limit", "stopped at the time limit"
    elif raw.get("success"):
        status, raw_status = "optimal", "converged"
    else:
        status = "optimal_inaccurate"  # an iteration cap (or scnn's own stop) with a point
        raw_status = "max_iters" if steps is not None and steps >= _cap(options) else "stopped"
    shape = (P, d)
    solution = _to_solution(internal.weights, model, shape)
    points = [(t, _to_solution(w, model, shape)) for t, w in recorder.points]
    if not points or points[-1][0] < end:
        points.append((end, solution))
    trace = [_trace_point(program, t, point) for t, point in points]
    return RawRun(
        status=status, raw_status=raw_status, solution=solution,
        solver_objective=trace[-1][1], compile_seconds=0.0, solve_seconds=end - build_seconds,
        build_seconds=build_seconds, iterations=None if steps is None else int(steps),
        message=f"lam = beta/n = {lam:.6g}; scnn tol {options['tol']:g}",
        extra={"trace": trace, "lam": lam})


def _cap(options: dict[str, Any]) -> int:
    return int(options.get("max_iters", options.get("max_primal_iters", 0)))


def _trace_point(program: ConvexProgram, t: float, solution: Solution
                 ) -> tuple[float, float, float]:
    """(seconds, objective, relative violation), the violation as the certificate measures
    it (as the native solver's trace)."""
    z = program.predict(solution)
    objective = float(program.objective(solution))
    violation = relative_violation(program.loss, z, program.y, objective,
                                   program.violation_rows(solution))
    return t, objective, float(violation)


def scnn_backends() -> dict[str, Backend]:
    """The scnn backends (listed whether or not scnn is installed)."""
    return {name: ScnnBackend(name) for name in SCNN_METHODS}

"""Execute one cell (in whatever process the executor chose) and return a :class:`CellResult`.

Everything here is a plain function of the cell, so it pickles to worker processes and Dask
workers alike.  Exceptions become ``status="error"`` results; ``KeyboardInterrupt`` is not
caught, so an interrupted cell is simply not stored and a resumed run executes it again.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from collections import OrderedDict
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from convexbench.arrays import accuracy, is_pm1
from convexbench.experiments.cells import RunCell
from convexbench.experiments.provenance import now
from convexbench.experiments.store import CellResult, to_jsonable
from convexbench.names import DEFAULT_PRESET

if TYPE_CHECKING:
    from convexbench.programs.gated2 import GatedRelu2Program

TRACE_POINTS = 60  # objective-trace points kept per baseline run

_TEST_HOOK_ENV = "CONVEXBENCH_TEST_CELL_SLEEP"  # tests: seconds to sleep in every cell


@lru_cache(maxsize=16)
def load_data(name: str, seed: int = 0) -> Any:
    """A :class:`~convexbench.data.dataset.Dataset` by name (cached per process)."""
    from convexbench.data import load_dataset

    return load_dataset(name, seed=seed)


def effective_beta(cell: RunCell, n: int) -> float:
    """The regularization weight actually used: ``beta * n`` or ``beta`` (see beta_scale)."""
    return cell.beta * n if cell.beta_scale == "n" else cell.beta


def _flatten(record: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict):
            for sub, inner in value.items():
                out[f"{key}_{sub}"] = inner
        else:
            out[key] = value
    return out


# Regularization paths across cells: a convex cell on a backend that accepts warm starts
# (native) starts from the solution of the same program (dataset, model, patterns, seed,
# options) at the nearest larger beta that this process solved before.  Cells stay one per
# beta (ids, resumability and the store unchanged) and are expanded in decreasing beta, so a
# sweep run in one process is one warm-started path; a cell with no such solution at hand
# (first of a sweep, a resumed run, another worker) runs cold.  Every cell is certified on
# its own either way; ``warm_start_beta`` records where it started.
_PATHS: OrderedDict[tuple, dict[float, Any]] = OrderedDict()
_PATHS_KEPT = 8  # programs whose path solutions a process keeps


def _path_key(cell: RunCell) -> tuple:
    return (cell.dataset, cell.model, cell.method, cell.beta_scale, cell.seed, cell.options)


def _warm_start(cell: RunCell) -> tuple[float | None, Any]:
    """(beta, solution) of the nearest larger beta of the cell's path solved here, or
    (None, None)."""
    solved = _PATHS.get(_path_key(cell), {})
    above = [beta for beta in solved if beta > cell.beta]
    if not above:
        return None, None
    beta = min(above)
    return beta, solved[beta]


def _remember(cell: RunCell, solution: Any) -> None:
    key = _path_key(cell)
    _PATHS.setdefault(key, {})[cell.beta] = solution
    _PATHS.move_to_end(key)
    while len(_PATHS) > _PATHS_KEPT:
        _PATHS.popitem(last=False)


def run_convex(cell: RunCell) -> dict[str, Any]:
    """Solve the convex program of the cell, certify it and describe the result (warm-
    started along a beta sweep on the native backend: see ``_PATHS``)."""
    from convexbench.backends.registry import accepts_warm_start
    from convexbench.training import train_convex

    opts = cell.params
    ds = load_data(cell.dataset, opts.get("data_seed", 0))
    beta = effective_beta(cell, ds.n_train)
    extra: dict[str, Any] = {}
    if cell.memory_limit_mb is not None:
        extra = {"isolate": True, "memory_limit_mb": cell.memory_limit_mb}
    refine = opts.get("refine") or 0
    # a refined program has more groups than the next beta's: no warm start across it
    path = not refine and accepts_warm_start(cell.method)
    start_beta, warm_start = _warm_start(cell) if path else (None, None)
    training = train_convex(
        ds.X_train, ds.y_train, model=cell.model, beta=beta, loss=opts.get("loss", "squared"),
        patterns=opts.get("patterns", 50), m1=opts.get("m1", 2), form=opts.get("form", "A"),
        seed=cell.seed, backend=cell.method, accuracy_preset=opts.get("accuracy", DEFAULT_PRESET),
        time_limit=cell.time_limit, X_test=ds.X_test, y_test=ds.y_test,
        limit=opts.get("limit"), refine_rounds=refine, warm_start=warm_start, **extra,
    )
    if path and training.result.verified and training.result.solution is not None:
        _remember(cell, training.result.solution)
    record = _flatten(training.record)
    record.update({"beta_effective": beta, "n_train": ds.n_train, "n_test": ds.n_test,
                   "d": ds.d, "task": ds.task})
    if path:
        record["warm_start_beta"] = start_beta
    return record


def gated_program(cell: RunCell, X: np.ndarray, y: np.ndarray,
                  beta: float) -> GatedRelu2Program:
    """The gated2 program of the convex cell whose gates a gated2 baseline cell trains with:
    the same ``make_program`` call as ``run_convex`` (data, loss, ``patterns``, ``limit``)
    with the convex cell's seed (``pattern_seed``)."""
    from convexbench.programs import make_program

    opts = cell.params
    kwargs = {} if opts.get("limit") is None else {"limit": opts["limit"]}
    return make_program("gated2", X, y, beta, loss=opts.get("loss", "squared"),
                        patterns=opts.get("patterns", 50), seed=opts["pattern_seed"], **kwargs)


def run_baseline(cell: RunCell) -> dict[str, Any]:
    """Train the non-convex network of the cell by SGD or Adam (gated2: the gated network
    with the gates of the convex cell, see :func:`gated_program`)."""
    from convexbench.baselines import train_gated, train_three_layer, train_two_layer

    opts = cell.params
    ds = load_data(cell.dataset, opts.get("data_seed", 0))
    beta = effective_beta(cell, ds.n_train)
    common = dict(
        loss=opts.get("loss", "squared"), optimizer=cell.method, lr=opts.get("lr"),
        momentum=opts.get("momentum", 0.9), iterations=opts["iterations"],
        batch_size=opts.get("batch_size"), seed=cell.seed,
        init_scale=opts.get("init_scale", 1.0), time_limit=cell.time_limit,
    )
    if cell.model == "relu3":
        result = train_three_layer(ds.X_train, ds.y_train, n_subnetworks=opts["n_subnetworks"],
                                   m1=opts["m1"], beta=beta, form=opts.get("form", "A"),
                                   **common)
    elif cell.model == "gated2":
        program = gated_program(cell, ds.X_train, ds.y_train, beta)
        result = train_gated(ds.X_train, ds.y_train, gates=program.gates.T, beta=beta,
                             masks=program.masks, **common)
    else:
        result = train_two_layer(ds.X_train, ds.y_train, width=opts["width"], beta=beta,
                                 **common)
    keep = np.unique(np.linspace(0, len(result.trace_objective) - 1,
                                 min(TRACE_POINTS, len(result.trace_objective))).astype(int))
    record: dict[str, Any] = {
        "objective": result.objective, "best_objective": result.best_objective,
        "diverged": result.diverged, "equivalent": result.equivalent,
        "iterations_run": result.iterations_run, "seconds": result.seconds,
        "trace_iterations": np.asarray(result.trace_iterations)[keep],
        "trace_seconds": np.asarray(result.trace_seconds)[keep],
        "trace_objective": np.asarray(result.trace_objective)[keep],
        "beta_effective": beta, "n_train": ds.n_train, "n_test": ds.n_test, "d": ds.d,
        "task": ds.task, "lr": result.params.get("lr"),
    }
    if cell.model == "gated2":
        record["width"] = result.network.width
    if is_pm1(ds.y_train):
        record["train_accuracy"] = accuracy(_train_predictions(result.network, ds.X_train),
                                            ds.y_train)
    if is_pm1(ds.y_test):
        record["test_accuracy"] = accuracy(result.network.predict(ds.X_test), ds.y_test)
    return record


def _train_predictions(network: Any, X: np.ndarray) -> np.ndarray:
    """Predictions on the training data (a gated network uses its training gates)."""
    masks = getattr(network, "train_masks", None)
    return network.predict(X) if masks is None else network.predict(X, masks=masks)


def run_arrangement(cell: RunCell) -> dict[str, Any]:
    """Enumerate every sign pattern of the cell's data and compare with Cover's count."""
    from convexbench.patterns import cover_count, data_rank, enumerate_patterns

    opts = cell.params
    ds = load_data(cell.dataset, cell.seed)
    X = ds.X_train
    start = time.perf_counter()
    kwargs = {} if opts.get("limit") is None else {"limit": opts["limit"]}
    arrangement = enumerate_patterns(X, **kwargs)
    seconds = time.perf_counter() - start
    n, rank = X.shape[0], data_rank(X)
    return {"n": n, "d": X.shape[1], "rank": rank, "n_patterns": arrangement.n_patterns,
            "cover_count": cover_count(n, rank), "enumerate_seconds": seconds}


RUNNERS = {"convex": run_convex, "baseline": run_baseline, "arrangement": run_arrangement}


def execute_cell(cell: RunCell) -> CellResult:
    """Run one cell; failures are caught and returned as ``status="error"``."""
    started, t0 = now(), time.perf_counter()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    delay = float(os.environ.get(_TEST_HOOK_ENV, "0") or 0)
    if delay > 0:
        time.sleep(delay)
    try:
        with np.errstate(all="ignore"):
            record = RUNNERS[cell.kind](cell)
        status, error = "ok", None
    except Exception as exc:  # a failed cell is a result, not a crash
        record = {}
        status = "error"
        error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=6)}"
    return CellResult(cell_id=cell.cell_id, status=status, record=to_jsonable(record),
                      error=error, seconds=time.perf_counter() - t0, started=started,
                      finished=now(), worker=worker)

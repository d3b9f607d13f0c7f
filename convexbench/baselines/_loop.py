"""The training loop shared by the two- and three-layer baselines."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from convexbench.baselines.optimizers import make_optimizer, scheduled_lr

Params = list[np.ndarray]
# grad_fn(params, idx, scale): gradient of scale * loss on rows idx (None = all) + penalty
GradFn = Callable[[Params, np.ndarray | None, float], Params]
ObjectiveFn = Callable[[Params], float]
ProjectFn = Callable[[Params], None]


@dataclass(frozen=True)
class LoopSettings:
    """Resolved optimizer settings of one run."""

    optimizer: str
    lr: float
    momentum: float
    iterations: int
    batch_size: int | None
    log_every: int
    time_limit: float | None
    schedule: str
    clip_norm: float | None
    diverge_factor: float


@dataclass(frozen=True)
class LoopOutcome:
    """Final parameters, traces and divergence flag of one run."""

    params: Params
    objective: float
    trace_iterations: np.ndarray
    trace_seconds: np.ndarray
    trace_objective: np.ndarray
    diverged: bool


def _all_finite(arrays: Params) -> bool:
    return bool(np.isfinite(sum(float(np.sum(a)) for a in arrays)))


def _batches(n: int, batch_size: int | None, rng: np.random.Generator):
    """Endless minibatch index arrays: shuffled epochs, incomplete last batch dropped."""
    if batch_size is None or batch_size >= n:
        while True:
            yield None
    per_epoch = n // batch_size
    while True:
        perm = rng.permutation(n)
        for b in range(per_epoch):
            yield perm[b * batch_size : (b + 1) * batch_size]


def run_loop(
    params: Params,
    n: int,
    grad_fn: GradFn,
    objective_fn: ObjectiveFn,
    project: ProjectFn | None,
    settings: LoopSettings,
    rng: np.random.Generator,
    start: float | None = None,
) -> LoopOutcome:
    """Run the optimizer on ``params`` (updated in place) and record the objective trace.

    Divergence (non-finite gradients, parameters or objective, or an objective above
    ``diverge_factor * max(|initial objective|, 1)``) stops the run; the parameters returned are
    then the last ones whose objective was finite.  ``start`` is the ``time.perf_counter()``
    value the trace's wall times count from (default: now).
    """
    start = time.perf_counter() if start is None else start
    opt = make_optimizer(settings.optimizer, settings.momentum)
    batches = _batches(n, settings.batch_size, rng)
    if project is not None:
        project(params)

    with np.errstate(all="ignore"):
        obj0 = objective_fn(params)
        iters, secs, objs = [0], [time.perf_counter() - start], [obj0]
        limit = settings.diverge_factor * max(abs(obj0), 1.0) if np.isfinite(obj0) else -np.inf
        good = [p.copy() for p in params]  # last parameters with a finite, bounded objective
        good_obj = obj0
        diverged = not np.isfinite(obj0)
        t = 0
        while not diverged and t < settings.iterations:
            idx = next(batches)
            scale = 1.0 if idx is None else n / idx.shape[0]
            grads = grad_fn(params, idx, scale)
            sq = sum(float(np.vdot(g, g)) for g in grads)
            if not np.isfinite(sq):
                diverged = True
                break
            if settings.clip_norm is not None:
                norm = np.sqrt(sq) / n  # gradient of the objective divided by n
                if norm > settings.clip_norm:
                    grads = [g * (settings.clip_norm / norm) for g in grads]
            before = [p.copy() for p in params]
            opt.step(
                params, grads, scheduled_lr(settings.lr, t, settings.iterations, settings.schedule)
            )
            if project is not None:
                project(params)
            t += 1
            if not _all_finite(params):
                params[:] = before
                diverged = True
                break
            elapsed = time.perf_counter() - start
            out_of_time = settings.time_limit is not None and elapsed >= settings.time_limit
            if t % settings.log_every == 0 or t == settings.iterations or out_of_time:
                obj = objective_fn(params)
                if not np.isfinite(obj) or obj > limit:
                    diverged = True
                    break
                iters.append(t)
                secs.append(time.perf_counter() - start)
                objs.append(obj)
                good = [p.copy() for p in params]
                good_obj = obj
            if out_of_time:
                break

        if diverged:
            obj = objective_fn(params)
            if not np.isfinite(obj) or obj > limit:
                params[:] = good
                obj = good_obj
            if iters[-1] != t:
                iters.append(t)
                secs.append(time.perf_counter() - start)
                objs.append(obj)
        else:
            obj = objs[-1]

    return LoopOutcome(
        params=params,
        objective=float(obj),
        trace_iterations=np.asarray(iters, dtype=np.int64),
        trace_seconds=np.asarray(secs, dtype=float),
        trace_objective=np.asarray(objs, dtype=float),
        diverged=bool(diverged),
    )

"""Input checks and option resolution shared by the two- and three-layer trainers."""

from __future__ import annotations

import numpy as np

from convexbench.arrays import check_data
from convexbench.baselines._loop import LoopOutcome, LoopSettings
from convexbench.baselines.optimizers import OPTIMIZERS, SCHEDULES, default_clip, default_lr
from convexbench.baselines.records import Network, TrainResult
from convexbench.errors import UserError
from convexbench.losses import Loss, get_loss

DEFAULT_ITERATIONS = 2000
DEFAULT_DIVERGE_FACTOR = 1e8


def check_inputs(
    X: np.ndarray, y: np.ndarray, loss: str | Loss
) -> tuple[np.ndarray, np.ndarray, Loss]:
    """The validated data (:func:`convexbench.arrays.check_data`) and the loss object, whose
    labels it checks."""
    X, y = check_data(X, y)
    loss_obj = get_loss(loss) if isinstance(loss, str) else loss
    loss_obj.check_labels(y)
    return X, y, loss_obj


def positive_int(name: str, value: int) -> int:
    if int(value) != value or value < 1:
        raise UserError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def resolve_settings(
    n: int,
    optimizer: str,
    lr: float | None,
    momentum: float,
    iterations: int,
    batch_size: int | None,
    log_every: int | None,
    time_limit: float | None,
    schedule: str,
    clip_norm: float | None | str,
    diverge_factor: float,
) -> LoopSettings:
    """Validated loop settings with defaults filled in."""
    if optimizer not in OPTIMIZERS:
        raise UserError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
    if schedule not in SCHEDULES:
        raise UserError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
    if not 0.0 <= momentum < 1.0:
        raise UserError(f"momentum must be in [0, 1), got {momentum}")
    iterations = positive_int("iterations", iterations)
    if batch_size is not None:
        batch_size = positive_int("batch_size", batch_size)
        if batch_size >= n:
            batch_size = None
    if log_every is None:
        log_every = max(1, iterations // 100)
    log_every = positive_int("log_every", log_every)
    if lr is None:
        lr = default_lr(optimizer, n, momentum)
    if not (np.isfinite(lr) and lr > 0):
        raise UserError(f"lr must be positive and finite, got {lr}")
    if time_limit is not None and not time_limit > 0:
        raise UserError(f"time_limit must be positive, got {time_limit}")
    if clip_norm == "auto":
        clip_norm = default_clip(optimizer)
    if isinstance(clip_norm, str):
        raise UserError(f"clip_norm must be a number, None or 'auto', got {clip_norm!r}")
    if clip_norm is not None and not clip_norm > 0:
        raise UserError(f"clip_norm must be positive, got {clip_norm}")
    return LoopSettings(
        optimizer=optimizer,
        lr=float(lr),
        momentum=float(momentum),
        iterations=iterations,
        batch_size=batch_size,
        log_every=log_every,
        time_limit=None if time_limit is None else float(time_limit),
        schedule=schedule,
        clip_norm=None if clip_norm is None else float(clip_norm),
        diverge_factor=float(diverge_factor),
    )


def settings_dict(s: LoopSettings) -> dict[str, object]:
    """The loop settings as plain values for ``TrainResult.params``."""
    return {
        "optimizer": s.optimizer,
        "lr": s.lr,
        "momentum": s.momentum,
        "iterations": s.iterations,
        "batch_size": s.batch_size,
        "log_every": s.log_every,
        "time_limit": s.time_limit,
        "schedule": s.schedule,
        "clip_norm": s.clip_norm,
        "diverge_factor": s.diverge_factor,
    }


def build_result(
    out: LoopOutcome,
    network: Network,
    objective: float,
    settings: LoopSettings,
    seed: int,
    model_params: dict[str, object],
    equivalent: bool,
) -> TrainResult:
    """Assemble the :class:`TrainResult` of a finished loop."""
    finite = out.trace_objective[np.isfinite(out.trace_objective)]
    return TrainResult(
        network=network,
        objective=float(objective),
        trace_iterations=out.trace_iterations,
        trace_seconds=out.trace_seconds,
        trace_objective=out.trace_objective,
        optimizer=settings.optimizer,
        seed=int(seed),
        params={**model_params, "seed": int(seed), **settings_dict(settings)},
        equivalent=bool(equivalent),
        diverged=out.diverged,
        best_objective=float(finite.min()) if finite.size else float("nan"),
    )


def check_scales(beta: float, init_scale: float) -> None:
    """A UserError unless beta >= 0 and init_scale > 0 are finite."""
    if not (np.isfinite(beta) and beta >= 0):
        raise UserError(f"beta must be non-negative and finite, got {beta}")
    if not (np.isfinite(init_scale) and init_scale > 0):
        raise UserError(f"init_scale must be positive, got {init_scale}")

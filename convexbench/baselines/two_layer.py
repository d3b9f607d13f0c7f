"""SGD / Adam on the two-layer ReLU objective with weight decay (MATH.md §2).

L( relu(X U) a , y ) + beta/2 (||U||_F^2 + ||a||^2)
"""

from __future__ import annotations

import time

import numpy as np

from convexbench.baselines._common import (
    DEFAULT_DIVERGE_FACTOR,
    DEFAULT_ITERATIONS,
    build_result,
    check_inputs,
    check_scales,
    positive_int,
    resolve_settings,
)
from convexbench.baselines._loop import run_loop
from convexbench.baselines.records import TrainResult
from convexbench.losses import Loss
from convexbench.networks import TwoLayerNetwork


def two_layer_gradient(
    network: TwoLayerNetwork,
    X: np.ndarray,
    y: np.ndarray,
    beta: float,
    loss: Loss,
    loss_scale: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Gradient ``(dU, da)`` of ``loss_scale * L(f(X), y) + beta/2 (||U||^2 + ||a||^2)``.

    ReLU'(0) is taken as 0; for the hinge loss the loss part is a subgradient.
    """
    U, a = network.U, network.a
    Z = X @ U
    H = np.maximum(Z, 0.0)
    g = loss_scale * loss.gradient(H @ a, y)
    da = H.T @ g + beta * a
    dU = X.T @ ((g[:, None] * a[None, :]) * (Z > 0.0)) + beta * U
    return dU, da


def init_two_layer(
    d: int, width: int, rng: np.random.Generator, scale: float = 1.0
) -> TwoLayerNetwork:
    """Gaussian initialization ``U ~ N(0, scale^2/d)``, ``a ~ N(0, scale^2/width)``."""
    U = rng.standard_normal((d, width)) * (scale / np.sqrt(d))
    a = rng.standard_normal(width) * (scale / np.sqrt(width))
    return TwoLayerNetwork(U=U, a=a)


def train_two_layer(
    X: np.ndarray,
    y: np.ndarray,
    width: int,
    beta: float,
    loss: str | Loss = "squared",
    optimizer: str = "adam",
    lr: float | None = None,
    momentum: float = 0.9,
    iterations: int = DEFAULT_ITERATIONS,
    batch_size: int | None = None,
    seed: int = 0,
    init_scale: float = 1.0,
    log_every: int | None = None,
    time_limit: float | None = None,
    schedule: str = "cosine",
    clip_norm: float | None | str = "auto",
    diverge_factor: float = DEFAULT_DIVERGE_FACTOR,
) -> TrainResult:
    """Train a two-layer ReLU network of ``width`` neurons by SGD (momentum) or Adam.

    ``lr=None`` picks 1e-2 for Adam and ``0.2 (1 - momentum) / (0.1 n)`` for SGD; the step
    follows ``schedule`` ("cosine": decays to 1% of lr over ``iterations``; "constant").
    ``batch_size=None`` is full batch; minibatch loss gradients are scaled by ``n / batch`` so
    they are unbiased for the full objective.  ``clip_norm`` caps the norm of the gradient
    divided by n (``"auto"``: 1.0 for SGD, no clipping for Adam; ``None``: never).
    ``log_every=None`` logs about 100 points.  Every random choice (initialization,
    shuffling) comes from ``numpy.random.default_rng(seed)``.
    """
    started = time.perf_counter()
    X, y, loss_obj = check_inputs(X, y, loss)
    n, d = X.shape
    width = positive_int("width", width)
    check_scales(beta, init_scale)
    settings = resolve_settings(
        n,
        optimizer,
        lr,
        momentum,
        iterations,
        batch_size,
        log_every,
        time_limit,
        schedule,
        clip_norm,
        diverge_factor,
    )
    rng = np.random.default_rng(seed)
    net0 = init_two_layer(d, width, rng, init_scale)
    params = [net0.U.copy(), net0.a.copy()]

    def grad_fn(p: list[np.ndarray], idx: np.ndarray | None, scale: float) -> list[np.ndarray]:
        Xb, yb = (X, y) if idx is None else (X[idx], y[idx])
        return list(two_layer_gradient(TwoLayerNetwork(p[0], p[1]), Xb, yb, beta, loss_obj, scale))

    def objective_fn(p: list[np.ndarray]) -> float:
        return TwoLayerNetwork(p[0], p[1]).objective(X, y, beta, loss_obj)

    out = run_loop(params, n, grad_fn, objective_fn, None, settings, rng, started)
    network = TwoLayerNetwork(U=out.params[0].copy(), a=out.params[1].copy())
    with np.errstate(all="ignore"):
        objective = network.objective(X, y, beta, loss_obj)
    model_params = {
        "model": "two_layer",
        "width": width,
        "beta": float(beta),
        "loss": loss_obj.name,
        "init_scale": float(init_scale),
        "n": int(n),
        "d": int(d),
    }
    return build_result(out, network, objective, settings, seed, model_params, equivalent=True)

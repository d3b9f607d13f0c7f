"""SGD / Adam on the gated ReLU network with fixed gates (MATH.md §2, gated ReLU).

L( sum_j 1[X g_j >= 0] (X u_j) a_j , y ) + beta/2 (||U||_F^2 + ||a||^2)

With the gates g_j of a gated2 program (one neuron per gate), the global optimum of this
non-convex objective equals the gated2 convex optimum: by AM-GM the smallest weight decay of
a neuron with u_j a_j = w_j is beta ||w_j||, so every run ends at or above the convex optimum.
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
    resolve_settings,
)
from convexbench.baselines._loop import run_loop
from convexbench.baselines.records import TrainResult
from convexbench.baselines.two_layer import init_two_layer
from convexbench.errors import UserError
from convexbench.losses import Loss
from convexbench.networks import GatedNetwork


def gated_gradient(
    network: GatedNetwork,
    X: np.ndarray,
    y: np.ndarray,
    beta: float,
    loss: Loss,
    loss_scale: float = 1.0,
    masks: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Gradient ``(dU, da)`` of ``loss_scale * L(f(X), y) + beta/2 (||U||^2 + ||a||^2)``.

    ``masks`` (rows of X by gates) default to the network's ``train_masks``; the objective is
    smooth in (U, a) for a smooth loss (the gates do not move); hinge: a subgradient.
    """
    masks = network.train_masks if masks is None else masks
    U, a = network.U, network.a
    H = masks * (X @ U)
    g = loss_scale * loss.gradient(H @ a, y)
    da = H.T @ g + beta * a
    dU = X.T @ (masks * (g[:, None] * a[None, :])) + beta * U
    return dU, da


def gate_masks(X: np.ndarray, gates: np.ndarray, masks: np.ndarray | None) -> np.ndarray:
    """The 0/1 training gates (n x m): ``masks`` when given (checked), else 1[X gates >= 0]."""
    n, d = X.shape
    if gates.ndim != 2 or gates.shape[0] != d or gates.shape[1] < 1:
        raise UserError(f"gates must have shape (d={d}, m >= 1), got {gates.shape}")
    if masks is None:
        return (X @ gates >= 0).astype(float)
    masks = np.asarray(masks, dtype=float)
    if masks.shape != (n, gates.shape[1]):
        raise UserError(f"masks must have shape (n={n}, m={gates.shape[1]}), got {masks.shape}")
    return masks


def train_gated(
    X: np.ndarray,
    y: np.ndarray,
    gates: np.ndarray,
    beta: float,
    loss: str | Loss = "squared",
    optimizer: str = "adam",
    lr: float | None = None,
    momentum: float = 0.9,
    iterations: int = DEFAULT_ITERATIONS,
    batch_size: int | None = None,
    seed: int = 0,
    init_scale: float = 1.0,
    time_limit: float | None = None,
    masks: np.ndarray | None = None,
    log_every: int | None = None,
    schedule: str = "cosine",
    clip_norm: float | None | str = "auto",
    diverge_factor: float = DEFAULT_DIVERGE_FACTOR,
) -> TrainResult:
    """Train the gated ReLU network with fixed ``gates`` (d x m: one neuron per column).

    ``masks`` (n x m) are the gates on the training data; pass a program's own patterns
    (``program.masks``) to train exactly its model, else they are ``1[X gates >= 0]``.  The
    returned :class:`~convexbench.networks.GatedNetwork` predicts new data with ``gates``.
    Optimizer options, minibatches (``batch_size``; loss gradients scaled by n / batch),
    schedule, clipping and divergence work as in
    :func:`~convexbench.baselines.train_two_layer`; the objective is always the full one.
    """
    started = time.perf_counter()
    X, y, loss_obj = check_inputs(X, y, loss)
    n, d = X.shape
    gates = np.asarray(gates, dtype=float)
    train_masks = gate_masks(X, gates, masks)
    width = int(gates.shape[1])
    check_scales(beta, init_scale)
    settings = resolve_settings(
        n, optimizer, lr, momentum, iterations, batch_size, log_every, time_limit, schedule,
        clip_norm, diverge_factor,
    )
    rng = np.random.default_rng(seed)
    net0 = init_two_layer(d, width, rng, init_scale)
    params = [net0.U.copy(), net0.a.copy()]

    def network(p: list[np.ndarray]) -> GatedNetwork:
        return GatedNetwork(U=p[0], a=p[1], train_masks=train_masks, gates=gates)

    def grad_fn(p: list[np.ndarray], idx: np.ndarray | None, scale: float) -> list[np.ndarray]:
        if idx is None:
            return list(gated_gradient(network(p), X, y, beta, loss_obj, scale))
        return list(gated_gradient(network(p), X[idx], y[idx], beta, loss_obj, scale,
                                   masks=train_masks[idx]))

    def objective_fn(p: list[np.ndarray]) -> float:
        return network(p).objective(X, y, beta, loss_obj)

    out = run_loop(params, n, grad_fn, objective_fn, None, settings, rng, started)
    trained = network([out.params[0].copy(), out.params[1].copy()])
    with np.errstate(all="ignore"):
        objective = trained.objective(X, y, beta, loss_obj)
    model_params = {
        "model": "gated",
        "width": width,
        "beta": float(beta),
        "loss": loss_obj.name,
        "init_scale": float(init_scale),
        "n": int(n),
        "d": int(d),
    }
    return build_result(out, trained, objective, settings, seed, model_params, equivalent=True)

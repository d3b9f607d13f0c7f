"""SGD / Adam on the three-layer parallel ReLU objective, forms A, B, C (MATH.md §3).

f(X) = sum_k relu(relu(X W1[k]) w2[k]) w3[k]
A: L + beta/2 sum_k (||w2k||^2 + w3k^2)  s.t. ||W1k||_F <= 1   (projection after every step)
B: L + beta/3 sum_k (||W1k||_F^3 + ||w2k||^3 + |w3k|^3)
C: L + beta/2 sum_k (||W1k||_F^2 + ||w2k||^2 + w3k^2)          (NOT equivalent)
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
from convexbench.errors import UserError
from convexbench.losses import Loss
from convexbench.networks import FORMS, ThreeLayerNetwork


def three_layer_penalty_gradient(
    network: ThreeLayerNetwork, beta: float, form: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradient of ``network.penalty(beta, form)`` with respect to ``(W1, w2, w3)``."""
    W1, w2, w3 = network.W1, network.w2, network.w3
    if form == "A":
        return np.zeros_like(W1), beta * w2, beta * w3
    if form == "B":  # d/dx ||x||^3 / 3 = ||x|| x
        n1 = np.sqrt(np.sum(W1**2, axis=(1, 2)))
        n2 = np.sqrt(np.sum(w2**2, axis=1))
        return beta * n1[:, None, None] * W1, beta * n2[:, None] * w2, beta * np.abs(w3) * w3
    if form == "C":
        return beta * W1, beta * w2, beta * w3
    raise UserError(f"unknown form {form!r}; choose one of {', '.join(FORMS)}")


def three_layer_gradient(
    network: ThreeLayerNetwork,
    X: np.ndarray,
    y: np.ndarray,
    beta: float,
    loss: Loss,
    form: str = "A",
    loss_scale: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradient ``(dW1, dw2, dw3)`` of ``loss_scale * L(f(X), y) + penalty(beta, form)``.

    Form A's norm constraint is not part of the gradient (it is enforced by projection).
    ReLU'(0) is taken as 0; for the hinge loss the loss part is a subgradient.
    """
    W1, w2, w3 = network.W1, network.w2, network.w3
    n, (K, d, m1) = X.shape[0], W1.shape
    # the (n, K, m1) contractions with X as one BLAS matmul each
    Z1 = (X @ W1.transpose(1, 0, 2).reshape(d, K * m1)).reshape(n, K, m1)
    H1 = np.maximum(Z1, 0.0)
    Z2 = np.einsum("nkm,km->nk", H1, w2)
    H2 = np.maximum(Z2, 0.0)
    g = loss_scale * loss.gradient(H2 @ w3, y)
    dZ2 = (g[:, None] * w3[None, :]) * (Z2 > 0.0)  # (n, K)
    dw3 = H2.T @ g
    dw2 = np.einsum("nk,nkm->km", dZ2, H1)
    dZ1 = (dZ2[:, :, None] * w2[None, :, :]) * (Z1 > 0.0)  # (n, K, m1)
    dW1 = (X.T @ dZ1.reshape(n, K * m1)).reshape(d, K, m1).transpose(1, 0, 2)
    p1, p2, p3 = three_layer_penalty_gradient(network, beta, form)
    return dW1 + p1, dw2 + p2, dw3 + p3


def project_form_a(W1: np.ndarray) -> None:
    """Project each ``W1[k]`` onto the Frobenius unit ball, in place."""
    norms = np.sqrt(np.sum(W1**2, axis=(1, 2)))
    W1 *= (1.0 / np.maximum(norms, 1.0))[:, None, None]


def init_three_layer(
    d: int, n_subnetworks: int, m1: int, rng: np.random.Generator, scale: float = 1.0
) -> ThreeLayerNetwork:
    """Gaussian init: ``W1 ~ N(0, s^2/d)``, ``w2 ~ N(0, s^2/m1)``, ``w3 ~ N(0, s^2/K)``."""
    W1 = rng.standard_normal((n_subnetworks, d, m1)) * (scale / np.sqrt(d))
    w2 = rng.standard_normal((n_subnetworks, m1)) * (scale / np.sqrt(m1))
    w3 = rng.standard_normal(n_subnetworks) * (scale / np.sqrt(n_subnetworks))
    return ThreeLayerNetwork(W1=W1, w2=w2, w3=w3)


def train_three_layer(
    X: np.ndarray,
    y: np.ndarray,
    n_subnetworks: int,
    m1: int,
    beta: float,
    form: str = "A",
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
    """Train a three-layer parallel ReLU network (K sub-networks of m1 neurons).

    Options as in :func:`convexbench.baselines.train_two_layer`.  Form A projects every
    ``W1[k]`` onto ``||W1[k]||_F <= 1`` after initialization and after every step, so the
    returned network is feasible.  Form C is reported with ``equivalent=False``.
    """
    started = time.perf_counter()
    if form not in FORMS:
        raise UserError(f"unknown form {form!r}; choose one of {', '.join(FORMS)}")
    X, y, loss_obj = check_inputs(X, y, loss)
    n, d = X.shape
    n_subnetworks = positive_int("n_subnetworks", n_subnetworks)
    m1 = positive_int("m1", m1)
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
    net0 = init_three_layer(d, n_subnetworks, m1, rng, init_scale)
    params = [net0.W1.copy(), net0.w2.copy(), net0.w3.copy()]

    def grad_fn(p: list[np.ndarray], idx: np.ndarray | None, scale: float) -> list[np.ndarray]:
        Xb, yb = (X, y) if idx is None else (X[idx], y[idx])
        net = ThreeLayerNetwork(p[0], p[1], p[2])
        return list(three_layer_gradient(net, Xb, yb, beta, loss_obj, form, scale))

    def objective_fn(p: list[np.ndarray]) -> float:
        return ThreeLayerNetwork(p[0], p[1], p[2]).objective(X, y, beta, loss_obj, form)

    def project(p: list[np.ndarray]) -> None:
        project_form_a(p[0])

    out = run_loop(
        params, n, grad_fn, objective_fn, project if form == "A" else None, settings, rng, started
    )
    network = ThreeLayerNetwork(
        W1=out.params[0].copy(), w2=out.params[1].copy(), w3=out.params[2].copy()
    )
    with np.errstate(all="ignore"):
        objective = network.objective(X, y, beta, loss_obj, form)
    model_params = {
        "model": "three_layer",
        "n_subnetworks": n_subnetworks,
        "m1": m1,
        "form": form,
        "beta": float(beta),
        "loss": loss_obj.name,
        "init_scale": float(init_scale),
        "n": int(n),
        "d": int(d),
    }
    return build_result(
        out, network, objective, settings, seed, model_params, equivalent=form != "C"
    )

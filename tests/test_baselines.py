"""Tests of the non-convex SGD / Adam baselines (convexbench.baselines)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from threadpoolctl import threadpool_limits

from convexbench.arrays import accuracy, is_pm1, to_pm1
from convexbench.baselines import (
    Adam,
    project_form_a,
    three_layer_gradient,
    train_three_layer,
    train_two_layer,
    two_layer_gradient,
)
from convexbench.data.synthetic import planted_data
from convexbench.errors import UserError
from convexbench.losses import get_loss
from convexbench.networks import ThreeLayerNetwork, TwoLayerNetwork


@pytest.fixture(autouse=True)
def _one_blas_thread():
    with threadpool_limits(1):
        yield


def planted(n: int = 100, d: int = 3, seed: int = 0, labels: bool = False):
    """Standardized data with a planted two-layer ReLU target (+/-1 labels if ``labels``)."""
    X, y = planted_data(n, d, seed, noise=0.0)
    y = (y - y.mean()) / y.std() + 0.05 * np.random.default_rng(seed + 1).standard_normal(n)
    return X, (np.where(y >= 0, 1.0, -1.0) if labels else y)


# ---------------------------------------------------------------- gradient checks


def _fd_gradient(f, arrays: list[np.ndarray], eps: float = 1e-6) -> list[np.ndarray]:
    """Central finite differences of ``f()`` with respect to every entry of ``arrays``."""
    out = []
    for arr in arrays:
        g = np.zeros_like(arr)
        flat, gflat = arr.reshape(-1), g.reshape(-1)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + eps
            up = f()
            flat[i] = old - eps
            down = f()
            flat[i] = old
            gflat[i] = (up - down) / (2 * eps)
        out.append(g)
    return out


def _assert_close(analytic, numeric) -> None:
    for ga, gn in zip(analytic, numeric, strict=True):
        scale = max(1.0, float(np.abs(gn).max()))
        np.testing.assert_allclose(ga, gn, rtol=0, atol=1e-5 * scale)


def _labels_for(loss_name: str, rng: np.random.Generator, n: int) -> np.ndarray:
    if loss_name == "squared":
        return rng.standard_normal(n)
    return np.where(rng.standard_normal(n) >= 0, 1.0, -1.0)


KINK = 1e-3  # points this close to a ReLU or hinge kink are skipped


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    n=st.integers(2, 12),
    d=st.integers(1, 4),
    m=st.integers(1, 5),
    loss_name=st.sampled_from(["squared", "logistic", "hinge"]),
    beta=st.floats(0.0, 2.0),
    seed=st.integers(0, 2**31 - 1),
)
def test_two_layer_gradient_matches_finite_differences(n, d, m, loss_name, beta, seed):
    rng = np.random.default_rng(seed)
    X, y = rng.standard_normal((n, d)), _labels_for(loss_name, rng, n)
    U, a = rng.standard_normal((d, m)), rng.standard_normal(m)
    loss = get_loss(loss_name)
    assume(np.abs(X @ U).min() > KINK)
    if loss_name == "hinge":
        assume(np.abs(1 - y * (np.maximum(X @ U, 0) @ a)).min() > KINK)
    net = TwoLayerNetwork(U, a)
    analytic = two_layer_gradient(net, X, y, beta, loss)
    numeric = _fd_gradient(lambda: net.objective(X, y, beta, loss), [U, a])
    _assert_close(analytic, numeric)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    n=st.integers(2, 10),
    d=st.integers(1, 3),
    K=st.integers(1, 3),
    m1=st.integers(1, 3),
    form=st.sampled_from(["A", "B", "C"]),
    loss_name=st.sampled_from(["squared", "logistic"]),
    beta=st.floats(0.0, 2.0),
    seed=st.integers(0, 2**31 - 1),
)
def test_three_layer_gradient_matches_finite_differences(n, d, K, m1, form, loss_name, beta, seed):
    rng = np.random.default_rng(seed)
    X, y = rng.standard_normal((n, d)), _labels_for(loss_name, rng, n)
    W1 = rng.standard_normal((K, d, m1))
    w2, w3 = rng.standard_normal((K, m1)), rng.standard_normal(K)
    Z1 = np.einsum("nd,kdm->nkm", X, W1)
    Z2 = np.einsum("nkm,km->nk", np.maximum(Z1, 0), w2)
    assume(np.abs(Z1).min() > KINK and np.abs(Z2).min() > KINK)
    loss = get_loss(loss_name)
    net = ThreeLayerNetwork(W1, w2, w3)
    analytic = three_layer_gradient(net, X, y, beta, loss, form)
    numeric = _fd_gradient(lambda: net.objective(X, y, beta, loss, form), [W1, w2, w3])
    _assert_close(analytic, numeric)


def test_three_layer_gradient_is_not_identically_zero_and_scales_loss_part():
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((8, 2)), rng.standard_normal(8)
    net = ThreeLayerNetwork(rng.standard_normal((2, 2, 3)), rng.random((2, 3)), np.ones(2))
    loss = get_loss("squared")
    g0 = three_layer_gradient(net, X, y, 0.0, loss, "C")
    g2 = three_layer_gradient(net, X, y, 0.0, loss, "C", loss_scale=2.0)
    assert max(float(np.abs(g).max()) for g in g0) > 1e-3
    for a, b in zip(g0, g2, strict=True):
        np.testing.assert_allclose(b, 2.0 * a)


# ---------------------------------------------------------------- the objective decreases

OPTIONS = [("adam", None), ("adam", 16), ("sgd", None), ("sgd", 16)]


@pytest.mark.parametrize(("optimizer", "batch_size"), OPTIONS)
def test_two_layer_training_decreases_objective(optimizer, batch_size):
    X, y = planted()
    r = train_two_layer(
        X, y, width=20, beta=0.01, optimizer=optimizer, batch_size=batch_size, iterations=600
    )
    assert not r.diverged
    assert r.objective < 0.1 * r.trace_objective[0]
    assert r.best_objective <= r.objective + 1e-12


@pytest.mark.parametrize(("optimizer", "batch_size"), OPTIONS)
@pytest.mark.parametrize("form", ["A", "B", "C"])
def test_three_layer_training_decreases_objective(form, optimizer, batch_size):
    X, y = planted(n=80)
    r = train_three_layer(
        X,
        y,
        6,
        4,
        beta=0.01,
        form=form,
        optimizer=optimizer,
        batch_size=batch_size,
        iterations=400,
    )
    assert not r.diverged
    assert r.objective < 0.1 * r.trace_objective[0]


def test_logistic_training_classifies_planted_labels():
    X, y = planted(labels=True)
    r = train_two_layer(X, y, width=20, beta=0.01, loss="logistic", iterations=600)
    assert r.objective < 0.5 * r.trace_objective[0]
    assert accuracy(r.network.predict(X), y) >= 0.8


# ---------------------------------------------------------------- form A projection


def test_form_a_projection_keeps_first_layer_in_unit_ball():
    X, y = planted(n=60)
    for optimizer, lr in [("adam", 0.2), ("sgd", None)]:
        r = train_three_layer(
            X,
            y,
            5,
            3,
            beta=0.01,
            form="A",
            optimizer=optimizer,
            lr=lr,
            iterations=200,
            init_scale=5.0,
        )
        norms = np.sqrt(np.sum(r.network.W1**2, axis=(1, 2)))
        assert np.all(norms <= 1.0 + 1e-12)
        assert r.network.form_a_violation() <= 1e-12
        assert norms.max() > 0.5  # the constraint matters: not trivially satisfied


def test_project_form_a_is_the_euclidean_projection():
    rng = np.random.default_rng(3)
    W1 = rng.standard_normal((4, 3, 2)) * np.array([0.1, 1.0, 3.0, 10.0])[:, None, None]
    before = W1.copy()
    project_form_a(W1)
    norms = np.sqrt(np.sum(before**2, axis=(1, 2)))
    np.testing.assert_allclose(W1[0], before[0])  # inside: unchanged
    np.testing.assert_allclose(np.sqrt(np.sum(W1[2:] ** 2, axis=(1, 2))), 1.0)
    np.testing.assert_allclose(W1[3], before[3] / norms[3])


# ---------------------------------------------------------------- seeds


@pytest.mark.parametrize("batch_size", [None, 10])
def test_same_seed_same_result_different_seed_different(batch_size):
    X, y = planted(n=50)

    def run(seed):
        return train_two_layer(
            X, y, 8, 0.01, optimizer="sgd", batch_size=batch_size, iterations=50, seed=seed
        )

    a, b, c = run(7), run(7), run(8)
    np.testing.assert_array_equal(a.network.U, b.network.U)
    np.testing.assert_array_equal(a.network.a, b.network.a)
    np.testing.assert_array_equal(a.trace_objective, b.trace_objective)
    assert a.objective == b.objective
    assert not np.array_equal(a.network.U, c.network.U)
    assert a.objective != c.objective


def test_three_layer_seed_determinism():
    X, y = planted(n=40)
    a, b, c = (
        train_three_layer(X, y, 3, 2, 0.01, form="B", batch_size=8, iterations=30, seed=s)
        for s in (1, 1, 2)
    )
    np.testing.assert_array_equal(a.network.W1, b.network.W1)
    np.testing.assert_array_equal(a.trace_objective, b.trace_objective)
    assert not np.array_equal(a.network.W1, c.network.W1)


# ---------------------------------------------------------------- divergence


@pytest.mark.parametrize(("optimizer", "lr"), [("sgd", 1e6), ("sgd", 1e3), ("adam", 1e200)])
def test_absurd_step_is_reported_as_divergence(optimizer, lr):
    X, y = planted(n=50)
    with np.errstate(all="raise"):  # the trainer must not leak floating-point errors either
        r = train_two_layer(
            X, y, 10, 0.01, optimizer=optimizer, lr=lr, clip_norm=None, iterations=200
        )
    assert r.diverged
    assert r.iterations_run < 200 or r.trace_iterations[-1] <= 200
    assert np.all(np.isfinite(r.network.U)) and np.all(np.isfinite(r.network.a))
    assert r.objective == r.network.objective(X, y, 0.01, get_loss("squared"))


def test_three_layer_divergence_reported():
    X, y = planted(n=50)
    r = train_three_layer(
        X, y, 3, 3, 0.01, form="C", optimizer="sgd", lr=1e8, clip_norm=None, iterations=100
    )
    assert r.diverged
    assert not r.equivalent


def test_reasonable_run_is_not_flagged_diverged():
    X, y = planted(n=50)
    r = train_two_layer(X, y, 10, 0.01, iterations=100)
    assert not r.diverged


# ---------------------------------------------------------------- recorded objective


@pytest.mark.parametrize("form", ["A", "B", "C"])
def test_recorded_objective_matches_network(form):
    X, y = planted(n=60, labels=True)
    loss = get_loss("logistic")
    r = train_three_layer(
        X, y, 4, 3, 0.05, form=form, loss="logistic", iterations=120, batch_size=20, seed=3
    )
    independent = ThreeLayerNetwork(r.network.W1.copy(), r.network.w2.copy(), r.network.w3.copy())
    assert r.objective == pytest.approx(independent.objective(X, y, 0.05, loss, form), rel=1e-12)
    assert r.trace_objective[-1] == pytest.approx(r.objective, rel=1e-12)
    assert r.best_objective == pytest.approx(r.trace_objective.min())
    assert r.equivalent is (form != "C")
    assert r.params["form"] == form and r.params["batch_size"] == 20
    if form == "A":
        assert r.network.form_a_violation() <= 1e-12


def test_two_layer_result_record():
    X, y = planted(n=60)
    r = train_two_layer(X, y, 12, 0.1, optimizer="sgd", iterations=100, log_every=10, seed=5)
    loss = get_loss("squared")
    net = TwoLayerNetwork(r.network.U.copy(), r.network.a.copy())
    assert r.objective == pytest.approx(net.objective(X, y, 0.1, loss), rel=1e-12)
    np.testing.assert_array_equal(r.trace_iterations, np.arange(0, 101, 10))
    assert r.trace_seconds.shape == r.trace_objective.shape == r.trace_iterations.shape
    assert np.all(np.diff(r.trace_seconds) >= 0)
    assert r.optimizer == "sgd" and r.seed == 5 and r.equivalent
    for key in (
        "width",
        "beta",
        "loss",
        "lr",
        "momentum",
        "iterations",
        "batch_size",
        "seed",
        "init_scale",
        "log_every",
        "time_limit",
        "schedule",
        "clip_norm",
    ):
        assert key in r.params
    assert r.params["lr"] == pytest.approx(0.2 / 60)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.objective = 0.0  # type: ignore[misc]


# ---------------------------------------------------------------- misc


def test_time_limit_stops_early():
    X, y = planted(n=200)
    r = train_three_layer(X, y, 10, 5, 0.01, iterations=10**6, time_limit=0.3)
    assert r.iterations_run < 10**6
    assert r.seconds < 5.0
    assert not r.diverged


def test_accuracy_helper():
    net = TwoLayerNetwork(np.array([[1.0]]), np.array([1.0]))
    X = np.array([[2.0], [-1.0], [3.0]])  # predictions 2, 0, 3 -> labels +1, +1, +1
    assert accuracy(net.predict(X), np.array([1.0, -1.0, 1.0])) == pytest.approx(2 / 3)
    assert np.isnan(accuracy(np.zeros(0), np.zeros(0)))
    assert is_pm1(np.array([1.0, -1.0])) and not is_pm1(np.array([1.0, 0.0]))
    np.testing.assert_array_equal(to_pm1(np.array([3, 5, 3]), 3), [1.0, -1.0, 1.0])


def test_adam_first_step_has_size_lr():
    p = [np.array([1.0, -2.0])]
    Adam().step(p, [np.array([5.0, -0.1])], lr=0.1)
    np.testing.assert_allclose(p[0], [0.9, -1.9], atol=1e-6)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"optimizer": "lbfgs"},
        {"width": 0},
        {"lr": -1.0},
        {"momentum": 1.0},
        {"loss": "hinge"},
        {"schedule": "step"},
        {"batch_size": 0},
    ],
)
def test_bad_options_raise_user_error(kwargs):
    X, y = planted(n=20)
    args = {"width": 4, "beta": 0.1, "iterations": 5, **kwargs}
    with pytest.raises(UserError):
        train_two_layer(X, y, **args)


def test_bad_form_raises_user_error():
    X, y = planted(n=20)
    with pytest.raises(UserError):
        train_three_layer(X, y, 2, 2, 0.1, form="D", iterations=5)


def test_minibatch_gradients_are_scaled_to_be_unbiased():
    """One epoch of minibatches covers every sample once, each scaled by n / batch."""
    from convexbench.baselines._common import resolve_settings
    from convexbench.baselines._loop import run_loop

    n, b = 30, 10
    seen: list[tuple[np.ndarray, float]] = []

    def grad_fn(p, idx, scale):
        seen.append((idx, scale))
        return [np.zeros_like(p[0])]

    s = resolve_settings(n, "sgd", None, 0.9, 3, b, None, None, "constant", None, 1e8)
    run_loop([np.zeros(2)], n, grad_fn, lambda p: 0.0, None, s, np.random.default_rng(0))
    assert [scale for _, scale in seen] == [n / b] * 3
    np.testing.assert_array_equal(np.sort(np.concatenate([i for i, _ in seen])), np.arange(n))
    # the scaled minibatch gradients of one epoch average to the full gradient
    X, y = planted(n=n)
    net, loss = TwoLayerNetwork(*[np.ones((3, 4)), np.ones(4)]), get_loss("squared")
    full = two_layer_gradient(net, X, y, 0.5, loss)
    parts = [two_layer_gradient(net, X[i], y[i], 0.5, loss, sc) for i, sc in seen]
    for k in range(2):
        np.testing.assert_allclose(np.mean([p[k] for p in parts], axis=0), full[k], atol=1e-10)

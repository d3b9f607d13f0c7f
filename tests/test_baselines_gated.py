"""SGD / Adam on the gated ReLU network with a gated2 program's fixed gates
(convexbench.baselines.gated): the gradient, and the gated2 convex optimum as the exact lower
bound (attained) of every run's objective."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from convexbench.backends import solve
from convexbench.baselines import gated_gradient, train_gated
from convexbench.errors import UserError
from convexbench.losses import get_loss
from convexbench.networks import GatedNetwork
from convexbench.programs import make_program

N, D, BETA = 60, 4, 2.0
GATES_SEED = 1  # 20 sampled directions give 20 distinct patterns on this data (asserted)


@pytest.fixture(autouse=True)
def _one_blas_thread():
    with threadpool_limits(1):
        yield


def data(n: int = N, d: int = D, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.maximum(X @ rng.standard_normal((d, 3)), 0) @ np.array([1.0, -1.0, 0.5])
    return X, y + 0.1 * rng.standard_normal(n)


@pytest.fixture(scope="module")
def solved():
    """The gated2 program on 60 x 4 data with 20 gates, solved by Clarabel and certified."""
    X, y = data()
    program = make_program("gated2", X, y, BETA, patterns=20, seed=GATES_SEED)
    assert program.n_groups == 20 and program.gates.shape == (20, D)
    result = solve(program, backend="clarabel", accuracy="high")
    assert result.verified and result.certificate.gap_exact
    assert result.certificate.relative_gap < 1e-6
    return program, result


def _fd(f, arrays: list[np.ndarray], eps: float = 1e-6) -> list[np.ndarray]:
    """Central finite differences of ``f()`` in every entry of ``arrays``."""
    out = []
    for arr in arrays:
        grad = np.zeros_like(arr)
        flat, gflat = arr.reshape(-1), grad.reshape(-1)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + eps
            up = f()
            flat[i] = old - eps
            down = f()
            flat[i] = old
            gflat[i] = (up - down) / (2 * eps)
        out.append(grad)
    return out


@pytest.mark.parametrize("loss_name", ["squared", "logistic", "hinge"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gated_gradient_matches_finite_differences(loss_name: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, d, m, beta, scale = 12, 3, 5, 0.3, 2.5
    X = rng.standard_normal((n, d))
    y = rng.standard_normal(n) if loss_name == "squared" else np.sign(rng.standard_normal(n))
    gates = rng.standard_normal((d, m))
    net = GatedNetwork(U=rng.standard_normal((d, m)), a=rng.standard_normal(m),
                       train_masks=(X @ gates >= 0).astype(float), gates=gates)
    loss = get_loss(loss_name)
    rows = np.array([0, 3, 4, 7, 11])  # a minibatch: its own masks, loss scaled
    if loss_name == "hinge":  # finite differences need every margin away from the kink
        assert np.all(np.abs(1 - y * net.predict(X)) > 1e-3)

    def objective() -> float:  # independent of the gradient code: predict + penalty
        pred = net.predict(X[rows])  # the gates recomputed from the gate vectors
        return scale * loss.value(pred, y[rows]) + net.penalty(beta)

    dU, da = gated_gradient(net, X[rows], y[rows], beta, loss, scale,
                            masks=net.train_masks[rows])
    numeric = _fd(objective, [net.U, net.a])
    for analytic, fd in zip((dU, da), numeric, strict=True):
        np.testing.assert_allclose(analytic, fd, rtol=0, atol=1e-5 * max(1.0, np.abs(fd).max()))
    full = gated_gradient(net, X, y, beta, loss)  # default: the training masks, scale 1
    numeric = _fd(lambda: net.objective(X, y, beta, loss), [net.U, net.a])
    for analytic, fd in zip(full, numeric, strict=True):
        np.testing.assert_allclose(analytic, fd, rtol=0, atol=1e-5 * max(1.0, np.abs(fd).max()))


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("batch_size", [None, 15])
def test_no_run_ends_below_the_gated2_convex_optimum(solved, optimizer: str,
                                                     batch_size: int | None) -> None:
    program, result = solved
    lower = result.certificate.dual_value  # a certified lower bound on the optimum
    X, y = program.X, program.y
    for seed in range(3):
        run = train_gated(X, y, program.gates.T, BETA, optimizer=optimizer, iterations=1500,
                          batch_size=batch_size, seed=seed, masks=program.masks)
        assert not run.diverged
        assert run.network.width == program.n_groups
        assert run.objective == pytest.approx(run.network.objective(X, y, BETA, program.loss))
        assert run.objective >= lower - 1e-10 * abs(lower), (run.objective, lower)
        assert run.best_objective >= lower - 1e-10 * abs(lower)
        # and the runs do train: well below where they started
        assert run.objective < 0.5 * run.trace_objective[0]


def test_long_adam_run_reaches_the_convex_optimum(solved) -> None:
    program, result = solved
    run = train_gated(program.X, program.y, program.gates.T, BETA, optimizer="adam",
                      iterations=8000, lr=3e-2, seed=0, masks=program.masks)
    lower, convex = result.certificate.dual_value, result.objective
    assert lower - 1e-10 * abs(lower) <= run.objective <= 1.02 * convex, (run.objective, convex)


def test_convex_optimum_is_attained_by_the_gated_network(solved) -> None:
    """AM-GM: the reconstructed network's weight decay equals beta * sum ||w_j||."""
    program, result = solved
    network = program.reconstruct(result.solution)
    assert isinstance(network, GatedNetwork)
    value = network.objective(program.X, program.y, BETA, program.loss)
    assert value == pytest.approx(result.objective, rel=1e-9)


def test_trained_network_predicts_new_data_with_the_gates(solved) -> None:
    program, _ = solved
    gates = program.gates.T
    run = train_gated(program.X, program.y, gates, BETA, iterations=50, seed=0)
    net = run.network
    # without masks the training gates are 1[X gates >= 0]: the program's patterns here
    np.testing.assert_array_equal(net.train_masks, program.masks)
    X_new = np.random.default_rng(5).standard_normal((7, D))
    expected = ((X_new @ gates >= 0) * (X_new @ net.U)) @ net.a
    np.testing.assert_allclose(net.predict(X_new), expected)
    assert not np.allclose(net.predict(X_new), np.maximum(X_new @ net.U, 0) @ net.a)


def test_same_seed_same_run_and_bad_shapes_raise() -> None:
    X, y = data(20, 3)
    gates = np.random.default_rng(0).standard_normal((3, 6))
    a = train_gated(X, y, gates, 0.5, iterations=30, seed=4)
    b = train_gated(X, y, gates, 0.5, iterations=30, seed=4)
    c = train_gated(X, y, gates, 0.5, iterations=30, seed=5)
    np.testing.assert_array_equal(a.network.U, b.network.U)
    assert not np.allclose(a.network.U, c.network.U)
    with pytest.raises(UserError, match="gates must have shape"):
        train_gated(X, y, gates.T, 0.5, iterations=5)
    with pytest.raises(UserError, match="masks must have shape"):
        train_gated(X, y, gates, 0.5, iterations=5, masks=np.ones((20, 5)))

"""Synthetic generators, seeded splits, standardization and label helpers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convexbench.arrays import to_pm1
from convexbench.data import Dataset, load_dataset, one_hot, one_vs_rest, parse_name
from convexbench.data.splits import (
    fit_standardizer,
    standardize,
    standardize_inplace,
    stratified_split,
)
from convexbench.data.synthetic import (
    circles,
    lowrank_gaussian,
    planted_teacher,
    spiral,
    teacher_dataset,
)
from convexbench.errors import UserError

pytestmark = pytest.mark.usefixtures("offline_data")


def test_parse_name_examples():
    spec = parse_name("synthetic:teacher2,n=200,d=10,noise=0.1,task=binary")
    assert (spec.family, spec.name) == ("synthetic", "teacher2")
    assert spec.option_dict == {"n": "200", "d": "10", "noise": "0.1", "task": "binary"}
    spec = parse_name("fashion-mnist:0,1,2,n=100")
    assert spec.name == "0,1,2" and spec.option_dict == {"n": "100"}
    assert parse_name(" uci:blood ").canonical == "uci:blood"


@pytest.mark.parametrize(
    "bad",
    ["", "blood", "ucí:blood", "uci:", "uci:blood,,fold=2", "uci:blood,fold=", "uci:blood,=3",
     "uci:blood,fold=1,fold=2", "fashion-mnist:0,n=10,1", "synthetic:teacher2,seed=3",
     "synthetic:teacher9", "synthetic:teacher2,colour=red", "synthetic:teacher2,n=abc",
     "synthetic:teacher2,n=-3", "synthetic:teacher2,task=ranking", "synthetic:lowrank,d=5,rank=5",
     "synthetic:spiral,d=1", "synthetic:circles,factor=2"],
)
def test_bad_names_raise_user_error(bad):
    with pytest.raises(UserError):
        load_dataset(bad)


def test_bare_uci_name_gets_a_hint():
    with pytest.raises(UserError, match="uci:blood"):
        load_dataset("blood")


def test_teacher2_shapes_and_reproducibility():
    a = load_dataset("synthetic:teacher2,n=200,d=10,noise=0.1,task=binary", seed=3)
    b = load_dataset("synthetic:teacher2,n=200,d=10,noise=0.1,task=binary", seed=3)
    c = load_dataset("synthetic:teacher2,n=200,d=10,noise=0.1,task=binary", seed=4)
    assert isinstance(a, Dataset)
    assert (a.n_train, a.n_test, a.d, a.task, a.n_classes) == (200, 200, 10, "binary", 2)
    assert a.X_train.dtype == np.float64 and a.y_train.dtype == np.float64
    assert set(np.unique(a.y_train)) == {-1.0, 1.0}
    np.testing.assert_array_equal(a.X_train, b.X_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.X_train, c.X_train)
    assert a.meta["seed"] == 3 and a.meta["sha256_ok"] is None


def test_noiseless_teacher_labels_follow_the_planted_network():
    data = teacher_dataset(300, 6, width=4, noise=0.0, task="binary", seed=1)
    W = np.array(data.meta["teacher"]["layers"][0])
    a = np.array(data.meta["teacher"]["a"])
    f = np.maximum(data.X_train @ W.T, 0.0) @ a
    center = data.meta["teacher"]["center"]
    np.testing.assert_array_equal(data.y_train, np.where(f - center >= 0, 1.0, -1.0))
    # median-centred on a reference sample: both classes well represented
    assert 0.35 < np.mean(data.y_train > 0) < 0.65
    np.testing.assert_allclose(np.linalg.norm(W, axis=1), 1.0)


def test_regression_teacher_noise_level():
    clean = teacher_dataset(2000, 5, noise=0.0, seed=2)
    noisy = teacher_dataset(2000, 5, noise=0.5, seed=2)
    np.testing.assert_array_equal(clean.X_train, noisy.X_train)
    resid = noisy.y_train - clean.y_train
    assert abs(resid.std() - 0.5) < 0.03
    assert abs(clean.y_train.mean()) < 0.1 and abs(clean.y_train.std() - 1.0) < 0.1


def test_teacher3_differs_from_teacher2():
    t3 = planted_teacher(8, width=4, depth=3, seed=0)
    assert t3.depth == 3 and len(t3.layers) == 2
    d3 = load_dataset("synthetic:teacher3,n=50,d=8")
    assert d3.d == 8 and d3.task == "regression" and d3.n_classes == 0


@pytest.mark.parametrize("n,d,rank", [(100, 20, 3), (50, 10, 1), (30, 40, 7)])
def test_lowrank_gaussian_has_the_requested_rank(n, d, rank):
    X = lowrank_gaussian(n, d, rank, seed=5)
    assert X.shape == (n, d)
    assert np.linalg.matrix_rank(X) == rank
    np.testing.assert_array_equal(X, lowrank_gaussian(n, d, rank, seed=5))
    data = load_dataset(f"synthetic:lowrank,n={n},d={d},rank={rank}")
    assert np.linalg.matrix_rank(np.vstack([data.X_train, data.X_test])) == rank


def test_lowrank_scale_matches_full_rank():
    X = lowrank_gaussian(20000, 20, 4, seed=0)
    assert abs(np.mean(np.sum(X**2, axis=1)) / 20 - 1.0) < 0.02


def test_spiral_and_circles():
    X, y = spiral(201, seed=0)
    assert X.shape == (201, 2) and (y == 1).sum() == 101 and (y == -1).sum() == 100
    assert np.all(np.linalg.norm(X, axis=1) <= 1.0 + 1e-12)
    X, y = circles(400, seed=0, noise=0.0, factor=0.5)
    np.testing.assert_allclose(np.linalg.norm(X[y > 0], axis=1), 0.5)
    np.testing.assert_allclose(np.linalg.norm(X[y < 0], axis=1), 1.0)
    data = load_dataset("synthetic:spiral,n=200,d=5,n_test=50")
    assert (data.n_train, data.n_test, data.d) == (200, 50, 5)
    # the embedding is an isometry: norms match the 2-D version
    flat = load_dataset("synthetic:spiral,n=200,n_test=50")
    np.testing.assert_allclose(np.linalg.norm(data.X_train, axis=1),
                               np.linalg.norm(flat.X_train, axis=1))


def test_std_option_uses_training_statistics_only():
    data = load_dataset("synthetic:teacher2,n=40,d=3,n_test=500,std=train", seed=0)
    np.testing.assert_allclose(data.X_train.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(data.X_train.std(axis=0), 1.0)
    assert np.abs(data.X_test.mean(axis=0)).max() > 1e-3  # test part is not re-centred


def test_standardize_fits_on_train_only():
    rng = np.random.default_rng(0)
    X_train = rng.normal(3.0, 2.0, (50, 4))
    X_test = rng.normal(-5.0, 7.0, (30, 4))
    A, B, fitted = standardize(X_train, X_test)
    np.testing.assert_allclose(fitted.mean, X_train.mean(axis=0))
    np.testing.assert_allclose(fitted.scale, X_train.std(axis=0))
    np.testing.assert_allclose(B, (X_test - X_train.mean(0)) / X_train.std(0))
    C, D = X_train.copy(), X_test.copy()
    standardize_inplace(C, D)
    np.testing.assert_allclose(C, A)
    np.testing.assert_allclose(D, B)
    constant = np.column_stack([np.ones(10), np.arange(10.0)])
    assert fit_standardizer(constant).scale[0] == 1.0


@settings(max_examples=40, deadline=None)
@given(
    counts=st.lists(st.integers(min_value=2, max_value=40), min_size=2, max_size=5),
    fraction=st.floats(min_value=0.1, max_value=0.9),
    seed=st.integers(min_value=0, max_value=2**31),
)
def test_stratified_split_partitions_and_keeps_classes(counts, fraction, seed):
    y = np.repeat(np.arange(len(counts)), counts)
    train, test = stratified_split(y, fraction, seed)
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(y.size))
    for k, count in enumerate(counts):
        in_test = int(np.sum(y[test] == k))
        assert 1 <= in_test <= count - 1
        assert abs(in_test - fraction * count) <= 1.0
    again = stratified_split(y, fraction, seed)
    assert np.array_equal(again[0], train) and np.array_equal(again[1], test)


def test_label_helpers():
    y = np.array([0.0, 2.0, 1.0, 2.0])
    np.testing.assert_array_equal(one_hot(y), [[1, 0, 0], [0, 0, 1], [0, 1, 0], [0, 0, 1]])
    np.testing.assert_array_equal(one_vs_rest(y, 3)[:, 2], [-1, 1, -1, 1])
    np.testing.assert_array_equal(to_pm1(np.array([3, 5, 3]), 3), [1.0, -1.0, 1.0])
    with pytest.raises(UserError):
        one_hot(np.array([0.5, 1.0]))
    with pytest.raises(UserError):
        one_hot(np.array([0, 3]), n_classes=3)

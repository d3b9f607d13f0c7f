"""Seeded splits, train-only standardization and label encodings.

Every function here is deterministic given its ``seed``; random streams are derived with
:class:`numpy.random.SeedSequence` from ``(seed, *tags)`` so that independent parts of a
loader (train sampling, test sampling, shuffling) never share a stream.

Label conventions used by all loaders:

* binary tasks: ``y`` in ``{-1.0, +1.0}`` (:func:`convexbench.arrays.to_pm1`);
* multi-class tasks: ``y`` in ``{0.0, 1.0, ..., C-1}``; :func:`one_hot` and
  :func:`one_vs_rest` turn them into ``(n, C)`` targets;
* regression: real ``y``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from convexbench.errors import UserError

__all__ = [
    "Standardizer",
    "balanced_indices",
    "fit_standardizer",
    "one_hot",
    "one_vs_rest",
    "rng_for",
    "standardize",
    "standardize_inplace",
    "stratified_split",
]


def rng_for(seed: int, *tags: int) -> np.random.Generator:
    """A generator for the stream ``(seed, *tags)``; equal inputs give equal streams."""
    if seed < 0:
        raise UserError(f"seed must be a non-negative integer, got {seed}")
    return np.random.default_rng(np.random.SeedSequence([int(seed), *map(int, tags)]))


@dataclass(frozen=True)
class Standardizer:
    """Per-feature affine map ``(x - mean) / scale`` fitted on a training matrix."""

    mean: np.ndarray
    scale: np.ndarray

    def apply(self, X: np.ndarray) -> np.ndarray:
        """Standardize ``X`` (any number of rows) with the fitted statistics."""
        return (np.asarray(X, dtype=np.float64) - self.mean) / self.scale


def fit_standardizer(X_train: np.ndarray) -> Standardizer:
    """Fit mean and sample-free (ddof=0) std on the training rows only.

    Constant columns get scale 1, so they map to 0 instead of NaN.
    """
    X = np.asarray(X_train, dtype=np.float64)
    if X.shape[0] == 0:
        raise UserError("cannot standardize an empty training set")
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale = np.where(scale > 1e-12 * np.maximum(1.0, np.abs(mean)), scale, 1.0)
    return Standardizer(mean=mean, scale=scale)


def standardize(
    X_train: np.ndarray, X_test: np.ndarray
) -> tuple[np.ndarray, np.ndarray, Standardizer]:
    """Standardize both parts with statistics of ``X_train`` only."""
    fitted = fit_standardizer(X_train)
    return fitted.apply(X_train), fitted.apply(X_test), fitted


def standardize_inplace(X_train: np.ndarray, X_test: np.ndarray) -> Standardizer:
    """Like :func:`standardize` but overwrites two float64 arrays (no big temporaries)."""
    if X_train.shape[0] == 0:
        raise UserError("cannot standardize an empty training set")
    mean = X_train.mean(axis=0)
    X_train -= mean
    scale = np.sqrt(np.einsum("ij,ij->j", X_train, X_train) / X_train.shape[0])
    scale = np.where(scale > 1e-12 * np.maximum(1.0, np.abs(mean)), scale, 1.0)
    X_train /= scale
    X_test -= mean
    X_test /= scale
    return Standardizer(mean=mean, scale=scale)


def one_hot(y: np.ndarray, n_classes: int | None = None) -> np.ndarray:
    """``(n, C)`` 0/1 matrix for integer-valued labels ``0..C-1``."""
    labels = _integer_labels(y)
    C = int(labels.max()) + 1 if n_classes is None else int(n_classes)
    if labels.size and (labels.min() < 0 or labels.max() >= C):
        raise UserError(f"labels must lie in 0..{C - 1}")
    out = np.zeros((labels.size, C))
    out[np.arange(labels.size), labels] = 1.0
    return out


def one_vs_rest(y: np.ndarray, n_classes: int | None = None) -> np.ndarray:
    """``(n, C)`` ±1 matrix: column ``c`` is ``+1`` where ``y == c`` and ``-1`` elsewhere."""
    return 2.0 * one_hot(y, n_classes) - 1.0


def _integer_labels(y: np.ndarray) -> np.ndarray:
    arr = np.asarray(y)
    labels = np.rint(arr).astype(np.int64)
    if arr.size and not np.array_equal(labels, arr):
        raise UserError("class labels must be integers 0..C-1")
    return labels.ravel()


def stratified_split(
    y: np.ndarray, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split keeping class proportions; returns sorted (train, test) row indices.

    Each class contributes ``round(test_fraction * count)`` rows to the test part (at least
    one and at most ``count - 1`` when the class has two or more rows).
    """
    if not 0.0 < test_fraction < 1.0:
        raise UserError(f"test fraction must be in (0, 1), got {test_fraction}")
    y = np.asarray(y)
    rng = rng_for(seed, 0x5917)
    values, inverse = np.unique(y, return_inverse=True)
    # one random key per row; order rows by (class, key) and cut each class block
    keys = rng.random(y.size)
    order = np.lexsort((keys, inverse))
    counts = np.bincount(inverse, minlength=values.size)
    n_test = np.clip(np.rint(test_fraction * counts).astype(np.int64), 1, None)
    n_test = np.where(counts >= 2, np.minimum(n_test, counts - 1), 0)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.arange(y.size) - np.repeat(starts, counts)
    in_test = rank < np.repeat(n_test, counts)
    return np.sort(order[~in_test]), np.sort(order[in_test])


def balanced_indices(
    candidates: list[tuple[int, np.ndarray]], n_per_class: int, seed: int, tag: int
) -> list[np.ndarray]:
    """For each ``(class_id, rows)`` pair, the first ``n_per_class`` of a seeded permutation.

    The stream of class ``k`` depends only on ``(seed, tag, k)`` so a class draws the same
    rows whatever other classes are requested, and a smaller ``n`` is a prefix of a larger.
    """
    out = []
    for k, cand in candidates:
        rng = rng_for(seed, tag, int(k))
        out.append(np.asarray(cand)[rng.permutation(len(cand))[:n_per_class]])
    return out

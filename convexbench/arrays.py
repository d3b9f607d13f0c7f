"""The data check and the +-1 label helpers shared by every layer (numpy only).

``check_data`` is the one validation of a training set (programs, baselines, ``.npz``
files); the label helpers define how a real prediction becomes a +-1 label (a prediction of
exactly 0 counts as +1) and what accuracy means.
"""

from __future__ import annotations

import numpy as np

from convexbench.errors import UserError

PM1 = (-1.0, 1.0)


def check_data(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validated float64 copies of X (n x d) and y (n,); a UserError otherwise (wrong shapes,
    no rows or columns, non-numeric, NaN or infinite entries)."""
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim != 2:
        raise UserError(f"X must be a 2-D array (n x d), got shape {X.shape}")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise UserError(f"y must be a 1-D array of length n, got shape {y.shape}")
    if X.shape[0] != y.shape[0]:
        raise UserError(f"X has {X.shape[0]} rows but y has {y.shape[0]} entries")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise UserError(f"X is empty (shape {X.shape})")
    try:
        X = X.astype(np.float64)
        y = y.astype(np.float64)
    except (TypeError, ValueError):
        raise UserError("X and y must be numeric arrays") from None
    if not np.all(np.isfinite(X)):
        raise UserError("X contains NaN or infinite values")
    if not np.all(np.isfinite(y)):
        raise UserError("y contains NaN or infinite values")
    return X, y


def is_pm1(y: np.ndarray) -> bool:
    """True when every label is -1.0 or +1.0."""
    return bool(np.all(np.isin(y, PM1)))


def to_pm1(labels: np.ndarray, positive: int | float) -> np.ndarray:
    """Map ``labels == positive`` to ``+1.0`` and everything else to ``-1.0``."""
    return np.where(np.asarray(labels) == positive, 1.0, -1.0)


def sign_labels(predictions: np.ndarray) -> np.ndarray:
    """+-1 labels from the sign of real predictions (exactly 0 counts as +1)."""
    return np.where(np.asarray(predictions) >= 0.0, 1.0, -1.0)


def accuracy(predictions: np.ndarray, y: np.ndarray) -> float:
    """Fraction of the +-1 labels ``y`` whose sign is predicted (NaN for no samples)."""
    y = np.asarray(y, dtype=float).reshape(-1)
    if y.size == 0:
        return float("nan")
    return float(np.mean(sign_labels(np.asarray(predictions).reshape(-1)) == y))


def lambda_max(X: np.ndarray, y: np.ndarray) -> float:
    """||X^T y||_inf: the scale of beta a regularization path is given in (``--beta-frac``;
    the bench's and issue 16's "beta / lambda_max")."""
    return float(np.max(np.abs(np.asarray(X, float).T @ np.asarray(y, float))))

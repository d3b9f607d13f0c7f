"""Reading user data files."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from convexbench.arrays import check_data
from convexbench.errors import UserError


def load_npz(
    path: str | Path,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """X, y and optional X_test, y_test from an ``.npz`` file, validated."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"data file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise UserError(f"cannot read {path} as a .npz file: {exc}") from None
    missing = [key for key in ("X", "y") if key not in arrays]
    if missing:
        raise UserError(
            f"{path} has no array {' or '.join(missing)} (found: {', '.join(arrays) or 'none'})"
        )
    X, y = check_data(arrays["X"], arrays["y"])
    X_test = y_test = None
    if "X_test" in arrays or "y_test" in arrays:
        if "X_test" not in arrays or "y_test" not in arrays:
            raise UserError(f"{path} must hold both X_test and y_test, or neither")
        X_test, y_test = check_data(arrays["X_test"], arrays["y_test"])
        if X_test.shape[1] != X.shape[1]:
            raise UserError(f"X_test has {X_test.shape[1]} columns but X has {X.shape[1]}")
    return X, y, X_test, y_test

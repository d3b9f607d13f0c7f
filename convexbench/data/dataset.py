"""The :class:`Dataset` record every loader returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

TASKS = ("binary", "multiclass", "regression")


@dataclass(frozen=True)
class Dataset:
    """A train/test pair with labels and provenance.

    ``y`` is ``±1.0`` for binary tasks, ``0.0..C-1`` for multi-class tasks and real for
    regression.  ``meta`` records the source, sha256 status, citation, split and seed,
    options, original class ids (``meta["classes"]``) and original indices where relevant.
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    task: str
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        for part in ("train", "test"):
            X, y = getattr(self, f"X_{part}"), getattr(self, f"y_{part}")
            if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.shape[0]:
                raise ValueError(f"bad {part} shapes X{X.shape} y{y.shape}")
        if self.X_train.shape[1] != self.X_test.shape[1]:
            raise ValueError("train and test have different numbers of features")

    @property
    def n_train(self) -> int:
        """Number of training rows."""
        return int(self.X_train.shape[0])

    @property
    def n_test(self) -> int:
        """Number of test rows."""
        return int(self.X_test.shape[0])

    @property
    def d(self) -> int:
        """Number of features."""
        return int(self.X_train.shape[1])

    @property
    def n_classes(self) -> int:
        """Number of classes (2 for binary, 0 for regression)."""
        if self.task == "regression":
            return 0
        if self.task == "binary":
            return 2
        classes = self.meta.get("classes")
        if classes is not None:
            return len(classes)
        return int(max(self.y_train.max(initial=0), self.y_test.max(initial=0))) + 1

"""The array-module seam: every native kernel takes its array functions from here.

numpy is the default.  A GPU array library with a numpy-compatible API (e.g. cupy) can be
dropped in with :func:`set_array_module`; the reduced conic solves and NNLS pricing stay on
the host (they work on small arrays), see :func:`to_host`.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

_MODULE: ModuleType = np


def get_array_module() -> ModuleType:
    """The array module used by the matrix-free kernels (numpy unless replaced)."""
    return _MODULE


def set_array_module(module: ModuleType | None) -> None:
    """Use ``module`` (numpy-compatible) for the large kernels; None restores numpy."""
    global _MODULE
    _MODULE = np if module is None else module


def to_device(array: Any) -> Any:
    """``array`` as an array of the current module, float64."""
    return _MODULE.asarray(array, dtype=_MODULE.float64)


def to_host(array: Any) -> np.ndarray:
    """A numpy copy (or view) of an array of any module."""
    getter = getattr(array, "get", None)
    if callable(getter) and not isinstance(array, np.ndarray):
        return np.asarray(getter())
    return np.asarray(array)

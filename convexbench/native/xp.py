"""The array-module seam: every native kernel takes its array functions from here.

numpy is the default.  A GPU array library with a numpy-compatible API (e.g. cupy) can be
dropped in with :func:`set_array_module`; the reduced conic solves and NNLS pricing stay on
the host (they work on small arrays), see :func:`to_host`.
"""

from __future__ import annotations

import mmap
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


def zeros_mapped(shape: tuple[int, ...], dtype: type = np.float64) -> np.ndarray:
    """A zero Fortran-ordered host array; from 1 MiB on in pages of its own (an anonymous
    memory map, returned to the system when the array is freed).  Through malloc, freeing
    the restricted solves' N x N arrays raised glibc's mmap threshold to their size, and the
    heap then kept several MB more than was in use (measured: peak resident growth 13.7 ->
    10.7 MB on the bench's relu2 n=1000 d=20 P=500, 11.5 -> 8.3 MB on gated2)."""
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    if nbytes < 1 << 20:
        return np.zeros(shape, dtype=dtype, order="F")
    return np.ndarray(shape, dtype=dtype, buffer=mmap.mmap(-1, nbytes), order="F")

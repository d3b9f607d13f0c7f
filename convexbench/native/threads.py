"""BLAS thread limits for the native solver, without a library scan per call.

``threadpoolctl.threadpool_limits`` finds the loaded BLAS libraries anew each time (a scan of
the process's shared objects: 8-12 ms, measured; 14% of a 0.17 s gated2 solve on
uci:energy-y1 that entered it twice).  One ``ThreadpoolController`` per process, made on first
use, when numpy's and scipy's BLAS are loaded, does the scan once."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from threadpoolctl import ThreadpoolController


@lru_cache(maxsize=1)
def _controller() -> ThreadpoolController:
    return ThreadpoolController()


def blas_threads(limit: int) -> Any:
    """A context manager that limits the BLAS libraries to ``limit`` threads (at least 1)."""
    return _controller().limit(limits=max(int(limit), 1), user_api="blas")

"""Measuring the memory of a solve and limiting its threads and address space."""

from __future__ import annotations

import resource
import threading
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType

import psutil

_MB = 1024.0 * 1024.0


def rss_mb(pid: int | None = None) -> float | None:
    """Resident memory of a process (this one by default) in MB, None if unknown."""
    try:
        proc = psutil.Process(pid) if pid is not None else psutil.Process()
        return proc.memory_info().rss / _MB
    except (psutil.Error, OSError):
        return None


def _status_kb(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return float(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak_rss() -> bool:
    """Reset this process's peak RSS (``VmHWM``) to its current RSS; False if unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return _status_kb("VmHWM") is not None


def peak_rss_mb() -> float | None:
    """Peak resident memory of this process since the last :func:`reset_peak_rss`."""
    kb = _status_kb("VmHWM")
    return None if kb is None else kb / 1024.0


class PeakMemory(AbstractContextManager["PeakMemory"]):
    """Peak resident memory of this process inside a ``with`` block.

    Uses the kernel's high-water mark (reset on entry) where available, and otherwise
    samples the RSS every ``interval`` seconds in a thread.  ``baseline_mb`` is the RSS on
    entry, ``peak_mb`` the peak inside the block (both include the interpreter itself).
    """

    def __init__(self, interval: float = 0.01):
        self.interval = interval
        self.baseline_mb: float | None = None
        self.peak_mb: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sampled = 0.0

    def __enter__(self) -> PeakMemory:
        self.baseline_mb = rss_mb()
        if not reset_peak_rss():
            self._sampled = self.baseline_mb or 0.0
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self._sampled = max(self._sampled, rss_mb() or 0.0)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self.peak_mb = max(self._sampled, rss_mb() or 0.0)
        else:
            self.peak_mb = peak_rss_mb()


def cap_address_space(extra_mb: float) -> None:
    """Limit this process's address space to its current size plus ``extra_mb`` MB.

    Counting from the current size keeps the cap meaningful after a fork, whose child starts
    with the parent's mappings.
    """
    try:
        current = psutil.Process().memory_info().vms
    except psutil.Error:
        current = 0
    limit = int(current + extra_mb * _MB)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def touch_blas_workspace(size: int = 1536) -> None:
    """Touch the BLAS libraries' workspace as a large product and factorization do, so that a
    memory baseline taken afterwards holds it.  OpenBLAS maps one fixed workspace per thread
    and touches its pages as the matrices grow: after a small warm-up solve, 2.7 MB more of it
    were touched during the native relu2 n=1000 solve, a cost of the library, not of the
    method.  One thread; the arrays live in pages of their own (anonymous maps, returned when
    freed) so that malloc is left as it was."""
    import mmap

    import numpy as np
    from scipy.linalg import blas, lapack
    from threadpoolctl import threadpool_limits

    def mapped() -> np.ndarray:
        return np.ndarray((size, size), dtype=np.float64, buffer=mmap.mmap(-1, size * size * 8),
                          order="F")

    with threadpool_limits(limits=1, user_api="blas"):
        a = mapped()
        a[:] = np.random.default_rng(0).standard_normal(size)[None, :]
        a[np.diag_indices(size)] += size
        c = mapped()
        np.matmul(a.T, a, out=c)  # numpy's BLAS
        blas.dsyrk(1.0, a, beta=0.0, c=c, trans=1, lower=1, overwrite_c=1)  # scipy's
        lapack.dpotrf(c, lower=1, overwrite_a=1)
        del a, c

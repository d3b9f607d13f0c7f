"""BLAS thread limits of the native solver (``native/threads.py``)."""

from __future__ import annotations

import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from convexbench.native import threads


def _blas_threads() -> list[int]:
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_limits_apply_inside_and_are_restored_after():
    if not _blas_threads():
        pytest.skip("no BLAS library that threadpoolctl can control")
    with threadpool_limits(limits=2, user_api="blas"):
        before = _blas_threads()
        with threads.blas_threads(1):
            assert set(_blas_threads()) == {1}
            with threads.blas_threads(0):  # at least one thread
                assert set(_blas_threads()) == {1}
        assert _blas_threads() == before


def test_the_library_scan_is_done_once(monkeypatch):
    """A fresh controller per call scanned the loaded libraries each time (8-12 ms)."""
    made = []
    original = threads.ThreadpoolController

    def counting():
        made.append(1)
        return original()

    threads._controller.cache_clear()
    monkeypatch.setattr(threads, "ThreadpoolController", counting)
    try:
        for _ in range(5):
            with threads.blas_threads(1):
                pass
    finally:
        threads._controller.cache_clear()
    assert len(made) == 1

"""Fixtures shared by the data tests: no user cache, no mirror unless asked, no network."""

from __future__ import annotations

import os
import urllib.error
from pathlib import Path

import pytest
from hypothesis import settings

from convexbench.data import cache

# CI draws the same hypothesis examples on every run (a red CI is then a real regression, not
# a new draw: a flaky example failed tests/test_relu3_price_bound.py once); local runs draw
# new examples each time and so keep searching
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

_ENV = os.environ.get("CONVEXBENCH_DATA_DIR")
DATA_MIRROR = Path(_ENV).resolve() if _ENV else None

DOWNLOADS: list[str] = []  # URLs a test tried to download (always refused)


@pytest.fixture
def offline_data(tmp_path, monkeypatch):
    """A temporary cache, no mirror, and a downloader that records and refuses every call."""
    monkeypatch.setenv("CONVEXBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("CONVEXBENCH_DATA_DIR", raising=False)
    DOWNLOADS.clear()

    def no_network(url, dest):
        DOWNLOADS.append(url)
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(cache, "_fetch_url", no_network)


@pytest.fixture
def mirror(monkeypatch):
    """Point CONVEXBENCH_DATA_DIR at the real data mirror (tests using it skip without it)."""
    monkeypatch.setenv("CONVEXBENCH_DATA_DIR", str(DATA_MIRROR))
    return DATA_MIRROR


@pytest.fixture(scope="module")
def small():
    """A tiny relu2 program (30 x 4, 10 patterns) that every backend solves in a moment."""
    import numpy as np

    from convexbench.programs import make_program

    rng = np.random.default_rng(0)
    return make_program("relu2", rng.standard_normal((30, 4)), rng.standard_normal(30), 0.1,
                        patterns=10)

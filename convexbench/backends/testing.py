"""Backends that misbehave on purpose, to test isolation (never part of ``--backends all``).

They are registered only when ``CONVEXBENCH_TEST_BACKENDS=1`` is set, or passed directly as
:class:`~convexbench.backends.base.Backend` objects.
"""

from __future__ import annotations

import os
import time

import numpy as np

from convexbench.backends.base import Backend, BackendInfo, RawRun
from convexbench.backends.presets import Preset
from convexbench.programs.base import ConvexProgram

TEST_BACKENDS_ENV = "CONVEXBENCH_TEST_BACKENDS"


class _TestBackend(Backend):
    kind = "test"
    description = ""

    def info(self) -> BackendInfo:
        return BackendInfo(self.name, True, "test", True, "available (test backend)",
                           ("zero", "nonneg", "soc", "exp"), notes=self.description,
                           kind=self.kind)


class AbortBackend(_TestBackend):
    """Calls ``os.abort()`` (SIGABRT), like a solver that dies in C code."""

    name = "test-abort"
    description = "dies with SIGABRT"

    def run(self, program: ConvexProgram, preset: Preset, time_limit: float | None = None,
            threads: int = 1) -> RawRun:
        os.abort()


class HangBackend(_TestBackend):
    """Never returns and ignores the time limit, like a solver without a time option."""

    name = "test-hang"
    description = "sleeps forever"

    def run(self, program: ConvexProgram, preset: Preset, time_limit: float | None = None,
            threads: int = 1) -> RawRun:
        while True:
            time.sleep(0.05)


class MemoryHogBackend(_TestBackend):
    """Allocates memory in 100 MB steps until something stops it."""

    name = "test-memory"
    description = "allocates memory without bound"

    def run(self, program: ConvexProgram, preset: Preset, time_limit: float | None = None,
            threads: int = 1) -> RawRun:
        blocks = []
        while True:
            blocks.append(np.ones(100 * 1024 * 1024 // 8))


class ZeroBackend(_TestBackend):
    """Returns the zero solution and claims it is optimal: the certificate must disagree."""

    name = "test-zero"
    description = "returns zeros and claims optimality"

    def run(self, program: ConvexProgram, preset: Preset, time_limit: float | None = None,
            threads: int = 1) -> RawRun:
        return RawRun("optimal", "claimed optimal", program.zero_solution(),
                      solver_objective=0.0)


class TimeLeftBackend(_TestBackend):
    """Returns at once and reports the ``time_limit`` it was given (``extra["time_limit"]``):
    in a child process, the time left when the child started."""

    name = "test-time-left"
    description = "reports the time limit it was given"

    def run(self, program: ConvexProgram, preset: Preset, time_limit: float | None = None,
            threads: int = 1) -> RawRun:
        return RawRun("error", "test backend", None, extra={"time_limit": time_limit},
                      message="test backend: no solution")


TEST_BACKENDS: dict[str, Backend] = {
    b.name: b for b in (AbortBackend(), HangBackend(), MemoryHogBackend(), ZeroBackend(),
                        TimeLeftBackend())
}


def test_backends_enabled() -> bool:
    return os.environ.get(TEST_BACKENDS_ENV, "") not in ("", "0")

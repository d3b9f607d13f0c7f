"""One deadline for a whole native solve, passed from the working-set loop to every routine
that can run long (Gram builds, pricing, restricted solves and their factorizations).

Routines that have an iterate to return check ``expired()`` between iterations and return it
with status ``MaxTime``; routines with nothing to return (a Gram build, a factorization) call
``check()``, which raises ``DeadlineExpired`` for the nearest caller with an iterate to catch.
Work that one BLAS or LAPACK call would do at once is cut into ``pieces`` (only under a
deadline: without one, a single piece) so that the clock is read about every
``PIECE_SECONDS``, the slices sized from the time the previous ones took.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

PIECE_FLOPS = 2e10  # one uninterrupted LAPACK call at most (cholesky.py)
FIRST_PIECE_FLOPS = 2e9  # the first slice of ``Deadline.pieces`` (~0.05-0.2 s on one core)
PIECE_SECONDS = 0.25  # the time ``pieces`` aims at between two readings of the clock
_MAX_GROWTH = 4.0  # a slice is at most this many times the previous one


class DeadlineExpired(Exception):
    """The deadline passed inside a routine with no partial result of its own."""


@dataclass(frozen=True)
class Deadline:
    """An absolute ``time.perf_counter()`` time (infinite: no limit)."""

    at: float = math.inf

    @classmethod
    def after(cls, seconds: float | None, start: float | None = None) -> Deadline:
        """``seconds`` after ``start`` (default now); no limit when ``seconds`` is None."""
        if seconds is None:
            return cls()
        return cls((time.perf_counter() if start is None else start) + float(seconds))

    def sooner(self, seconds: float | None, start: float | None = None) -> Deadline:
        """The earlier of this deadline and ``Deadline.after(seconds, start)``."""
        other = Deadline.after(seconds, start)
        return other if other.at < self.at else self

    @property
    def limited(self) -> bool:
        return self.at < math.inf

    def expired(self) -> bool:
        return self.limited and time.perf_counter() > self.at

    def left(self) -> float | None:
        """Seconds left (negative once expired); None without a limit."""
        return None if not self.limited else self.at - time.perf_counter()

    def check(self) -> None:
        """Raise ``DeadlineExpired`` once the deadline has passed."""
        if self.expired():
            raise DeadlineExpired

    def pieces(self, count: int, flops_each: float) -> Iterator[slice]:
        """``range(count)`` cut into slices, one without a limit.  Under a limit the first
        slice does about ``FIRST_PIECE_FLOPS`` of work (``flops_each``: the work of one
        item) and each next one is resized from the time the last took (the loop body's, so
        the caller's work between two readings of the clock) to about ``PIECE_SECONDS``:
        flop counts alone misjudge it (12000 x 12000 products of inner dimension 100 ran at
        1e10 flops/s, those of dimension 784 at 5e10, on 2 cores)."""
        if not self.limited or count <= 1:
            yield slice(0, count)
            return
        step = max(1, int(FIRST_PIECE_FLOPS // max(flops_each, 1.0)))
        lo = 0
        while lo < count:
            hi = min(lo + step, count)
            began = time.perf_counter()
            yield slice(lo, hi)
            took = time.perf_counter() - began
            grow = _MAX_GROWTH if took <= 0 else min(_MAX_GROWTH, PIECE_SECONDS / took)
            step = max(1, min(int(step * grow), count))
            lo = hi


NEVER = Deadline()

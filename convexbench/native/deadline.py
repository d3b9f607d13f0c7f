"""One deadline for a whole native solve, passed from the working-set loop to every routine
that can run long (Gram builds, pricing, restricted solves and their factorizations).

Routines that have an iterate to return check ``expired()`` between iterations and return it
with status ``MaxTime``; routines with nothing to return (a Gram build, a factorization) call
``check()``, which raises ``DeadlineExpired`` for the nearest caller with an iterate to catch.
Work that one BLAS or LAPACK call would do at once is cut into ``pieces`` (only under a
deadline: without one, a single piece) so that the clock is read every ``PIECE_FLOPS``
floating-point operations or so (about a second on one core at worst).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

PIECE_FLOPS = 2e10  # work between two readings of the clock under a deadline


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

    def pieces(self, count: int, flops_each: float) -> list[slice]:
        """``range(count)`` cut into slices of about ``PIECE_FLOPS`` work each when limited
        (``flops_each``: the work of one item); one slice without a limit."""
        if not self.limited or count <= 1:
            return [slice(0, count)]
        step = max(1, int(PIECE_FLOPS // max(flops_each, 1.0)))
        return [slice(lo, min(lo + step, count)) for lo in range(0, count, step)]


NEVER = Deadline()

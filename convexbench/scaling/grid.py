"""Grid points of a scaling sweep and the synthetic data of each point.

A grid point fixes the model, the number of samples ``n``, the dimension ``d``, the data rank
``r`` (rows of X span a random ``r``-dimensional subspace, so they are in general position in
it) and, for the three-layer model, the width ``m1``.  Data are a function of
``(n, d, rank, seed)`` only, and nested in ``n``: the rows of a smaller ``n`` are the first
rows of a larger one, so a sweep in ``n`` adds samples to the same data set.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from convexbench.errors import UserError
from convexbench.names import MODELS

NOISE = 0.1


@dataclass(frozen=True, order=True)
class GridPoint:
    """One point of the sweep (the axes the harness fits exponents against)."""

    model: str
    n: int
    d: int
    rank: int
    m1: int = 1
    seed: int = 0

    def dominates(self, other: GridPoint) -> bool:
        """True if ``other`` is at least as large as ``self`` on every axis (same model)."""
        return (
            self.model == other.model
            and other.n >= self.n
            and other.d >= self.d
            and other.rank >= self.rank
            and other.m1 >= self.m1
        )


def _positive_ints(name: str, values: Iterable[int]) -> tuple[int, ...]:
    out = tuple(sorted(set(int(v) for v in values)))
    if not out:
        raise UserError(f"--{name} needs at least one value")
    if out[0] < 1:
        raise UserError(f"--{name} values must be positive integers, got {out[0]}")
    return out


def make_grid(
    model: str,
    n: Sequence[int],
    d: Sequence[int],
    rank: Sequence[int],
    m1: Sequence[int] = (1,),
    seed: int = 0,
) -> list[GridPoint]:
    """The Cartesian product of the axes, smallest points first.

    Refuses a rank larger than ``d`` or than ``n`` (the rank would not be the one asked
    for); ``m1`` only matters for ``relu3`` and is fixed to 1 for the two-layer models.
    """
    if model not in MODELS:
        raise UserError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    ns = _positive_ints("n", n)
    ds = _positive_ints("d", d)
    ranks = _positive_ints("rank", rank)
    m1s = _positive_ints("m1", m1) if model == "relu3" else (1,)
    if ranks[-1] > ds[0]:
        raise UserError(f"rank {ranks[-1]} exceeds the dimension d={ds[0]}; need rank <= d")
    if ranks[-1] > ns[0]:
        raise UserError(f"rank {ranks[-1]} exceeds the number of samples n={ns[0]}")
    points = [
        GridPoint(model, nn, dd, rr, mm, seed)
        for rr, dd, mm, nn in itertools.product(ranks, ds, m1s, ns)
    ]
    return sorted(points, key=lambda p: (p.n * p.d * p.m1, p.rank, p.n, p.d, p.m1))


def point_data(point: GridPoint) -> tuple[np.ndarray, np.ndarray]:
    """(X, y) of a grid point: rank-``r`` Gaussian inputs, labels of a planted ReLU teacher.

    Uses :func:`convexbench.data.synthetic.teacher_dataset` (its ``rank`` option draws
    :func:`~convexbench.data.synthetic.lowrank_gaussian` rows; ``rank == d`` is full rank).
    """
    from convexbench.data.synthetic import teacher_dataset

    rank = point.rank if point.rank < point.d else None
    data = teacher_dataset(point.n, point.d, rank=rank, n_test=1, noise=NOISE, seed=point.seed)
    return data.X_train, data.y_train

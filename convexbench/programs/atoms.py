"""Atoms of the three-layer parallel ReLU program (MATH.md §3).

An atom collects one first-layer pattern per neuron (``first``, (m1, n)), the signs of the
second-layer weights (``signs``, (m1,)) and one second-layer pattern (``second``, (n,)).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from convexbench.errors import UserError
from convexbench.patterns import DEFAULT_ENUMERATION_LIMIT, enumerate_patterns, unique_pattern_index


@dataclass(frozen=True)
class Atoms:
    first: np.ndarray  # (G, m1, n) bool
    signs: np.ndarray  # (G, m1) in {-1, +1}
    second: np.ndarray  # (G, n) bool

    def __len__(self) -> int:
        return int(self.signs.shape[0])

    @property
    def m1(self) -> int:
        return int(self.signs.shape[1])

    def keys(self) -> np.ndarray:
        """One boolean row per atom (for de-duplication)."""
        G = len(self)
        return np.concatenate([self.first.reshape(G, -1), self.signs > 0, self.second], axis=1)

    def take(self, index: np.ndarray) -> Atoms:
        return Atoms(self.first[index], self.signs[index], self.second[index])


def canonical_order(first: np.ndarray, signs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort the neurons of each atom (their order inside a sub-network does not matter)."""
    G, m1, n = first.shape
    keys = np.concatenate([signs[:, :, None] > 0, first], axis=2)  # (G, m1, n+1)
    packed = np.packbits(keys, axis=2)
    order = np.lexsort(packed.transpose(2, 0, 1)[::-1], axis=-1) if m1 > 1 else None
    if order is None:
        return first, signs
    return (
        np.take_along_axis(first, order[:, :, None], axis=1),
        np.take_along_axis(signs, order, axis=1),
    )


def sample_atoms(X: np.ndarray, n_samples: int, m1: int, seed: int = 0) -> Atoms:
    """Distinct atoms read off ``n_samples`` random sub-networks (W1 ~ N, w2 ~ N)."""
    if n_samples < 1 or m1 < 1:
        raise UserError("the number of atoms and m1 must be at least 1")
    rng = np.random.default_rng(seed)
    n, d = X.shape
    W1 = rng.standard_normal((n_samples, d, m1))
    w2 = rng.standard_normal((n_samples, m1))
    pre = np.einsum("nd,gdm->gmn", X, W1)  # (G, m1, n)
    first = pre >= 0
    h = np.einsum("gmn,gm->gn", np.maximum(pre, 0), w2)
    signs = np.where(w2 >= 0, 1.0, -1.0)
    first, signs = canonical_order(first, signs)
    atoms = Atoms(first, signs, h >= 0)
    atoms = atoms.take(unique_pattern_index(atoms.keys()))
    useful = (atoms.first & atoms.second[:, None, :]).any(axis=(1, 2))
    return atoms.take(np.flatnonzero(useful))


def enumerate_atoms(X: np.ndarray, m1: int, limit: int = 20_000) -> Atoms:
    """Every atom that a sub-network of width m1 can realize (tiny data only).

    First-layer patterns: all cells of the arrangement (exact).  For each multiset of m1
    (pattern, sign) pairs, a row where every active neuron has the same sign has its
    second-layer output sign fixed, so only rows with active neurons of both signs branch;
    choosing the fixed rows this way loses nothing (the other choice has a smaller cone and
    the same predictions).  Refuses beyond ``limit`` atoms.
    """
    cells = enumerate_patterns(X, limit=DEFAULT_ENUMERATION_LIMIT).patterns
    cells = cells[cells.any(axis=1)]
    pairs = [(c, s) for c in range(len(cells)) for s in (1.0, -1.0)]
    firsts, signs, seconds = [], [], []
    count = 0
    for combo in itertools.combinations_with_replacement(range(len(pairs)), m1):
        first = cells[[pairs[i][0] for i in combo]]  # (m1, n)
        sign = np.array([pairs[i][1] for i in combo])
        pos = (first & (sign[:, None] > 0)).any(axis=0)
        neg = (first & (sign[:, None] < 0)).any(axis=0)
        mixed = np.flatnonzero(pos & neg)
        base = ~neg  # rows fixed: positive-only or inactive -> 1, negative-only -> 0
        count += 2 ** len(mixed)
        if count > limit:
            raise UserError(f"exact atom enumeration exceeds the limit of {limit} atoms")
        for bits in itertools.product((False, True), repeat=len(mixed)):
            second = base.copy()
            second[mixed] = bits
            firsts.append(first)
            signs.append(sign)
            seconds.append(second)
    first_all, signs_all = canonical_order(np.array(firsts), np.array(signs))
    atoms = Atoms(first_all, signs_all, np.array(seconds))
    atoms = atoms.take(unique_pattern_index(atoms.keys()))
    useful = (atoms.first & atoms.second[:, None, :]).any(axis=(1, 2))
    return atoms.take(np.flatnonzero(useful))

"""Column generation: search for sign patterns (or atoms) that the dual check says are missing.

A program over a subset of patterns is optimal over *all* patterns exactly when no pattern
violates the dual constraint (MATH.md §2): for the dual direction ``lam`` at the solution,
max_{||u|| <= 1, u in the cone of D} |lam^T D X u| <= beta for every pattern D.  Enumerating
every pattern is hopeless beyond tiny data, but a local search over directions u finds the
patterns with the largest price; adding the violators and re-solving lowers the objective,
which stays an upper bound attained by a real network.  This is the cutting-plane idea of
Pilanci & Ergen's convex-duality work, with the exact cone prices of ``cones.py``.
"""

from __future__ import annotations

import numpy as np

from convexbench.patterns import unique_pattern_index
from convexbench.programs.cones import cone_support


def search_patterns(
    X: np.ndarray, lam: np.ndarray, n_starts: int = 256, iterations: int = 40, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Patterns 1[X u >= 0] met by gradient ascent of +-lam^T (X u)_+ on the unit sphere.

    From random starts, u takes normalized tangent steps of decreasing length along
    X^T D(u) (+-lam), crossing cell boundaries as it climbs.  Every pattern visited is
    returned once, with a direction that realizes it: ((k, n) bool, (k, d)).
    """
    rng = np.random.default_rng(seed)
    n, d = X.shape
    patterns, directions = [], []
    for sign in (1.0, -1.0):
        U = rng.standard_normal((d, n_starts))
        U /= np.linalg.norm(U, axis=0)
        for step in range(iterations):
            D = X @ U >= 0
            patterns.append(D.T)
            directions.append(U.T.copy())
            G = X.T @ (D * (sign * lam)[:, None])
            G -= U * np.sum(U * G, axis=0)  # tangent to the sphere
            U = U + (0.3 / (1 + 0.1 * step)) * G / np.maximum(np.linalg.norm(G, axis=0), 1e-300)
            U /= np.linalg.norm(U, axis=0)
    found = np.concatenate(patterns)
    keep = unique_pattern_index(found, drop_zero=True)
    return found[keep], np.concatenate(directions)[keep]


def violating_patterns(
    X: np.ndarray,
    lam: np.ndarray,
    beta: float,
    known: np.ndarray,
    max_new: int = 50,
    cone: bool = True,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Up to ``max_new`` patterns not in ``known`` whose price exceeds ``beta``: the
    candidates in decreasing order of their cone-free bound ||X^T D lam||, each kept when its
    price exceeds beta.

    Gated (``cone=False``): that bound is the price.  ReLU: the price is the cone-constrained
    one, but the unit direction u that realized a pattern in :func:`search_patterns` lies in
    its cone, so |lam^T D X u| bounds it from below and a pattern whose bound exceeds beta
    is a violator with no projection; only the others are priced exactly (two NNLS
    projections).  The patterns chosen are those exact pricing of every candidate would
    choose.  Returns the patterns, directions realizing them and their prices (for a
    pattern decided by its bound: that bound, a lower bound on the price).
    """
    candidates, directions = search_patterns(X, lam, seed=seed)
    known_keys = {row.tobytes() for row in np.asarray(known, dtype=bool)}
    fresh = np.array([row.tobytes() not in known_keys for row in candidates], dtype=bool)
    candidates, directions = candidates[fresh], directions[fresh]
    if len(candidates) == 0:
        return candidates, directions, np.zeros(0)
    G = candidates.astype(float) * lam[None, :] @ X  # (k, d): X^T D lam
    cheap = np.linalg.norm(G, axis=1)
    lower = np.abs(np.sum(G * directions, axis=1)) / np.linalg.norm(directions, axis=1)
    threshold = beta * (1 + 1e-6)
    chosen, prices = [], []
    for i in np.argsort(-cheap):
        if cheap[i] <= beta or len(chosen) >= max_new:
            break
        if not cone:
            price = cheap[i]
        elif lower[i] > threshold:
            price = lower[i]
        else:
            rows = (2.0 * candidates[i] - 1.0)[:, None] * X
            price = max(cone_support(G[i], rows), cone_support(-G[i], rows))
        if price > threshold:
            chosen.append(i)
            prices.append(price)
    chosen_index = np.asarray(chosen, dtype=np.int64)
    return candidates[chosen_index], directions[chosen_index], np.asarray(prices, dtype=float)


def search_atoms(
    X: np.ndarray,
    lam: np.ndarray,
    m1: int,
    n_starts: int = 128,
    iterations: int = 40,
    seed: int = 0,
):
    """Atoms met by gradient ascent of +-lam^T (sum_j (X u_j)_+ w2_j)_+ over unit-norm W1, w2.

    A unit sub-network's output is a feasible point of its atom's pricing problem, so the
    value reached is a certified lower bound on that atom's price.  Returns the distinct
    useful atoms met and, for each, the best value seen.
    """
    from convexbench.programs.atoms import Atoms, canonical_order

    rng = np.random.default_rng(seed)
    n, d = X.shape
    firsts, signs, seconds, values = [], [], [], []
    for sign in (1.0, -1.0):
        W1 = rng.standard_normal((n_starts, d, m1))
        w2 = rng.standard_normal((n_starts, m1))
        for step in range(iterations):
            W1 /= np.linalg.norm(W1, axis=(1, 2), keepdims=True)
            w2 /= np.linalg.norm(w2, axis=1, keepdims=True)
            pre = np.einsum("nd,sdm->smn", X, W1)  # (S, m1, n)
            act = pre >= 0
            h = np.einsum("smn,sm->sn", np.maximum(pre, 0), w2)
            firsts.append(act)
            signs.append(np.where(w2 >= 0, 1.0, -1.0))
            seconds.append(h >= 0)
            values.append(sign * (np.maximum(h, 0) @ lam))
            g_h = sign * lam[None, :] * (h >= 0)  # (S, n)
            g_w2 = np.einsum("smn,sn->sm", np.maximum(pre, 0), g_h)
            g_W1 = np.einsum("nd,smn->sdm", X, act * g_h[:, None, :] * w2[:, :, None])
            rate = 0.3 / (1 + 0.1 * step)
            W1 = W1 + rate * g_W1 / np.maximum(
                np.linalg.norm(g_W1, axis=(1, 2), keepdims=True), 1e-300
            )
            w2 = w2 + rate * g_w2 / np.maximum(np.linalg.norm(g_w2, axis=1, keepdims=True), 1e-300)
    first, sgn = canonical_order(np.concatenate(firsts), np.concatenate(signs))
    atoms = Atoms(first, sgn, np.concatenate(seconds))
    value = np.concatenate(values)
    order = np.argsort(-value, kind="stable")  # first appearance = best value
    atoms, value = atoms.take(order), value[order]
    keep = unique_pattern_index(atoms.keys())
    atoms, value = atoms.take(keep), value[keep]
    useful = (atoms.first & atoms.second[:, None, :]).any(axis=(1, 2))
    return atoms.take(np.flatnonzero(useful)), value[useful]


def violating_atoms(program, lam: np.ndarray, max_new: int = 50, seed: int = 0):
    """Up to ``max_new`` atoms not in ``program`` whose price provably exceeds beta.

    The price of each candidate is bounded below by the value its unit sub-network reached in
    :func:`search_atoms`, so every atom returned violates the dual constraint; no SOCP needed.
    """
    candidates, value = search_atoms(program.X, lam, program.m1, seed=seed)
    known = {row.tobytes() for row in program.atoms.keys()}
    fresh = np.array([row.tobytes() not in known for row in candidates.keys()], dtype=bool)
    fresh &= value > program.beta * (1 + 1e-6)
    index = np.flatnonzero(fresh)
    index = index[np.argsort(-value[index], kind="stable")][:max_new]
    return candidates.take(index)


def extend_program(program, solution, lam: np.ndarray, max_new: int, seed: int = 0):
    """A new program over the active groups of ``solution`` plus up to ``max_new`` violators.

    Dropping inactive groups leaves the optimum unchanged and adding groups can only lower
    it, so the objective never increases along column generation.  Returns the program and
    the number of groups added (0: no violator found; the program is returned unchanged).
    """
    from convexbench.programs.atoms import Atoms
    from convexbench.programs.gated2 import GatedRelu2Program
    from convexbench.programs.relu2 import Relu2Program
    from convexbench.programs.relu3 import Relu3Program

    if program.model == "relu3":
        norms = program.atom_norms(solution).reshape(2, -1).sum(axis=0)
    else:
        norms = program.group_norms(solution).reshape(-1, program.n_groups).sum(axis=0)
    active = norms > 1e-6 * max(float(norms.max(initial=0.0)), 1e-300)
    if program.model == "relu3":
        new = violating_atoms(program, lam, max_new=max_new, seed=seed)
        if len(new) == 0:
            return program, 0
        keep = program.atoms.take(np.flatnonzero(active))
        atoms = Atoms(
            np.concatenate([keep.first, new.first]),
            np.concatenate([keep.signs, new.signs]),
            np.concatenate([keep.second, new.second]),
        )
        extended = Relu3Program(
            program.X, program.y, atoms, program.beta, program.loss, form=program.form
        )
        return extended, len(new)
    gated = program.model == "gated2"
    new, directions, _ = violating_patterns(
        program.X, lam, program.beta, program.patterns, max_new=max_new, cone=not gated, seed=seed
    )
    if len(new) == 0:
        return program, 0
    patterns = np.concatenate([program.patterns[active], new])
    known = (None if program.directions is None
             else np.concatenate([program.directions[active], directions]))
    if gated:
        extended = GatedRelu2Program(
            program.X, program.y, patterns, program.beta, program.loss, gates=known
        )
    else:
        extended = Relu2Program(program.X, program.y, patterns, program.beta, program.loss,
                                directions=known)
    return extended, len(new)

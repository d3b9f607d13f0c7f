"""The convex programs (two-layer ReLU, gated ReLU, three-layer parallel ReLU)."""

from __future__ import annotations

import numpy as np

from convexbench.arrays import check_data
from convexbench.errors import UserError
from convexbench.names import MODELS, TWO_LAYER_MODELS
from convexbench.networks import GatedNetwork
from convexbench.patterns import DEFAULT_ENUMERATION_LIMIT, enumerate_patterns, sample_patterns
from convexbench.programs.atoms import Atoms, enumerate_atoms, sample_atoms
from convexbench.programs.base import ConvexProgram, CvxpyModel, Solution
from convexbench.programs.gated2 import GatedRelu2Program
from convexbench.programs.relu2 import Relu2Program
from convexbench.programs.relu3 import Relu3Program

__all__ = [
    "MODELS",
    "Atoms",
    "ConvexProgram",
    "CvxpyModel",
    "GatedNetwork",
    "GatedRelu2Program",
    "Relu2Program",
    "Relu3Program",
    "Solution",
    "make_program",
]


def make_program(
    model: str,
    X: np.ndarray,
    y: np.ndarray,
    beta: float,
    loss: str = "squared",
    patterns: str | int = 100,
    m1: int = 2,
    form: str = "A",
    seed: int = 0,
    limit: int = DEFAULT_ENUMERATION_LIMIT,
) -> ConvexProgram:
    """Build a program from data: ``patterns`` is ``"all"`` (exact enumeration) or the number
    of random directions (sub-networks for relu3) to sample with ``seed``."""
    X, y = check_data(X, y)
    exact = patterns == "all"
    if not exact:
        try:
            patterns = int(patterns)
        except (TypeError, ValueError):
            raise UserError(
                f"--patterns must be 'all' or a positive integer, got {patterns!r}"
            ) from None
        if patterns < 1:
            raise UserError("--patterns must be at least 1")
    if model in TWO_LAYER_MODELS:
        if exact:
            arrangement = enumerate_patterns(X, limit=limit, drop_zero=True)
            masks, directions = arrangement.patterns, arrangement.directions
        else:
            masks, directions = sample_patterns(X, patterns, seed=seed, return_directions=True)
        if model == "relu2":
            program = Relu2Program(X, y, masks, beta, loss, directions=directions)
        else:
            program = GatedRelu2Program(X, y, masks, beta, loss, gates=directions)
    elif model == "relu3":
        if m1 < 1:
            raise UserError("--m1 must be at least 1")
        atoms = (
            enumerate_atoms(X, m1, limit=limit) if exact else sample_atoms(X, patterns, m1, seed)
        )
        program = Relu3Program(X, y, atoms, beta, loss, form=form)
    else:
        raise UserError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    program.exact_groups = exact
    return program

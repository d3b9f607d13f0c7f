"""What a non-convex training run returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from convexbench.networks import GatedNetwork, ThreeLayerNetwork, TwoLayerNetwork

Network = TwoLayerNetwork | ThreeLayerNetwork | GatedNetwork


@dataclass(frozen=True)
class TrainResult:
    """One run of SGD or Adam on the non-convex objective of MATH.md §2 (also the gated
    network with fixed gates) or §3.

    ``objective`` is the full objective of ``network`` (recomputed with ``network.objective``;
    for form A the network is feasible, ``||W1[k]||_F <= 1``).  The traces hold the full-batch
    objective at logged iterations with the wall time (seconds) since the run started.
    ``equivalent`` is False for form C (plain weight decay is not equivalent to the convex
    program).  ``diverged`` is True when non-finite values (or an objective that exploded by
    more than ``params["diverge_factor"]`` times its initial value) stopped the run; the network
    is then the last iterate whose parameters and objective were finite.
    """

    network: Network
    objective: float
    trace_iterations: np.ndarray
    trace_seconds: np.ndarray
    trace_objective: np.ndarray
    optimizer: str
    seed: int
    params: dict[str, Any] = field(default_factory=dict)
    equivalent: bool = True
    diverged: bool = False
    best_objective: float = float("nan")

    @property
    def iterations_run(self) -> int:
        """Number of parameter updates performed (the last logged iteration)."""
        return int(self.trace_iterations[-1]) if self.trace_iterations.size else 0

    @property
    def seconds(self) -> float:
        """Wall time of the run (the last logged time)."""
        return float(self.trace_seconds[-1]) if self.trace_seconds.size else 0.0

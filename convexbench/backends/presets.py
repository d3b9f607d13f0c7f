"""Accuracy presets and how they map onto each solver's own options."""

from __future__ import annotations

from dataclasses import dataclass

from convexbench.errors import UserError


@dataclass(frozen=True)
class Preset:
    """``tol`` is what the independent certificate must meet (relative gap and violation);
    solvers are asked for ``solver_tol``, 1000x tighter (capped at 1e-10), because a solver's
    own stopping test is not our certificate and stopping exactly at ``tol`` fails it."""

    name: str
    tol: float
    max_iter: int

    @property
    def solver_tol(self) -> float:
        return max(self.tol * 1e-3, 1e-10)


PRESETS = {
    "low": Preset("low", 1e-4, 2_000),
    "medium": Preset("medium", 1e-6, 10_000),
    "high": Preset("high", 1e-8, 50_000),
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise UserError(
            f"unknown accuracy preset {name!r}; choose one of {', '.join(PRESETS)}"
        ) from None

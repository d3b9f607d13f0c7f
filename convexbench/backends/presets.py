"""Accuracy presets and how they map onto each solver's own options."""

from __future__ import annotations

from dataclasses import dataclass

from convexbench.errors import UserError


@dataclass(frozen=True)
class Preset:
    name: str
    tol: float  # relative gap and violation that the certificate must meet
    max_iter: int


PRESETS = {
    "low": Preset("low", 1e-4, 2_000),
    "medium": Preset("medium", 1e-6, 10_000),
    "high": Preset("high", 1e-8, 50_000),
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise UserError(f"unknown accuracy preset {name!r}; choose one of {', '.join(PRESETS)}") from None

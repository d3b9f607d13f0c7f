"""Accuracy presets: the tolerance the independent certificate must meet.

Each backend maps a preset onto its own option names (see ``convexbench/backends/README.md``
and ``convexbench backends --json``).  Solvers are asked for ``SOLVER_SAFETY`` times the
preset's tolerance: the certificate builds its dual point from the primal residual, so its
gap shrinks more slowly than the solver's own gap (roughly like a square root), and a solver
run at exactly the preset's tolerance would often fail the check it was asked to pass.
"""

from __future__ import annotations

from dataclasses import dataclass

from convexbench.errors import UserError

SOLVER_SAFETY = 1e-2  # solver tolerance = SOLVER_SAFETY * preset tolerance (unless a floor)


@dataclass(frozen=True)
class Preset:
    """An accuracy level: ``tol`` is the certificate's relative gap and violation bound."""

    name: str
    tol: float
    max_iter: int

    @property
    def solver_tol(self) -> float:
        """The tolerance handed to the solvers (tighter than ``tol``)."""
        return float(f"{self.tol * SOLVER_SAFETY:.6g}")


PRESETS = {
    "low": Preset("low", 1e-4, 2_000),
    "medium": Preset("medium", 1e-6, 10_000),
    "high": Preset("high", 1e-8, 50_000),
}


def get_preset(name: str | Preset) -> Preset:
    """The preset called ``name`` (a :class:`UserError` for an unknown name)."""
    if isinstance(name, Preset):
        return name
    try:
        return PRESETS[name]
    except KeyError:
        raise UserError(
            f"unknown accuracy preset {name!r}; choose one of {', '.join(PRESETS)}"
        ) from None

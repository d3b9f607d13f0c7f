"""Orchestration: the recipes that drive experiments, scaling sweeps and reports together.

It sits above ``experiments/``, ``scaling/``, ``analysis/`` and ``report/`` (none of which
imports it); the command line calls it.
"""

from convexbench.orchestration.reproduce import (
    RECIPES,
    Reproduction,
    add_scaling_section,
    reproduce,
)

__all__ = ["RECIPES", "Reproduction", "add_scaling_section", "reproduce"]

"""Statistics over benchmark results, the verdicts on the claims (``claims``) and the figure
helpers (``plots``: ``save_figure``, performance profiles)."""

from convexbench.analysis.stats import (
    charge_failures,
    performance_profile,
    performance_ratios,
    shifted_geometric_mean,
)

__all__ = ["charge_failures", "performance_profile", "performance_ratios",
           "shifted_geometric_mean"]

"""Statistics, tables and figures over benchmark results."""

from convexbench.analysis.stats import (
    charge_failures,
    performance_profile,
    performance_ratios,
    shifted_geometric_mean,
)

__all__ = ["charge_failures", "performance_profile", "performance_ratios",
           "shifted_geometric_mean"]

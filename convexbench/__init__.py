"""convexbench: a reproducibility benchmark suite for convex training of ReLU networks."""

__version__ = "0.1.0"

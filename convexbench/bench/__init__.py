"""Benchmarks run over the shared measurement path (``convexbench.backends.run``).

``python -m convexbench.bench native [--quick | --mid] ...``: the native solver against the
conic backends and scnn, as instance specs plus a time-to-accuracy table
(:mod:`convexbench.bench.native`).
"""

from convexbench.bench.native import main

__all__ = ["main"]

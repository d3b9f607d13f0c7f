"""convexbench: a reproducibility benchmark suite for convex training of ReLU networks.

The public API, imported lazily (``import convexbench`` stays cheap):

* ``load_dataset`` (convexbench.data) -- datasets by name;
* ``sample_patterns``, ``enumerate_patterns``, ``cover_count`` (convexbench.patterns);
* ``make_program`` (convexbench.programs) -- relu2, gated2, relu3 programs;
* ``solve`` (convexbench.backends) -- any backend, certified independently;
* ``certify`` (convexbench.certificates);
* ``train_convex`` (convexbench.training) -- data to certified network in one call.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "load_dataset": "convexbench.data",
    "sample_patterns": "convexbench.patterns",
    "enumerate_patterns": "convexbench.patterns",
    "cover_count": "convexbench.patterns",
    "make_program": "convexbench.programs",
    "solve": "convexbench.backends",
    "certify": "convexbench.certificates",
    "train_convex": "convexbench.training",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'convexbench' has no attribute {name!r}")

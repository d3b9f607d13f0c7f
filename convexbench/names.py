"""The names every layer shares: models, losses, accuracy presets and solve statuses.

Plain tuples of strings, importable without cvxpy (the command line builds its parsers from
them).  The objects behind the names live elsewhere: the programs in ``programs/``, the loss
functions in ``losses.py``, the preset tolerances in ``backends/presets.py``.
"""

from __future__ import annotations

TWO_LAYER_MODELS = ("relu2", "gated2")  # two-layer ReLU and its gated relaxation
MODELS = (*TWO_LAYER_MODELS, "relu3")  # relu3: three-layer parallel ReLU

LOSSES = ("squared", "hinge", "logistic")  # hinge and logistic need +-1 labels

PRESET_NAMES = ("low", "medium", "high")  # keys of backends.presets.PRESETS
DEFAULT_PRESET = "medium"

STATUSES = (
    "optimal",
    "optimal_inaccurate",
    "infeasible",
    "unbounded",
    "time_limit",
    "memory_limit",
    "crashed",
    "unavailable",
    "error",
)
FINISHED_STATUSES = ("optimal", "optimal_inaccurate")  # the solver ended with an answer

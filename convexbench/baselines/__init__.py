"""Non-convex baselines: SGD (momentum) and Adam on the exact objectives of MATH.md §2-3.

Numpy only, hand-written gradients; see :func:`train_two_layer`, :func:`train_three_layer`
and :func:`train_gated` (the gated ReLU network with a gated2 program's fixed gates).
"""

from convexbench.baselines.gated import gated_gradient, train_gated
from convexbench.baselines.optimizers import SGD, Adam, Optimizer, default_lr, make_optimizer
from convexbench.baselines.records import Network, TrainResult
from convexbench.baselines.three_layer import (
    init_three_layer,
    project_form_a,
    three_layer_gradient,
    train_three_layer,
)
from convexbench.baselines.two_layer import init_two_layer, train_two_layer, two_layer_gradient

__all__ = [
    "SGD",
    "Adam",
    "Network",
    "Optimizer",
    "TrainResult",
    "default_lr",
    "gated_gradient",
    "init_three_layer",
    "init_two_layer",
    "make_optimizer",
    "project_form_a",
    "three_layer_gradient",
    "train_gated",
    "train_three_layer",
    "train_two_layer",
    "two_layer_gradient",
]

"""Arguments and helpers shared by several subcommands."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

import numpy as np


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument(
        "--data",
        metavar="FILE.npz",
        help="arrays X (n x d) and y (n), optionally X_test and y_test",
    )
    group.add_argument(
        "--dataset",
        metavar="NAME",
        help="a registered dataset, e.g. uci:blood, fashion-mnist:0v9,n=100, "
        "synthetic:teacher2,n=200,d=10 (see `convexbench datasets list`)",
    )


def load_data_from_args(args: argparse.Namespace):
    """(X, y, X_test, y_test, name) from ``--data`` or ``--dataset``."""
    if args.data:
        from convexbench.io import load_npz

        X, y, X_test, y_test = load_npz(args.data)
        return X, y, X_test, y_test, args.data
    from convexbench.data import load_dataset

    ds = load_dataset(args.dataset, seed=args.seed)
    return ds.X_train, ds.y_train, ds.X_test, ds.y_test, ds.name


def betas_from_fractions(fractions: list[float], X: np.ndarray, y: np.ndarray
                         ) -> tuple[list[float], float]:
    """``--beta-frac``: (beta = F lambda_max for each fraction F, lambda_max = ||X^T y||_inf
    of the data); a one-line :class:`UserError` for a fraction that is not positive or data
    with lambda_max = 0."""
    from convexbench.arrays import lambda_max
    from convexbench.errors import UserError

    if any(not (math.isfinite(f) and f > 0) for f in fractions):
        raise UserError("--beta-frac must be positive")
    scale = lambda_max(X, y)
    if not scale > 0:
        raise UserError("--beta-frac needs lambda_max = ||X^T y||_inf > 0; use --beta")
    return [f * scale for f in fractions], scale


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.floating, float)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return _clean(value.tolist())
    return value


def print_json(record: Any) -> None:
    json.dump(_clean(record), sys.stdout, indent=2)
    sys.stdout.write("\n")

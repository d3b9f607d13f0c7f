"""One home per fact: the shared names agree with the objects behind them, and the command
line offers exactly those names."""

from __future__ import annotations

import subprocess
import sys

from convexbench import names
from convexbench.backends import PRESETS, STATUSES
from convexbench.cli import build_parser
from convexbench.losses import LOSS_FUNCTIONS
from convexbench.programs import MODELS, make_program


def test_names_match_their_objects() -> None:
    assert tuple(LOSS_FUNCTIONS) == names.LOSSES
    assert all(LOSS_FUNCTIONS[n].name == n for n in names.LOSSES)
    assert tuple(PRESETS) == names.PRESET_NAMES and names.DEFAULT_PRESET in PRESETS
    assert MODELS is names.MODELS and set(names.TWO_LAYER_MODELS) < set(names.MODELS)
    assert tuple(STATUSES) == names.STATUSES
    assert set(names.FINISHED_STATUSES) < set(names.STATUSES)


def test_every_model_name_builds_its_program() -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((20, 3)), rng.standard_normal(20)
    for model in names.MODELS:
        assert make_program(model, X, y, 0.1, patterns=10).model == model


def test_cli_choices_are_the_names() -> None:
    choices = build_parser()._subparsers._group_actions[0].choices  # noqa: SLF001
    for command in ("solve", "compare"):
        options = {a.dest: a.choices for a in choices[command]._actions}  # noqa: SLF001
        assert tuple(options["model"]) == names.MODELS
        assert tuple(options["loss"]) == names.LOSSES
        assert tuple(options["accuracy"]) == names.PRESET_NAMES


def test_names_import_nothing_heavy() -> None:
    code = "import sys, convexbench.names, convexbench.arrays; print('cvxpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"

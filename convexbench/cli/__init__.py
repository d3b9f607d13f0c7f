"""The ``convexbench`` command line.

Each subcommand lives in its own module ``convexbench.cli.<name>`` that defines
``register(subparsers)``; it adds its parser and sets ``func`` (called with the parsed args,
returning an exit code).  The CLI only parses arguments; the logic lives in the Python API.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from convexbench.errors import UserError

SUBCOMMANDS = (
    "solve",
    "patterns",
    "backends",
    "compare",
    "datasets",
    "run",
    "report",
    "reproduce",
    "scaling",
)


def build_parser() -> argparse.ArgumentParser:
    from convexbench import __version__

    parser = argparse.ArgumentParser(
        prog="convexbench",
        description=(
            "Convex training of ReLU networks, reproduced and verified: solve the convex "
            "programs of Pilanci & Ergen (2020) and Ergen & Pilanci (2021), compare solvers, "
            "measure complexity and regenerate the paper-style figures and tables."
        ),
    )
    parser.add_argument("--version", action="version", version=f"convexbench {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"convexbench.cli.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"convexbench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("convexbench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1

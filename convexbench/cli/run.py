"""``convexbench run``: run the cells of an experiment spec into a results directory."""

from __future__ import annotations

import argparse
import sys


def add_executor_arguments(parser: argparse.ArgumentParser) -> None:
    """``--jobs``, ``--executor`` and ``--scheduler`` (shared with ``reproduce``)."""
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="worker processes for the local executor (default: 1 for run, 2 for "
                             "reproduce), or "
                             "workers of the local Dask cluster when --executor dask has "
                             "no --scheduler")
    parser.add_argument("--executor", choices=("local", "dask"), default="local",
                        help="local: this machine (default); dask: a dask.distributed "
                             "cluster")
    parser.add_argument("--scheduler", metavar="ADDRESS", default=None,
                        help="Dask scheduler address, e.g. tcp://10.0.0.1:8786 (with "
                             "--executor dask; default: start a local cluster)")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run an experiment spec (resumable) into a results directory",
        description=(
            "Expand SPEC into cells (dataset x model x beta x backend-or-baseline x seed x "
            "repetition) and run every cell not yet stored in the results directory. Each "
            "finished cell is written at once (SQLite), so Ctrl-C or a crash loses no "
            "finished cell and running the same command again completes the rest, each "
            "cell exactly once. Exit 0 when every cell is stored, 1 if some failed, 130 "
            "when interrupted."
        ),
    )
    parser.add_argument("spec", metavar="SPEC",
                        help="a spec file (TOML) or the name of a packaged spec "
                             "(quick, full; see convexbench/experiments/specs)")
    parser.add_argument("--out", default="results", metavar="RESULTS_DIR",
                        help="results directory (default ./results)")
    add_executor_arguments(parser)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--resume", dest="resume", action="store_true", default=True,
                       help="skip cells already stored (default)")
    group.add_argument("--fresh", dest="resume", action="store_false",
                       help="delete stored results first and run every cell")
    parser.add_argument("--retry-errors", action="store_true",
                        help="run again the cells stored as failed")
    parser.add_argument("--experiment", action="append", metavar="NAME", default=None,
                        help="run only this experiment of the spec (repeatable)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from convexbench.experiments import run_spec

    summary = run_spec(args.spec, args.out, jobs=args.jobs, executor=args.executor,
                       scheduler=args.scheduler, resume=args.resume,
                       progress=not args.no_progress, retry_errors=args.retry_errors,
                       only=args.experiment)
    state = "interrupted" if summary.interrupted else "done"
    print(f"{state}: {summary.n_run} cells run ({summary.n_errors} failed), "
          f"{summary.n_skipped} already stored, {summary.n_cells} in the spec; "
          f"{summary.seconds:.1f} s; results in {summary.results_dir}", file=sys.stderr)
    if summary.interrupted:
        print("run the same command again to complete the remaining cells", file=sys.stderr)
        return 130
    return 1 if summary.n_errors else 0

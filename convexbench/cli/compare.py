"""``convexbench compare``: run several backends on the same program(s) and tabulate."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from convexbench.cli.common import betas_from_fractions
from convexbench.errors import UserError
from convexbench.names import DEFAULT_PRESET, LOSSES, MODELS, PRESET_NAMES

SHOWN = ["problem", "backend", "status", "verified", "status_agrees", "objective",
         "rel_diff_best", "compile_s", "solve_s", "wall_s", "peak_memory_mb", "sgm_ratio"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare", help="compare solver backends on the same convex program(s)",
        description="Solve the same program(s) with several backends, verify every answer "
                    "independently and write a Markdown/CSV table (plus a performance "
                    "profile when several problems are compared).")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", metavar="FILE.npz", help="arrays X (n x d) and y (n)")
    source.add_argument("--dataset", action="append", metavar="NAME",
                        help="a registered dataset (repeat for several problems)")
    parser.add_argument("--model", choices=MODELS, default="relu2", help="default relu2")
    betas = parser.add_mutually_exclusive_group(required=True)
    betas.add_argument("--beta", type=float, action="append",
                       help="regularization weight (repeat for several problems)")
    betas.add_argument("--beta-frac", type=float, action="append", metavar="F",
                       help="like --beta, as a fraction of lambda_max = ||X^T y||_inf of "
                            "each data source (beta = F * lambda_max; repeat for several "
                            "problems), e.g. --beta-frac 0.1 --beta-frac 0.001")
    parser.add_argument("--loss", choices=LOSSES, default="squared")
    parser.add_argument("--patterns", default="100",
                        help="number of sampled patterns/atoms, or 'all' (default 100)")
    parser.add_argument("--m1", type=int, default=2, help="relu3 first-layer width")
    parser.add_argument("--form", default="A", help="relu3 form (default A)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-samples", type=int, default=None, metavar="N",
                        help="use only the first N training samples")
    parser.add_argument("--backends", default="all",
                        help="'all' or a comma-separated list (default all)")
    parser.add_argument("--accuracy", choices=PRESET_NAMES, default=DEFAULT_PRESET)
    parser.add_argument("--repeat", type=int, default=1, help="cold repetitions (default 1)")
    parser.add_argument("--time-limit", type=float, default=300.0, metavar="S",
                        help="seconds per run; failures are charged at it (default 300)")
    parser.add_argument("--memory-limit", type=float, default=None, metavar="MB",
                        help="cap on the memory a run may add (isolated runs)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--shift", type=float, default=10.0,
                        help="shift of the geometric mean in seconds (default 10)")
    parser.add_argument("--time-metric", default="wall",
                        choices=("wall", "solve", "compile+solve", "elapsed"))
    parser.add_argument("--no-isolate", action="store_true",
                        help="run in this process (no hard time or memory limit)")
    parser.add_argument("--out", default="convexbench-compare", metavar="DIR",
                        help="output directory (default ./convexbench-compare)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.set_defaults(func=run)


def _load_sources(args: argparse.Namespace) -> list[tuple[str, np.ndarray, np.ndarray]]:
    if args.data:
        from convexbench.io import load_npz

        X, y, _, _ = load_npz(args.data)
        return [(Path(args.data).stem, X, y)]
    from convexbench.data import load_dataset

    sources = []
    for name in args.dataset:
        dataset = load_dataset(name, seed=args.seed)
        sources.append((name, dataset.X_train, dataset.y_train))
    return sources


def build_problems(args: argparse.Namespace) -> dict:
    """The named programs: one per data source and beta."""
    from convexbench.programs import make_program

    if args.max_samples is not None and args.max_samples < 1:
        raise UserError("--max-samples must be positive")
    problems = {}
    sources = _load_sources(args)
    for source, X, y in sources:
        if args.max_samples is not None:
            X, y = X[: args.max_samples], y[: args.max_samples]
        labelled = _betas(args, X, y)
        for beta, label in labelled:
            name = source if len(labelled) == 1 else f"{source} {label}"
            if len(sources) == 1 and len(labelled) > 1:
                name = label
            problems[name] = make_program(args.model, X, y, beta, loss=args.loss,
                                          patterns=args.patterns, m1=args.m1, form=args.form,
                                          seed=args.seed)
    return problems


def _betas(args: argparse.Namespace, X: np.ndarray, y: np.ndarray) -> list[tuple[float, str]]:
    """(beta, label) per problem on the data (X, y): ``--beta`` as given, or ``--beta-frac``
    times lambda_max = ||X^T y||_inf of these data."""
    if args.beta:
        return [(beta, f"beta={beta:g}") for beta in args.beta]
    betas, _ = betas_from_fractions(args.beta_frac, X, y)
    return [(beta, f"beta={frac:g} lambda_max")
            for beta, frac in zip(betas, args.beta_frac, strict=True)]


def run(args: argparse.Namespace) -> int:
    from convexbench.compare import compare
    from convexbench.report.tables import to_markdown

    problems = build_problems(args)
    progress = None if args.quiet else (lambda line: print(line, file=sys.stderr))
    table = compare(problems, backends=args.backends, accuracy=args.accuracy,
                    repeat=args.repeat, time_limit=args.time_limit, threads=args.threads,
                    memory_limit_mb=args.memory_limit, shift=args.shift,
                    isolate=not args.no_isolate, out=args.out, time_metric=args.time_metric,
                    progress=progress)
    attrs = table.attrs
    if args.json:
        payload = {"settings": attrs["settings"],
                   "table": json.loads(table.to_json(orient="records")),
                   "summary": json.loads(attrs["summary"].to_json(orient="records")),
                   "skipped": attrs["skipped"], "files": attrs["files"]}
        print(json.dumps(payload, indent=2, default=str))
        return 0
    print(to_markdown(table[SHOWN]))
    if attrs["skipped"]:
        print("\nSkipped backends:")
        for name, reason in attrs["skipped"].items():
            print(f"  {name}: {reason}")
    print(f"\nReport: {attrs['files'].get('report_md')}  Table: {attrs['files'].get('table_csv')}")
    return 0

"""``convexbench scaling``: measure the growth exponents of patterns, sizes, time, memory."""

from __future__ import annotations

import argparse
import sys

from convexbench.errors import UserError


def int_list(text: str, name: str) -> list[int]:
    """A comma-separated list of positive integers (a UserError otherwise)."""
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or any(not item for item in items):
        raise UserError(f"--{name} must be a comma-separated list of integers, got {text!r}")
    values = []
    for item in items:
        try:
            values.append(int(item))
        except ValueError:
            raise UserError(f"--{name}: {item!r} is not an integer") from None
    return values


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "scaling",
        help="measure how patterns, program size, time and memory grow (fitted exponents)",
        description=(
            "Sweep n, d, rank and m1 on low-rank synthetic data; for every point count the "
            "sign patterns (exactly, against Cover's count, and by sampling), build and solve "
            "the convex program, and fit log-log exponents with bootstrap confidence "
            "intervals next to the theoretical degree (r - 1 in n for patterns)."
        ),
    )
    parser.add_argument("--model", required=True, metavar="{relu2,gated2,relu3}",
                        help="the convex program to sweep")
    parser.add_argument("--n", default="10,20,40,80", metavar="LIST",
                        help="numbers of samples (default 10,20,40,80)")
    parser.add_argument("--d", default="4", metavar="LIST", help="dimensions (default 4)")
    parser.add_argument("--rank", default="2", metavar="LIST",
                        help="data ranks, each <= every d (default 2)")
    parser.add_argument("--m1", default="1", metavar="LIST",
                        help="relu3: first-layer widths (default 1)")
    parser.add_argument("--patterns", default="exact", metavar="exact|N",
                        help="all patterns/atoms (exact, default) or N sampled directions")
    parser.add_argument("--backends", default="clarabel", metavar="LIST",
                        help="solver backends (default clarabel)")
    parser.add_argument("--repeat", type=int, default=1, metavar="R",
                        help="solves per point and backend (default 1)")
    parser.add_argument("--time-limit", type=float, default=None, metavar="S",
                        help="wall-clock limit per solve in seconds")
    parser.add_argument("--memory-limit", type=float, default=None, metavar="MB",
                        help="memory limit per solve in MB")
    parser.add_argument("--seed", type=int, default=0, help="data and bootstrap seed")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="write points.csv, fits.csv/.md/.tex and plots here")
    parser.add_argument("--json", action="store_true", help="print the fits as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from convexbench.cli.common import print_json
    from convexbench.scaling import run_scaling
    from convexbench.scaling.outputs import fits_markdown

    backends = [b.strip() for b in args.backends.split(",")]
    if not args.backends.strip() or any(not b for b in backends):
        raise UserError(f"--backends must be a comma-separated list, got {args.backends!r}")
    quiet = args.json
    result = run_scaling(
        args.model, n=int_list(args.n, "n"), d=int_list(args.d, "d"),
        rank=int_list(args.rank, "rank"), m1=int_list(args.m1, "m1"), patterns=args.patterns,
        backends=backends, repeat=args.repeat, time_limit=args.time_limit,
        memory_limit_mb=args.memory_limit, seed=args.seed, out_dir=args.out,
        progress=None if quiet else (lambda line: print(line, file=sys.stderr)),
    )
    if args.json:
        print_json(result.summary())
    else:
        print(fits_markdown(result.fits), end="")
        if result.files:
            print(f"wrote {len(result.files)} files to {args.out}")
    return 0

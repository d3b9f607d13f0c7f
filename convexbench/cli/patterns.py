"""``convexbench patterns``: count the sign patterns of a data set."""

from __future__ import annotations

import argparse

from convexbench.cli.common import add_data_arguments, load_data_from_args, print_json


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "patterns",
        help="count the sign patterns of the data (exactly or by sampling)",
        description=(
            "Count the distinct sign patterns diag(1[X u >= 0]) of the data: exactly "
            "(every cell of the hyperplane arrangement, compared with Cover's count "
            "2*sum_{k<r} C(n-1, k) for rank r) or by sampling random directions u."
        ),
    )
    add_data_arguments(parser)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--exact", action="store_true", help="enumerate every pattern (default)")
    mode.add_argument("--samples", type=int, metavar="N", help="sample N random directions")
    parser.add_argument("--seed", type=int, default=0, help="seed for --samples (default 0)")
    parser.add_argument(
        "--limit", type=int, default=None, help="refuse exact enumeration beyond this many patterns"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from convexbench.patterns import (
        DEFAULT_ENUMERATION_LIMIT,
        cover_count,
        data_rank,
        enumerate_patterns,
        sample_patterns,
    )

    X, _, _, _, name = load_data_from_args(args)
    n, d = X.shape
    rank = data_rank(X)
    record = {"data": name, "n": n, "d": d, "rank": rank, "cover_count": cover_count(n, rank)}
    if args.samples is not None:
        patterns = sample_patterns(X, args.samples, seed=args.seed, drop_zero=False)
        record.update(
            {
                "mode": "sampled",
                "samples": args.samples,
                "seed": args.seed,
                "n_patterns": int(patterns.shape[0]),
            }
        )
    else:
        limit = args.limit if args.limit is not None else DEFAULT_ENUMERATION_LIMIT
        arrangement = enumerate_patterns(X, limit=limit)
        record.update({"mode": "exact", "n_patterns": arrangement.n_patterns})
        record["general_position_count_matches"] = arrangement.n_patterns == record["cover_count"]
    if args.json:
        print_json(record)
    else:
        print(f"{name}: n={n}, d={d}, rank={rank}")
        print(
            f"{record['mode']} patterns: {record['n_patterns']}   Cover's count: "
            f"{record['cover_count']}"
        )
    return 0

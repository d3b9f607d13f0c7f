"""``convexbench report``: tables, figures and an index from a results directory."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write tables, figures and claim verdicts from a results directory",
        description=(
            "Read the cells stored by `convexbench run` and write paper-style tables "
            "(Markdown, LaTeX, CSV), figures (PNG, PDF) and the verdicts on the claims of "
            "MATH.md §5, with an index README.md that links them and records provenance."
        ),
    )
    parser.add_argument("results", metavar="RESULTS_DIR", help="a results directory")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="report directory (default RESULTS_DIR/report)")
    parser.add_argument("--title", default="convexbench report", help="title of the index")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from convexbench.report import build_report

    report = build_report(args.results, args.out, title=args.title)
    for claim in report.claims:
        print(f"claim {claim.number:<3} {claim.verdict:<10} {claim.title}")
    print(f"{len(report.items)} items; index: {report.index}")
    return 0

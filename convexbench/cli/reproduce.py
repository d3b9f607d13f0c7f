"""``convexbench reproduce``: run the paper-style experiments and write the report."""

from __future__ import annotations

import argparse

from convexbench.cli.run import add_executor_arguments


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "reproduce",
        help="regenerate the paper-style figures, tables and claim verdicts",
        description=(
            "Run the packaged quick or full spec (non-convex SGD/Adam runs against the "
            "convex programs, beta sweeps, exact patterns on tiny data, backend agreement, "
            "pattern counts) and write figures, tables, claim verdicts and an index "
            "README.md into --out. --quick uses bundled data only and takes a few minutes "
            "on 2 cores; --full needs CONVEXBENCH_DATA_DIR or network access. Raw results "
            "are kept in OUT/results, so an interrupted reproduction resumes."
        ),
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", dest="mode", action="store_const", const="quick",
                      help="bundled data, minutes (default)")
    mode.add_argument("--full", dest="mode", action="store_const", const="full",
                      help="more datasets, patterns and runs; hours")
    parser.set_defaults(mode="quick")
    parser.add_argument("--out", default="reports", metavar="DIR",
                        help="output directory (default ./reports)")
    parser.add_argument("--results", default=None, metavar="RESULTS_DIR",
                        help="where to keep raw results (default OUT/results)")
    parser.add_argument("--fresh", action="store_true",
                        help="discard stored results and run every cell again")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_executor_arguments(parser)
    parser.set_defaults(func=run, jobs=2)


def claims_lines(claims) -> str:
    """The verdicts, one claim a line, naming untested parts, then a one-line summary.

    ``partial`` and ``not tested`` are missing evidence, not failures; they are listed so a
    reader sees what the run did not measure.
    """
    from convexbench.analysis.claims import claims_summary

    lines = []
    for claim in claims:
        line = f"claim {claim.id:<3} {claim.verdict:<10} {claim.title}"
        if claim.verdict == "partial":
            line += " [no evidence: " + "; ".join(p.name for p in claim.missing) + "]"
        lines.append(line)
    lines.append(f"claims: {claims_summary(claims)}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from convexbench.orchestration import reproduce

    result = reproduce(args.mode, args.out, jobs=args.jobs, results_dir=args.results,
                       resume=not args.fresh, progress=not args.no_progress,
                       executor=args.executor, scheduler=args.scheduler)
    print(claims_lines(result.claims))
    print(f"wrote {len(result.report.items)} items; index {result.report.index}; "
          f"{result.seconds:.0f} s")
    return 0

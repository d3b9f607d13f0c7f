"""``convexbench backends``: every known backend, its state and its preset mapping."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "backends",
        help="list the solver backends: installed, version, licence, cones, time limits, "
             "preset mapping",
        description="List every known backend (installed or not) with its version, licence "
                    "state, supported cones, how it enforces --time-limit and how the "
                    "accuracy presets map onto its options.")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--threads", type=int, default=1,
                        help="thread count shown in the option mapping (default 1)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from convexbench.backends.isolation import DEFAULT_GRACE
    from convexbench.backends.mapping import describe_backends, mapping_markdown, preset_summary
    from convexbench.backends.presets import SOLVER_SAFETY

    rows = describe_backends(threads=args.threads)
    if args.json:
        print(json.dumps({"presets": preset_summary(), "solver_safety": SOLVER_SAFETY,
                          "time_limit_grace_seconds": DEFAULT_GRACE, "backends": rows},
                         indent=2, default=str))
        return 0
    print("| backend | installed | version | state | cones | time limit |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['name']} | {'yes' if row['installed'] else 'no'} | "
              f"{row['version'] or '-'} | {row['message']} | {', '.join(row['cones']) or '-'} | "
              f"{row['time_limit']} |")
    print()
    print(f"Time limit T (--time-limit): wall-clock for the whole solve, cvxpy compilation and "
          f"child start-up included; with a limit, cvxpy backends run in a child process "
          f"killed at T + {DEFAULT_GRACE:g} s (grace), their solver gets the time left after "
          f"compilation where it has a time option, and a run cut short is status time_limit, "
          f"not certified. `--json`: time_limit_enforcement.\n")
    presets = ", ".join(f"{name} = {p['certificate_tolerance']:g}"
                        for name, p in preset_summary().items())
    print(f"Accuracy presets (certificate tolerance): {presets}; solvers are asked for "
          f"{SOLVER_SAFETY:g} x that tolerance.\n")
    print(mapping_markdown(rows))
    return 0

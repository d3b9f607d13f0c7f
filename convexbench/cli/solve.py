"""``convexbench solve``: solve one convex program and certify the answer."""

from __future__ import annotations

import argparse
import math

from convexbench.cli.common import (
    add_data_arguments,
    betas_from_fractions,
    load_data_from_args,
    print_json,
)
from convexbench.errors import UserError
from convexbench.names import DEFAULT_PRESET, LOSSES, MODELS, PRESET_NAMES


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "solve",
        help="solve one convex training program and verify the answer",
        description=(
            "Build the convex program of a ReLU network on the data, solve it with a backend, "
            "verify the answer independently (recomputed objective, cone violation, dual gap) "
            "and reconstruct the non-convex network. Exit 0 on a verified solve, 1 when the "
            "answer is not verified, 2 on a usage error, 3 when the backend is unavailable."
        ),
    )
    add_data_arguments(parser)
    parser.add_argument(
        "--model",
        choices=MODELS,
        default="relu2",
        help="relu2: two-layer ReLU; gated2: gated ReLU relaxation; relu3: "
        "three-layer parallel ReLU (default relu2)",
    )
    betas = parser.add_mutually_exclusive_group(required=True)
    betas.add_argument(
        "--beta",
        metavar="B[,B...]",
        help="regularization weight (> 0); a comma-separated list solves a regularization "
        "path: every beta, in decreasing order, one record each (--backend native "
        "warm-starts each from the previous solution; other backends solve each cold)",
    )
    betas.add_argument(
        "--beta-frac",
        metavar="F[,F...]",
        help="like --beta, as fractions of lambda_max = ||X^T y||_inf (beta = F * "
        "lambda_max; records gain beta_frac and lambda_max), e.g. 1e-1,1e-2,1e-3",
    )
    parser.add_argument(
        "--loss",
        choices=LOSSES,
        default="squared",
        help="squared (default), hinge or logistic (±1 labels)",
    )
    parser.add_argument(
        "--patterns",
        default="100",
        metavar="all|N",
        help="'all' enumerates every sign pattern (atom for relu3) exactly; N "
        "samples N random directions (sub-networks) (default 100)",
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        help="refuse exact enumeration beyond this many patterns/atoms",
    )
    parser.add_argument(
        "--m1", type=int, default=2, help="relu3: first-layer neurons per sub-network (default 2)"
    )
    parser.add_argument(
        "--form",
        choices=("A", "B"),
        default="A",
        help="relu3: regularizer form the network is mapped to (default A)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of pattern sampling")
    parser.add_argument(
        "--backend",
        default="clarabel",
        help="solver backend (default clarabel; see `convexbench backends`)",
    )
    parser.add_argument(
        "--accuracy",
        default=DEFAULT_PRESET,
        choices=PRESET_NAMES,
        help=f"accuracy preset (default {DEFAULT_PRESET}); its tolerance: "
        "`convexbench backends --json`",
    )
    parser.add_argument(
        "--time-limit", type=float, default=None, metavar="S", help="wall-clock limit in seconds"
    )
    parser.add_argument(
        "--memory-limit",
        type=float,
        default=None,
        metavar="MB",
        help="memory cap in MB (runs the solve in an isolated child process)",
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="solver and BLAS threads (default 1)"
    )
    parser.add_argument(
        "--isolate",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run the solve in a child process with hard limits (default: only when a limit "
        "cannot be enforced in-process)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object; for several betas, a JSON list of them (decreasing beta)",
    )
    parser.set_defaults(func=run)


def parse_betas(text: str, option: str = "--beta") -> list[float]:
    """Positive finite numbers from a comma-separated list, sorted decreasing, duplicates
    dropped; a :class:`UserError` (one line, exit 2) otherwise."""
    values: list[float] = []
    for item in text.split(","):
        try:
            value = float(item.strip())
        except ValueError:
            raise UserError(
                f"{option} must be a comma-separated list of positive numbers, got {text!r}"
            ) from None
        if not math.isfinite(value) or value <= 0:
            raise UserError(
                f"{option}: every value must be a positive number, got {item.strip()!r}")
        values.append(value)
    return sorted(set(values), reverse=True)


def run(args: argparse.Namespace) -> int:
    from convexbench.training import train_convex, train_convex_path

    fractions = parse_betas(args.beta_frac, "--beta-frac") if args.beta_frac else None
    betas = None if fractions else parse_betas(args.beta)
    X, y, X_test, y_test, name = load_data_from_args(args)
    scale = None
    if fractions:
        betas, scale = betas_from_fractions(fractions, X, y)
    options = {"threads": args.threads, "isolate": args.isolate}
    if args.memory_limit is not None:
        options["memory_limit_mb"] = args.memory_limit
    common = dict(
        model=args.model,
        loss=args.loss,
        patterns=args.patterns,
        m1=args.m1,
        form=args.form,
        seed=args.seed,
        backend=args.backend,
        accuracy_preset=args.accuracy,
        time_limit=args.time_limit,
        X_test=X_test,
        y_test=y_test,
        limit=args.limit,
        **options,
    )
    if len(betas) == 1:
        trainings = [train_convex(X, y, beta=betas[0], **common)]
    else:
        trainings = train_convex_path(X, y, betas, **common)
    from convexbench.experiments.provenance import collect

    parameters = {k: v for k, v in vars(args).items()
                  if k != "func" and not (k == "beta_frac" and v is None)}
    if args.beta is not None:
        parameters["beta"] = betas[0] if len(betas) == 1 else betas
    provenance = collect(parameters)
    records = []
    for index, training in enumerate(trainings):
        record = {"data": name, **training.record}
        if fractions:
            record.update({"beta_frac": fractions[index], "lambda_max": scale})
        record["provenance"] = provenance
        records.append(record)
    if args.json:
        print_json(records[0] if len(records) == 1 else records)
    elif len(records) == 1:
        print(_human(records[0]))
    else:
        print("\n\n".join(f"[{i + 1}/{len(records)}] " + _human(r)
                           for i, r in enumerate(records)))
        print()
        print(_path_table(records))
    return 0 if all(r["verified"] for r in records) else 1


def _path_table(records: list[dict]) -> str:
    """One line per beta: the path at a glance."""
    lines = [f"regularization path, {len(records)} betas (decreasing):",
             f"{'beta':>11} {'status':<18} {'verified':<8} {'objective':>14} "
             f"{'rel. gap':>9} {'nonzero':>7} {'solve s':>8} {'warm':>4}"]
    for r in records:
        objective = r.get("objective")
        gap = r.get("relative_gap")
        lines.append(
            f"{r['beta']:>11.4g} {r['status']:<18} {'yes' if r['verified'] else 'NO':<8} "
            f"{objective if objective is not None else float('nan'):>14.8g} "
            f"{gap if gap is not None else float('nan'):>9.1e} "
            f"{r.get('n_active') if r.get('n_active') is not None else '-':>7} "
            f"{r['times']['solve']:>8.3f} {'yes' if r.get('warm_started') else 'no':>4}")
    total = sum(r["times"]["wall"] for r in records)
    lines.append(f"total wall time of the solves {total:.3f}s")
    return "\n".join(lines)


def _human(r: dict) -> str:
    lines = [
        f"{r['model']} ({r['loss']} loss) on {r['data']}: n={r['n']}, d={r['d']}, "
        f"beta={r['beta']:g}, "
        f"{r['n_patterns']} {'atoms' if r['model'] == 'relu3' else 'patterns'}"
        f"{' (all)' if r['exact_patterns'] else ''}",
        f"backend {r['backend']} {r['backend_version'] or ''}: status {r['status']}, "
        f"{'VERIFIED' if r['verified'] else 'NOT verified'}",
    ]
    if r.get("objective") is not None:
        network = r.get("nonconvex_objective")
        network = float("nan") if network is None else network
        lines.append(f"objective {r['objective']:.10g}  (network: {network:.10g})")
        gap_kind = "exact" if r.get("gap_exact") else "bound"
        lines.append(
            f"relative gap {r['relative_gap']:.2e} ({gap_kind}), relative violation "
            f"{r['relative_violation']:.2e} (max row {r['max_violation']:.2e}), "
            f"nonzero groups {r.get('n_active')}"
        )
        if r.get("verified"):
            lines.append(f"certifies {r['certifies']}")
        elif r.get("message"):
            lines.append(f"why: {r['message']}")
    t = r["times"]
    lines.append(
        f"time: build {t['build']:.3f}s, compile {t['compile']:.3f}s, solve {t['solve']:.3f}s, "
        f"wall {t['wall']:.3f}s; peak memory {r['peak_memory_mb']:.0f} MB"
    )
    if r.get("test_accuracy") is not None:
        lines.append(
            f"train accuracy {r.get('train_accuracy', float('nan')):.3f}, "
            f"test accuracy {r['test_accuracy']:.3f}"
        )
    return "\n".join(lines)

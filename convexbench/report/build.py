"""Build a whole report (tables, figures, index) from a results directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from convexbench.analysis.claims import ClaimResult, evaluate_claims, gated_note
from convexbench.errors import UserError
from convexbench.experiments.store import STORE_FILE, ResultsStore, frame
from convexbench.report import figures, tables
from convexbench.report.index import write_index
from convexbench.report.tables import ReportItem


@dataclass(frozen=True)
class Report:
    """What :func:`build_report` wrote."""

    out_dir: Path
    index: Path
    items: tuple[ReportItem, ...]
    claims: tuple[ClaimResult, ...]


def build_report(
    results_dir: str | Path,
    out_dir: str | Path | None = None,
    title: str = "convexbench report",
    preface: str = "",
) -> Report:
    """Read the stored cells of ``results_dir`` and write the report to ``out_dir``."""
    results_dir = Path(results_dir)
    if not (results_dir / STORE_FILE).is_file():
        raise UserError(
            f"{results_dir} holds no results ({STORE_FILE} not found); "
            f"run `convexbench run SPEC --out {results_dir}` first"
        )
    out = Path(out_dir) if out_dir is not None else results_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    store = ResultsStore(results_dir)
    df = frame(store)
    if df.empty:
        raise UserError(f"{results_dir} holds no finished cell yet")
    claims = evaluate_claims(df)
    items: list[ReportItem] = []
    for model in ("relu2", "relu3", "gated2"):
        item = figures.objective_vs_time(df, model, out)
        if item:
            items.append(item)
    for make in (figures.sparsity_vs_beta, figures.pattern_counts):
        item = make(df, out)
        if item:
            items.append(item)
    items.append(
        tables.write_table(
            tables.claims_table(claims),
            out,
            "claims",
            "Claims of MATH.md §5",
            "Verdict (holds / partial / not tested / fails) of every claim with the numbers "
            "measured; partial and not tested mean missing evidence, never a failure.",
        )
    )
    detail = tables.global_table(claims)
    if not detail.empty:
        items.append(
            tables.write_table(
                detail,
                out,
                "global_optimality",
                "Convex optimum vs non-convex runs",
                "Per setting behind claims 2a (every pattern/atom, tiny data) and 2b (sampled "
                "patterns refined by column generation, the comparison figures): convex "
                "objective, best and median final "
                "objective of the SGD and Adam runs, the relative margin (best - convex) / "
                "|convex| (negative: a run ended below the convex value) and how far below "
                "is allowed (the accuracy preset's tolerance plus the certified relative "
                "gap).",
            )
        )
    for role, family, stem, title_text, what in (
        ("uci-table", "uci", "uci_binary", "Binary UCI datasets", "UCI binary classification sets"),
        (
            "fmnist-table",
            "fashion-mnist",
            "fashion_mnist_pairs",
            "Fashion-MNIST class pairs",
            "Fashion-MNIST class-pair subsets",
        ),
    ):
        table = tables.dataset_table(df, role, family)
        if not table.empty:
            items.append(
                tables.write_table(
                    table,
                    out,
                    stem,
                    title_text,
                    f"{what}: training size n, features d, beta, patterns P (sampled, then column "
                    f"generation), whether the convex solve was verified by the certificate "
                    f"(convex columns are empty without a verified solve), convex "
                    f"training objective, best and median final objective of the SGD and Adam "
                    f"runs, train/test accuracy of the convex model and the median SGD run, "
                    f"convex solve wall time and median SGD run time (seconds)."
                    + gated_note(table),
                )
            )
    failed = tables.failed_cells_table(df)
    if not failed.empty:
        items.append(tables.write_table(
            failed, out, "failed_cells", "Cells that failed or hit their time limit",
            f"{len(failed)} cell(s) raised an error or stopped at their time limit; their "
            "results are absent from (or unverified in) the tables and figures above."))
    index = write_index(out, items, claims, store.runs(), title, preface)
    return Report(out, index, tuple(items), tuple(claims))

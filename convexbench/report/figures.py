"""Paper-style figures (seaborn/matplotlib), each saved as PNG and PDF."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from convexbench.analysis.claims import cells_with_role, verified_convex  # noqa: E402
from convexbench.analysis.plots import save_figure  # noqa: E402
from convexbench.report.tables import ReportItem  # noqa: E402

PALETTE = {"sgd": "#1f77b4", "adam": "#ff7f0e", "convex": "#000000"}
MODEL_TITLES = {"relu2": "two-layer ReLU", "relu3": "three-layer parallel ReLU",
                "gated2": "gated ReLU (fixed gates)"}


def _forms(cells: pd.DataFrame) -> list[str]:
    """The relu3 forms (MATH.md §3) of ``cells``: the ``form`` option, "A" when absent (the
    default of ``experiments.execute``)."""
    if cells.empty:
        return []
    form = cells["opt_form"] if "opt_form" in cells else pd.Series(None, index=cells.index)
    return sorted({"A" if pd.isna(f) else str(f) for f in form})


def _model_title(model: str, forms: list[str] | None = None) -> str:
    """The model's name; for relu3 with the form(s) actually shown."""
    title = MODEL_TITLES.get(model, model)
    if model != "relu3" or not forms:
        return title
    if len(forms) == 1:
        return f"{title} (form {forms[0]})"
    return f"{title} (forms {', '.join(forms[:-1])} and {forms[-1]})"


def _save(fig: plt.Figure, out_dir: str | Path, stem: str, title: str, caption: str) -> ReportItem:
    save_figure(fig, Path(out_dir) / "figures" / stem)
    return ReportItem(
        "figure", stem, title, caption, (f"figures/{stem}.png", f"figures/{stem}.pdf")
    )


def _short(dataset: str) -> str:
    return (
        dataset.replace("synthetic:", "synthetic ")
        .replace("uci:", "UCI ")
        .replace("fashion-mnist:", "Fashion-MNIST ")
    )


def objective_vs_time(df: pd.DataFrame, model: str, out_dir: str | Path) -> ReportItem | None:
    """Training objective against wall time: SGD/Adam traces and the convex optimum."""
    cells = cells_with_role(df, "comparison")
    if cells.empty:
        return None
    cells = cells[(cells["model"] == model) & (cells["status"] == "ok")]
    base = cells[cells["kind"] == "baseline"]
    conv = verified_convex(cells)  # the caption promises verified optima
    # one panel per (experiment, dataset): runs against the convex cells of their experiment
    with_runs = set(zip(base["experiment"], base["dataset"], strict=True))
    panels = [k for k in dict.fromkeys(zip(conv["experiment"], conv["dataset"], strict=True))
              if k in with_runs]
    if not panels:
        return None
    shared = {d for _, d in panels if sum(p[1] == d for p in panels) > 1}
    datasets = [d for _, d in panels]
    sns.set_theme(style="whitegrid", context="paper")
    cols = min(4, len(datasets))
    rows = math.ceil(len(datasets) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.0 * rows), squeeze=False)
    shown = [(base[(base["experiment"] == e) & (base["dataset"] == d)],
              conv[(conv["experiment"] == e) & (conv["dataset"] == d)]) for e, d in panels]
    forms = _forms(pd.concat([c for _, c in shown] + [r for r, _ in shown]))
    title = _model_title(model, forms)
    for ax, (experiment, dataset), (runs, c) in zip(axes.flat, panels, shown, strict=False):
        panel_forms = _forms(pd.concat([c, runs])) if len(forms) > 1 else []
        c = c.sort_values("objective").iloc[0]
        finals = []
        for r in runs.itertuples():
            t = np.asarray(r.trace_seconds, dtype=float)
            y = np.asarray(r.trace_objective, dtype=float)
            ok = np.isfinite(t) & np.isfinite(y) & (t > 0)
            ax.plot(t[ok], y[ok], color=PALETTE[r.method], alpha=0.55, lw=1.0)
            finals.append(r.objective)
        ax.axhline(c["objective"], color=PALETTE["convex"], ls="--", lw=1.4)
        total = c.get("times_total")
        finish = total if total is not None and np.isfinite(total) else c["times_wall"]
        ax.plot([finish], [c["objective"]], marker="*", ms=11, color=PALETTE["convex"], ls="none")
        low = min(float(c["objective"]), float(np.nanmin(finals)))
        high = max(float(c["objective"]), float(np.nanmax(finals)))
        # plotting only (not a claim threshold): at least 0.1% of the objective's magnitude
        span = max(high - low, 1e-3 * abs(low)) or 1.0
        ax.set_ylim(low - 0.6 * span, high + 3.0 * span)
        ax.set_xscale("log")
        ax.set_title(
            f"{_short(dataset)}{f' [{experiment}]' if dataset in shared else ''}"
            f"\n(n={int(c['n_train'])}, d={int(c['d'])}, "
            f"beta={c['beta']:.3g}, {int(c['n_patterns'])} "
            f"{'atoms' if model == 'relu3' else 'patterns'}"
            f"{''.join(f', form {f}' for f in panel_forms)})",
            fontsize=8,
        )
        ax.set_xlabel("wall time (s, log scale)")
        ax.set_ylabel("training objective")
    for ax in list(axes.flat)[len(datasets) :]:
        ax.set_visible(False)
    handles = [
        plt.Line2D([], [], color=PALETTE["sgd"], label="SGD (momentum) runs"),
        plt.Line2D([], [], color=PALETTE["adam"], label="Adam runs"),
        plt.Line2D(
            [], [], color="black", ls="--", label="convex optimum (the runs' gates)"
            if model == "gated2" else "convex optimum (sampled + column generation)"
        ),
        plt.Line2D(
            [],
            [],
            color="black",
            marker="*",
            ls="none",
            ms=10,
            label="convex solve finished (total wall time)",
        ),
    ]
    fig.legend(
        handles=handles,
        loc="lower center",
        ncol=4,
        frameon=False,
        bbox_to_anchor=(0.5, -0.02 - 0.02 / rows),
    )
    fig.suptitle(f"Training objective vs wall time: {title}", fontsize=11)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    n_sgd = int((base["method"] == "sgd").sum() / max(1, len(datasets)))
    n_adam = int((base["method"] == "adam").sum() / max(1, len(datasets)))
    caption = (
        f"{title}: the full training objective (loss + "
        f"regularization, MATH.md) of {n_sgd} SGD and {n_adam} Adam runs per dataset "
        f"against wall time, with the verified convex optimum over sampled "
        f"{'atoms' if model == 'relu3' else 'sign patterns'} refined by column "
        f"generation (dual pricing) as a dashed line (star: when the convex training "
        f"finished, sampling, column generation and the final solve included). "
        f"The y-axis is clipped near the final "
        f"values; early iterates lie above it."
    )
    if model == "gated2":
        caption = (
            f"{MODEL_TITLES['gated2']}: the full training objective (loss + weight decay) "
            f"of {n_sgd} SGD and {n_adam} Adam runs per dataset against wall time; the "
            f"non-convex model is the gated ReLU network whose gates are fixed to the "
            f"program's sampled sign patterns (one neuron per gate), whose global optimum "
            f"is the verified gated2 convex optimum (dashed line; star: when the convex "
            f"training finished). The y-axis is clipped near the final values; early "
            f"iterates lie above it."
        )
    return _save(
        fig,
        out_dir,
        f"objective_vs_time_{model}",
        f"Objective vs wall time ({title})",
        caption,
    )


def sparsity_vs_beta(df: pd.DataFrame, out_dir: str | Path) -> ReportItem | None:
    """Nonzero groups and train/test accuracy of the convex solution against beta."""
    cells = cells_with_role(df, "sparsity")
    if cells.empty:
        return None
    conv = cells[(cells["kind"] == "convex") & (cells["status"] == "ok")]
    if "verified" in conv:
        conv = conv[conv["verified"].fillna(False).astype(bool)]
    if conv.empty:
        return None
    sns.set_theme(style="whitegrid", context="paper")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9.0, 3.4))
    conv = conv.sort_values("beta").assign(dataset_label=conv["dataset"].map(_short))
    sns.lineplot(data=conv, x="beta", y="n_active", hue="dataset_label", marker="o", ax=ax1)
    for _dataset, group in conv.groupby("dataset_label"):
        ax1.axhline(int(group["n_train"].iloc[0]) + 1, color="grey", ls=":", lw=1)
        ax1.annotate(
            "n + 1",
            (group["beta"].min(), int(group["n_train"].iloc[0]) + 1),
            fontsize=7,
            color="grey",
            va="bottom",
        )
    ax1.set_xscale("log")
    ax1.set_yscale("log")
    ax1.set_ylim(bottom=0.8)
    ax1.set_xlabel("beta (regularization weight, log scale)")
    ax1.set_ylabel("nonzero groups at the optimum")
    ax1.set_title("Sparsity of the convex optimum", fontsize=9)
    ax1.legend(title="dataset", fontsize=7, title_fontsize=7)
    splits = [c for c in ("train_accuracy", "test_accuracy") if c in conv]
    acc = conv[["beta", "dataset_label", *splits]].melt(
        id_vars=["beta", "dataset_label"], var_name="split", value_name="fraction correct"
    )
    acc["split"] = acc["split"].str.replace("_accuracy", "", regex=False)
    sns.lineplot(
        data=acc,
        x="beta",
        y="fraction correct",
        hue="dataset_label",
        style="split",
        marker="o",
        ax=ax2,
    )
    ax2.set_xscale("log")
    ax2.set_xlabel("beta (regularization weight, log scale)")
    ax2.set_ylabel("accuracy (fraction correct)")
    ax2.set_title("Train and test accuracy of the convex model", fontsize=9)
    handles, labels = ax2.get_legend_handles_labels()
    ax2.legend(handles, [{"dataset_label": "dataset"}.get(lb, lb) for lb in labels], fontsize=7)
    fig.tight_layout()
    names = ", ".join(sorted(conv["dataset_label"].unique()))
    solvers = ", ".join(sorted(conv["method"].dropna().unique())) if "method" in conv else ""
    warm = "warm_start_beta" in conv and bool(conv["warm_start_beta"].notna().any())
    caption = (
        f"Two-layer convex program on {names} with "
        f"{int(conv['n_patterns'].max())} sampled patterns: the number of nonzero "
        f"groups (neurons of the reconstructed network; dotted: n + 1) and the train "
        f"and test accuracy against beta."
        + (f" Solved by {solvers}" if solvers else "")
        + (", along the regularization path (decreasing beta, each solve warm-started "
           "from the previous optimum, each certified on its own)." if warm
           else "." if solvers else "")
    )
    return _save(fig, out_dir, "sparsity_vs_beta", "Sparsity and accuracy vs beta", caption)


def pattern_counts(df: pd.DataFrame, out_dir: str | Path) -> ReportItem | None:
    """Exact pattern counts against n (log-log) with Cover's formula."""
    arr = df[(df["kind"] == "arrangement") & (df["status"] == "ok")] if not df.empty else df
    if arr.empty:
        return None
    sns.set_theme(style="whitegrid", context="paper")
    fig, ax = plt.subplots(figsize=(4.8, 3.6))
    for rank, group in arr.groupby("rank"):
        group = group.sort_values("n")
        ax.plot(group["n"], group["n_patterns"], "o", label=f"exact enumeration, r={rank}")
        ax.plot(group["n"], group["cover_count"], "-", color="grey", lw=1)
    ax.plot([], [], "-", color="grey", label="Cover's count C(n, r)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("number of samples n (log scale)")
    ax.set_ylabel("distinct sign patterns (log scale)")
    ax.set_title("Hyperplane arrangement size", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    caption = (
        "Distinct sign patterns found by exact enumeration on Gaussian data of rank r "
        "(general position) against n, with Cover's count; the slope on log-log axes "
        "is the degree r - 1 of the polynomial growth."
    )
    return _save(fig, out_dir, "pattern_counts", "Pattern counts vs n", caption)

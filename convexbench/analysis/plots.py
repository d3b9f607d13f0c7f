"""Figures for backend comparisons (seaborn/matplotlib, PNG and PDF)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def plot_performance_profile(profile: pd.DataFrame, stem: str | Path,
                             title: str = "Performance profile") -> dict[str, Path]:
    """Step plot of ``rho_k(tau)`` (columns) against ``tau`` (index); writes PNG and PDF."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    sns.set_theme(style="whitegrid", context="paper")
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    palette = sns.color_palette("colorblind", n_colors=max(len(profile.columns), 1))
    for color, solver in zip(palette, profile.columns, strict=False):
        ax.step(profile.index, profile[solver], where="post", label=solver, color=color, lw=1.8)
    ax.set_xscale("log", base=2)
    ax.set_xlim(1.0, float(profile.index.max()))
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(r"performance ratio $\tau$ (time / best verified time)")
    ax.set_ylabel(r"fraction of problems within $\tau$ of the best")
    ax.set_title(title)
    ax.legend(loc="lower right", frameon=True, fontsize=8)
    fig.tight_layout()
    paths = {}
    for fmt in ("png", "pdf"):
        path = stem.with_suffix(f".{fmt}")
        fig.savefig(path, dpi=150 if fmt == "png" else None)
        paths[fmt] = path
    plt.close(fig)
    return paths

"""Figures (seaborn/matplotlib): the one way a figure is saved (PNG and PDF), and the
performance profile of backend comparisons."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

FORMATS = ("png", "pdf")
DPI = 150  # of the PNG


def save_figure(fig: Any, path_stem: str | Path) -> dict[str, Path]:
    """Save ``fig`` as ``<path_stem>.png`` and ``<path_stem>.pdf`` (parent folders created;
    tight bounding box; the PDF without a creation date, so a rebuild is byte-stable), close
    it and return the paths by format."""
    import matplotlib.pyplot as plt

    stem = Path(path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = {}
    for fmt in FORMATS:
        path = stem.parent / f"{stem.name}.{fmt}"
        fig.savefig(path, dpi=DPI, bbox_inches="tight",
                    metadata={"CreationDate": None} if fmt == "pdf" else None)
        paths[fmt] = path
    plt.close(fig)
    return paths


def plot_performance_profile(profile: pd.DataFrame, stem: str | Path,
                             title: str = "Performance profile") -> dict[str, Path]:
    """Step plot of ``rho_k(tau)`` (columns) against ``tau`` (index); writes PNG and PDF."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

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
    return save_figure(fig, stem)

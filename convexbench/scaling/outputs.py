"""Outputs of a scaling sweep: tidy CSVs, a table of fitted exponents, log-log plots."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np
import pandas as pd

from convexbench.analysis.plots import save_figure
from convexbench.names import FINISHED_STATUSES
from convexbench.scaling.fits import AXIS_LABELS, METRIC_UNITS, SERIES_KEYS, Fit
from convexbench.scaling.measure import PointRecord, SaturationRecord

METRIC_LABELS = {
    "patterns": "distinct sign patterns",
    "variables": "program variables",
    "time_compile": "compile time",
    "time_solve": "solve time",
    "time_wall": "wall time",
    "memory": "peak memory increase",
}
_COLUMNS = ("model", "metric", "axis", "backend", "series", "n_points", "x_range", "exponent",
            "all_points", "reference", "finite_n", "excluded", "verdict")


def records_frame(records: Sequence[PointRecord]) -> pd.DataFrame:
    """One row per grid point, backend and repeat (tidy)."""
    names = [f.name for f in fields(PointRecord)]
    return pd.DataFrame([asdict(r) for r in records], columns=names)


def saturation_frame(saturation: Sequence[SaturationRecord]) -> pd.DataFrame:
    names = [f.name for f in fields(SaturationRecord)]
    return pd.DataFrame([asdict(s) for s in saturation], columns=names)


def fits_frame(fits: Sequence[Fit]) -> pd.DataFrame:
    names = [f.name for f in fields(Fit)]
    return pd.DataFrame([asdict(f) for f in fits], columns=names)


def _num(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{digits}f}"


def _table_rows(fits: Sequence[Fit]) -> list[dict[str, str]]:
    rows = []
    for f in fits:
        ref = "-" if f.reference is None else (
            f"{'<= ' if f.reference_kind == 'bound' else ''}{f.reference:g}")
        rows.append({
            "model": f.model, "metric": f.metric, "axis": f.axis, "backend": f.backend or "-",
            "series": f.series, "n_points": str(f.n_points),
            "x_range": "-" if not math.isfinite(f.x_min) else f"{f.x_min:g}-{f.x_max:g}",
            "exponent": f"{_num(f.estimate)} [{_num(f.ci_low)}, {_num(f.ci_high)}]",
            "all_points": _num(f.estimate_all), "reference": ref,
            "finite_n": _num(f.reference_finite), "excluded": str(f.excluded),
            "verdict": f.verdict,
        })
    return rows


_HEADERS = {"model": "model", "metric": "metric", "axis": "vs", "backend": "backend",
            "series": "fixed", "n_points": "points", "x_range": "x range",
            "exponent": "exponent [95% CI]", "all_points": "all points",
            "reference": "theory", "finite_n": "Cover, same x", "excluded": "excluded",
            "verdict": "verdict"}


def fits_markdown(fits: Sequence[Fit]) -> str:
    """A Markdown table of the fitted exponents (upper-half window; see ``fits``)."""
    head = [_HEADERS[c] for c in _COLUMNS]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for row in _table_rows(fits):
        lines.append("| " + " | ".join(row[c].replace("|", "/") for c in _COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def _latex_escape(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("%", r"\%"), ("&", r"\&"),
                 ("#", r"\#"), ("<=", r"$\le$"), ("|", r"$|$")):
        text = text.replace(a, b)
    return text


def fits_latex(fits: Sequence[Fit]) -> str:
    """The same table as LaTeX (``tabular``, booktabs rules)."""
    head = " & ".join(_latex_escape(_HEADERS[c]) for c in _COLUMNS)
    body = [" & ".join(_latex_escape(row[c]) for c in _COLUMNS) + r" \\"
            for row in _table_rows(fits)]
    return "\n".join([r"\begin{tabular}{" + "l" * len(_COLUMNS) + "}", r"\toprule",
                      head + r" \\", r"\midrule", *body, r"\bottomrule", r"\end{tabular}"]) + "\n"


def _metric_column(df: pd.DataFrame, metric: str) -> pd.Series:
    if metric == "patterns":
        return df["n_patterns_exact"].fillna(df["n_patterns_sampled"])
    if metric == "memory":
        return df["memory_mb"].fillna(df["peak_memory_mb"])
    return df[metric]


def plot_fits(records: Sequence[PointRecord], fits: Sequence[Fit], out_dir: Path,
              stem: str = "scaling") -> list[Path]:
    """One figure per axis (a log-log panel per metric) with the fitted lines; PNG and PDF."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper")
    df = records_frame(records)
    df["P"] = df["n_groups"]
    written: list[Path] = []
    for axis in dict.fromkeys(f.axis for f in fits):
        axis_fits = [f for f in fits if f.axis == axis and math.isfinite(f.estimate)]
        metrics = list(dict.fromkeys(f.metric for f in axis_fits))
        if not metrics:
            continue
        ncols = min(3, len(metrics))
        nrows = math.ceil(len(metrics) / ncols)
        fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.8 * nrows),
                                 squeeze=False)
        for ax, metric in zip(axes.flat, metrics, strict=False):
            _panel(ax, df, axis, metric, [f for f in axis_fits if f.metric == metric], sns)
        for ax in list(axes.flat)[len(metrics):]:
            ax.set_visible(False)
        fig.tight_layout()
        written += list(save_figure(fig, out_dir / f"{stem}_{axis}").values())
    return written


def _panel(ax, df: pd.DataFrame, axis: str, metric: str, fits: list[Fit], sns) -> None:
    data = df.assign(value=_metric_column(df, metric))
    per_backend = metric in ("time_compile", "time_solve", "time_wall", "memory")
    if per_backend:
        data = data[data["backend"] != ""]
        ok = data["status"].isin(FINISHED_STATUSES) & (data["limit"] == "")
    else:
        data = data.drop_duplicates(["model", "n", "d", "rank", "m1", "seed"])
        ok = pd.Series(True, index=data.index)
    data = data.assign(series=[", ".join(f"{k}={row[k]}" for k in SERIES_KEYS[axis])
                               for _, row in data.iterrows()])
    data = data[data["value"].notna() & data[axis].notna() & (data["value"] > 0)]
    ok = ok.loc[data.index]
    labels = sorted(set(data["series"]))
    palette = dict(zip(labels, sns.color_palette(n_colors=max(len(labels), 1)), strict=False))
    if ok.any():
        sns.scatterplot(data=data[ok], x=axis, y="value", hue="series", palette=palette,
                        style="backend" if per_backend and data["backend"].nunique() > 1
                        else None,
                        legend=False, ax=ax, s=28)
    if (~ok).any():
        ax.scatter(data.loc[~ok, axis], data.loc[~ok, "value"], marker="x", color="0.5",
                   label="hit a limit (not fitted)")
    styles = ["-", "--", ":", "-."]
    backends = sorted({f.backend for f in fits})
    for f in fits:
        xs = np.geomspace(f.x_min, f.x_max, 20)
        ax.plot(xs, np.exp(f.intercept) * xs**f.estimate, color=palette.get(f.series, "k"),
                linestyle=styles[backends.index(f.backend) % len(styles)], linewidth=1.2,
                label=f"{f.series}{' ' + f.backend if f.backend else ''}: "
                      f"k={f.estimate:.2f} [{f.ci_low:.2f}, {f.ci_high:.2f}]")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"{AXIS_LABELS[axis]} (log scale)")
    ax.set_ylabel(f"{METRIC_LABELS[metric]} [{METRIC_UNITS[metric]}] (log scale)")
    ax.set_title(f"{METRIC_LABELS[metric]} vs {axis}")
    ax.legend(fontsize=6, loc="best")


def plot_saturation(saturation: Sequence[SaturationRecord], out_dir: Path,
                    stem: str = "saturation") -> list[Path]:
    """Distinct sampled patterns against the number of samples, with Cover's count."""
    if not saturation:
        return []
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper")
    df = saturation_frame(saturation)
    df["data"] = [f"n={r.n}, d={r.d}, rank={r.rank}" for r in df.itertuples()]
    df = df.drop_duplicates(["data", "samples"])
    fig, ax = plt.subplots(figsize=(5.5, 4.0))
    labels = list(dict.fromkeys(df["data"]))
    palette = dict(zip(labels, sns.color_palette(n_colors=len(labels)), strict=True))
    sns.lineplot(data=df, x="samples", y="distinct", hue="data", palette=palette, marker="o",
                 markersize=3, ax=ax)
    for label, group in df.groupby("data"):
        ax.axhline(group["cover_count"].iloc[0], color=palette[label], linestyle=":",
                   linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("random directions sampled [count] (log scale)")
    ax.set_ylabel("distinct sign patterns [count] (log scale)")
    ax.set_title("pattern saturation (dotted: Cover's count)")
    ax.legend(fontsize=6)
    fig.tight_layout()
    return list(save_figure(fig, out_dir / stem).values())


def write_outputs(records: Sequence[PointRecord], saturation: Sequence[SaturationRecord],
                  fits: Sequence[Fit], out_dir: str | Path, plots: bool = True) -> list[Path]:
    """Write ``points.csv``, ``saturation.csv``, ``fits.csv``, ``fits.md``, ``fits.tex``,
    ``provenance.json`` and the plots into ``out_dir``; the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in (("points.csv", records_frame(records)),
                        ("saturation.csv", saturation_frame(saturation)),
                        ("fits.csv", fits_frame(fits))):
        frame.to_csv(out / name, index=False)
        written.append(out / name)
    from convexbench.experiments.provenance import write_provenance

    written.append(write_provenance(out / "provenance.json"))
    (out / "fits.md").write_text(fits_markdown(fits))
    (out / "fits.tex").write_text(fits_latex(fits))
    written += [out / "fits.md", out / "fits.tex"]
    if plots:
        written += plot_fits(records, fits, out)
        written += plot_saturation(saturation, out)
    return written

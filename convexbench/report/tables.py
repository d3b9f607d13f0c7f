"""Paper-style tables from stored cells, each written as Markdown, LaTeX and CSV."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from convexbench.analysis.claims import (
    ClaimResult,
    cells_with_role,
    claims_frame,
    verified_convex,
)
from convexbench.experiments.store import failure_reason


@dataclass(frozen=True)
class ReportItem:
    """One table or figure of a report: its files (relative to the report) and caption."""

    kind: str  # table | figure
    stem: str
    title: str
    caption: str
    files: tuple[str, ...]


_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}"}


def _latex_escape(text: str) -> str:
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)


def _format(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "--"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if v != 0 and (abs(v) >= 1e5 or abs(v) < 1e-3):
            return f"{v:.3g}"
        return f"{v:.4g}"
    return str(value)


def to_markdown(df: pd.DataFrame) -> str:
    """A GitHub Markdown table (numbers to 4 significant digits)."""
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        cells = [_format(v).replace("|", "\\|").replace("\n", " ") for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def to_latex(df: pd.DataFrame, caption: str, label: str) -> str:
    """A ``table`` environment with a booktabs ``tabular`` (needs ``\\usepackage{booktabs}``)."""
    numeric = [pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
               for c in df.columns]
    align = "".join("r" if num else "l" for num in numeric)
    lines = [r"\begin{table}[ht]", r"\centering", r"\small",
             rf"\caption{{{_latex_escape(caption)}}}", rf"\label{{tab:{label}}}",
             rf"\begin{{tabular}}{{{align}}}", r"\toprule",
             " & ".join(_latex_escape(str(c)) for c in df.columns) + r" \\", r"\midrule"]
    for row in df.itertuples(index=False):
        lines.append(" & ".join(_latex_escape(_format(v)) for v in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def write_table(df: pd.DataFrame, out_dir: str | Path, stem: str, title: str,
                caption: str) -> ReportItem:
    """Write ``stem.md``, ``stem.tex`` and ``stem.csv`` under ``out_dir/tables``."""
    folder = Path(out_dir) / "tables"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}.md").write_text(f"**{title}.** {caption}\n\n{to_markdown(df)}",
                                       encoding="utf-8")
    (folder / f"{stem}.tex").write_text(to_latex(df, f"{title}. {caption}", stem),
                                        encoding="utf-8")
    df.to_csv(folder / f"{stem}.csv", index=False)
    files = tuple(f"tables/{stem}.{ext}" for ext in ("md", "tex", "csv"))
    return ReportItem("table", stem, title, caption, files)


def failed_cells_table(df: pd.DataFrame) -> pd.DataFrame:
    """Every cell that raised or whose solve ended without an answer (time or memory limit,
    crash: ``experiments.store.failure_reason``), with what is known of it: none is dropped
    from a report."""
    if df.empty:
        return pd.DataFrame()
    solve = df["solve_status"] if "solve_status" in df else pd.Series(None, index=df.index)
    why = pd.Series([failure_reason(s, e, t) for s, e, t in
                     zip(df["status"], df["error"], solve, strict=True)], index=df.index)
    bad = df[why.notna()]
    if bad.empty:
        return pd.DataFrame()
    return pd.DataFrame({
        "experiment": bad["experiment"], "kind": bad["kind"], "dataset": bad["dataset"],
        "model": bad["model"], "method": bad["method"], "seed": bad["seed"],
        "beta": bad["beta_spec"], "seconds": bad["cell_seconds"].round(1),
        "why": why[bad.index].astype(str).str.slice(0, 160),
    }).reset_index(drop=True)


def _median_of(runs: pd.DataFrame, column: str) -> float:
    if column not in runs or runs.empty:
        return float("nan")
    return float(pd.to_numeric(runs[column], errors="coerce").median())


def _convex_status(convex: pd.DataFrame, verified: pd.DataFrame) -> str:
    """What the ``convex solve`` column says of one setting's convex cells."""
    if not verified.empty:
        return "verified"
    if convex.empty:
        return "no convex cell"
    solve = (convex["solve_status"] if "solve_status" in convex
             else pd.Series(None, index=convex.index))
    error = convex["error"] if "error" in convex else pd.Series(None, index=convex.index)
    failed = sum(failure_reason(s, e, t) is not None
                 for s, e, t in zip(convex["status"], error, solve, strict=True))
    parts = [f"{len(convex) - failed} unverified" if len(convex) > failed else "",
             f"{failed} failed" if failed else ""]
    return "no verified solve (" + ", ".join(p for p in parts if p) + ")"


def _matching(frame: pd.DataFrame, columns: list[str], values: tuple) -> pd.DataFrame:
    mask = pd.Series(True, index=frame.index)
    for column, value in zip(columns, values, strict=True):
        mask &= frame[column] == value
    return frame[mask]


def _first(frame: pd.DataFrame, column: str) -> Any:
    if column not in frame:
        return np.nan
    values = frame[column].dropna()
    return values.iloc[0] if len(values) else np.nan


def dataset_table(df: pd.DataFrame, role: str, family: str | None = None) -> pd.DataFrame:
    """One row per (dataset, model, beta) of ``role``: sizes, objectives, accuracies, time.

    Convex columns come from the verified convex solve with the lowest objective (verified:
    :func:`~convexbench.analysis.claims.verified_convex`); a setting without one keeps its
    row, with empty convex columns and ``convex solve`` saying why (an unverified objective
    is never reported as the convex optimum). "SGD" accuracies are medians over the SGD
    runs; best/median non-convex objectives are over every SGD and Adam run.
    """
    cells = cells_with_role(df, role)
    if family is not None and not cells.empty:
        cells = cells[cells["dataset"].str.startswith(family + ":")]
    if cells.empty or "kind" not in cells:
        return pd.DataFrame()
    keys = ["experiment", "dataset", "model", "beta_spec"]
    convex_all = cells[cells["kind"] == "convex"]
    base = cells[(cells["kind"] == "baseline") & (cells["status"] == "ok")]
    verified_all = verified_convex(cells)
    settings = list(dict.fromkeys(
        [*convex_all[keys].itertuples(index=False, name=None),
         *base[keys].itertuples(index=False, name=None)]))
    rows = []
    for key in settings:
        convex, verified, runs = (_matching(f, keys, key) for f in (convex_all, verified_all, base))
        sgd = runs[runs["method"] == "sgd"]
        finals = pd.to_numeric(runs["objective"], errors="coerce")
        known = verified if not verified.empty else pd.concat([convex, runs])
        c = verified.sort_values("objective").iloc[0] if not verified.empty else None
        rows.append({
            "dataset": key[1].split(":", 1)[1], "model": key[2],
            "n": _first(known, "n_train"), "d": _first(known, "d"),
            "beta": _first(known, "beta"),
            "P": c["n_patterns"] if c is not None else np.nan,
            "convex solve": _convex_status(convex, verified),
            "convex objective": float(c["objective"]) if c is not None else np.nan,
            "best non-convex": float(finals.min()) if finals.notna().any() else np.nan,
            "median non-convex": float(finals.median()) if finals.notna().any() else np.nan,
            "runs": int(finals.notna().sum()),
            "train acc convex": c.get("train_accuracy", np.nan) if c is not None else np.nan,
            "train acc SGD": _median_of(sgd, "train_accuracy"),
            "test acc convex": c.get("test_accuracy", np.nan) if c is not None else np.nan,
            "test acc SGD": _median_of(sgd, "test_accuracy"),
            "solve time (s)": _total_seconds(c) if c is not None else np.nan,
            "SGD time (s)": _median_of(sgd, "seconds"),
        })
    out = pd.DataFrame(rows).sort_values(["model", "dataset"]).reset_index(drop=True)
    for column in ("n", "d", "P"):
        out[column] = pd.to_numeric(out[column], errors="coerce").astype("Int64")
    return out


def claims_table(claims: list[ClaimResult]) -> pd.DataFrame:
    """The claims of MATH.md §5 with verdicts (holds / partial / not tested / fails) and
    evidence."""
    return claims_frame(claims)


def global_table(claims: list[ClaimResult]) -> pd.DataFrame:
    """The per-setting numbers behind claims 2a and 2b."""
    parts = []
    for claim in claims:
        if claim.id in ("2a", "2b") and claim.details is not None and not claim.details.empty:
            d = claim.details.copy()
            d.insert(0, "claim", claim.id)
            parts.append(d)
    if not parts:
        return pd.DataFrame()
    out = pd.concat(parts, ignore_index=True)
    keep = ["claim", "dataset", "model", "beta", "n", "groups", "convex_objective",
            "best_nonconvex", "median_nonconvex", "sgd_runs", "adam_runs", "margin",
            "allowed_below", "holds"]
    return out[keep].rename(columns={
        "groups": "patterns/atoms", "convex_objective": "convex objective",
        "best_nonconvex": "best non-convex", "median_nonconvex": "median non-convex",
        "sgd_runs": "SGD runs", "adam_runs": "Adam runs",
        "margin": "(best - convex)/|convex|", "allowed_below": "allowed below",
        "holds": "holds"})


def _total_seconds(cell) -> float:
    """Wall time of a convex cell: the whole training (sampling, column generation, final
    solve) when recorded, else the final solve's."""
    total = cell.get("times_total")
    if total is not None and np.isfinite(total):
        return float(total)
    return float(cell.get("times_wall", np.nan))

"""The report index: ``README.md`` linking every table and figure, with provenance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from convexbench.analysis.claims import VERDICT_LEGEND, ClaimResult, claims_summary
from convexbench.report.tables import ReportItem, claims_table, to_markdown


def _provenance_lines(runs: list[dict[str, Any]]) -> list[str]:
    if not runs:
        return ["- no run recorded"]
    last = runs[-1]
    prov = last.get("provenance", {})
    packages = prov.get("packages", {})
    solvers = prov.get("solvers", {})
    git = prov.get("git") or {}
    blas = ", ".join(f"{b.get('internal_api')} {b.get('version') or ''} "
                     f"({b.get('num_threads')} threads)" for b in prov.get("blas", [])) or "n/a"
    commit = git.get("commit", "not a git checkout")
    if git.get("dirty"):
        commit += " (with uncommitted changes)"
    cells_total = last.get("n_cells")
    return [
        f"- spec: `{last.get('spec_name')}`; {len(runs)} runner invocation(s), the last "
        f"started {last.get('started')} and finished {last.get('finished') or 'unfinished'}; "
        f"{cells_total} cells",
        f"- convexbench {packages.get('convexbench')}, git commit `{commit}`",
        f"- Python {prov.get('python')} on {prov.get('platform')}",
        f"- CPU: {prov.get('cpu')} ({prov.get('cpu_count')} logical cores); BLAS: {blas}",
        "- packages: " + ", ".join(f"{k} {v}" for k, v in packages.items()
                                   if v and k != "convexbench"),
        "- solvers: " + (", ".join(f"{k} {v}" for k, v in solvers.items()) or "none"),
        f"- parameters: {prov.get('parameters')}",
    ]


def write_index(out_dir: str | Path, items: list[ReportItem], claims: list[ClaimResult],
                runs: list[dict[str, Any]], title: str, preface: str = "") -> Path:
    """Write ``out_dir/README.md``; returns its path."""
    out = Path(out_dir)
    lines = [f"# {title}", ""]
    if preface:
        lines += [preface, ""]
    lines += [
        "Everything below is what this suite measured on this machine; no number is taken "
        "from the papers (the full text of Ergen & Pilanci 2021 is not available to the "
        "project). Objectives are the full training objectives of MATH.md (summed squared "
        "loss / 2 plus the regularization); beta is the weight actually used.", "",
        "## Claims of MATH.md §5", "",
        f"Summary: {claims_summary(claims)}.", "",
        to_markdown(claims_table(claims)), "",
        VERDICT_LEGEND, "",
    ]
    figures = [i for i in items if i.kind == "figure"]
    tables = [i for i in items if i.kind == "table"]
    if figures:
        lines += ["## Figures", ""]
        for item in figures:
            png, pdf = item.files
            lines += [f"### {item.title}", "", f"![{item.title}]({png})", "",
                      f"{item.caption} ([PNG]({png}), [PDF]({pdf}))", ""]
    if tables:
        lines += ["## Tables", ""]
        for item in tables:
            md, tex, csv = item.files
            lines += [f"- **{item.title}** ([Markdown]({md}), [LaTeX]({tex}), [CSV]({csv})): "
                      f"{item.caption}"]
        lines.append("")
    lines += ["## Provenance", ""] + _provenance_lines(runs) + [""]
    path = out / "README.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path

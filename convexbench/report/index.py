"""The report index: ``README.md`` linking every table and figure, with provenance."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from convexbench.analysis.claims import VERDICT_LEGEND, ClaimResult, claims_summary
from convexbench.report.tables import ReportItem, claims_table, to_markdown


def _duration(run: dict[str, Any]) -> float | None:
    """Seconds from a runner invocation's start to its finish (None if unfinished)."""
    try:
        return (datetime.fromisoformat(run["finished"])
                - datetime.fromisoformat(run["started"])).total_seconds()
    except (KeyError, TypeError, ValueError):
        return None


def _hours(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def _commit(run: dict[str, Any]) -> str:
    git = run.get("provenance", {}).get("git") or {}
    commit = str(git.get("commit", "not a git checkout"))[:10]
    return commit + (" (with uncommitted changes)" if git.get("dirty") else "")


def wall_time_lines(runs: list[dict[str, Any]]) -> list[str]:
    """The run's wall time: the sum over runner invocations (a resumed run has several), and
    each invocation's start, duration, cells run, jobs and commit."""
    durations = [_duration(run) for run in runs]
    total = sum(d for d in durations if d is not None)
    lines = [f"- wall time of the cells: {_hours(total)} in all ({total:.0f} s, the sum over "
             f"{len(runs)} runner invocation(s); building this report and, with `reproduce`, "
             "its scaling sweep come on top)"]
    for run, seconds in zip(runs, durations, strict=True):
        params = run.get("provenance", {}).get("parameters") or {}
        took = "unfinished or interrupted" if seconds is None else _hours(seconds)
        if run.get("interrupted"):
            took += ", interrupted"
        lines.append(f"  - {run.get('started')}: {took}; {run.get('n_run')} cells run "
                     f"({run.get('n_errors') or 0} errors), jobs {params.get('jobs', '?')}, "
                     f"commit `{_commit(run)}`")
    return lines


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
        *wall_time_lines(runs),
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

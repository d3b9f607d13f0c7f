"""Comparing backends on one or several programs: a verified, timed, memory-measured table.

:func:`compare` runs every requested backend on every program (``repeat`` times, each with a
fresh cvxpy problem, isolated in a child process by default), certifies every answer and
returns one row per (problem, backend) with medians over the repetitions.  Backends that
cannot run (not installed, unlicensed, cannot solve the program) are kept as
``unavailable`` rows with the reason.  With ``out`` it writes ``compare.md`` (the report),
``compare.csv`` / ``compare.tex`` (the table), ``compare_runs.csv`` (every repetition),
``compare_summary.csv`` (per backend) and, for several problems, a Dolan-Moré performance
profile ``performance_profile.png``/``.pdf``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from convexbench.analysis.plots import plot_performance_profile
from convexbench.analysis.stats import (
    charge_failures,
    performance_profile,
    shifted_geometric_mean,
)
from convexbench.backends import (
    Backend,
    SolveResult,
    get_preset,
    resolve_backends,
    run_backend,
    safe_info,
    unavailable_result,
)
from convexbench.backends.isolation import DEFAULT_GRACE
from convexbench.backends.run import check_limits
from convexbench.errors import UserError
from convexbench.experiments.provenance import write_provenance
from convexbench.programs.base import ConvexProgram
from convexbench.report.tables import to_latex, to_markdown

TIME_METRICS = ("wall", "solve", "compile+solve", "elapsed")

TABLE_COLUMNS = [
    "problem", "backend", "version", "status", "verified", "status_agrees", "objective",
    "rel_diff_best", "relative_gap", "max_violation", "compile_s", "solve_s", "wall_s",
    "peak_memory_mb", "iterations", "sgm_time_s", "sgm_ratio", "runs", "reason",
]
RUN_COLUMNS = [
    "problem", "backend", "repetition", "version", "status", "raw_status", "verified",
    "status_agrees", "objective", "solver_objective", "relative_gap", "max_violation",
    "build_s", "compile_s", "solve_s", "solve_call_s", "wall_s", "elapsed_s", "certify_s",
    "peak_memory_mb", "memory_baseline_mb", "iterations", "isolated", "message",
]
SUMMARY_COLUMNS = ["backend", "version", "problems", "verified", "failed", "skipped",
                   "sgm_time_s", "sgm_ratio"]


def _as_problems(problems: ConvexProgram | Sequence[ConvexProgram] | Mapping[str, ConvexProgram]
                 ) -> dict[str, ConvexProgram]:
    if isinstance(problems, ConvexProgram):
        return {"problem": problems}
    if isinstance(problems, Mapping):
        named = {str(k): v for k, v in problems.items()}
    else:
        named = {f"problem{i + 1}": p for i, p in enumerate(problems)}
    if not named:
        raise UserError("no problem to compare on")
    for name, program in named.items():
        if not isinstance(program, ConvexProgram):
            raise UserError(f"problem {name!r} is not a convex program")
    return named


def _time_of(result: SolveResult, metric: str) -> float:
    times = result.times
    if metric == "compile+solve":
        return times.get("compile", math.nan) + times.get("solve", math.nan)
    return times.get(metric, math.nan)


def _median(values: pd.Series) -> float:
    data = pd.to_numeric(values, errors="coerce").astype(float)
    data = data[np.isfinite(data)]
    return float(data.median()) if len(data) else math.nan


def _aggregate(runs: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (problem, backend), group in runs.groupby(["problem", "backend"], sort=False):
        statuses = list(dict.fromkeys(group["status"]))
        messages = [m for m in dict.fromkeys(group["message"]) if m]
        rows.append({
            "problem": problem, "backend": backend, "version": group["version"].iloc[0],
            "status": "/".join(statuses),
            "verified": bool(group["verified"].all()),
            "status_agrees": bool(group["status_agrees"].all()),
            "objective": _median(group["objective"]),
            "relative_gap": _median(group["relative_gap"]),
            "max_violation": _median(group["max_violation"]),
            "compile_s": _median(group["compile_s"]), "solve_s": _median(group["solve_s"]),
            "wall_s": _median(group["wall_s"]),
            "peak_memory_mb": float(pd.to_numeric(group["peak_memory_mb"], errors="coerce")
                                    .max()),
            "iterations": _median(group["iterations"]),
            "runs": int(len(group)) if statuses != ["unavailable"] else 0,
            "reason": "; ".join(messages),
        })
    return pd.DataFrame(rows)


def _relative_differences(table: pd.DataFrame) -> pd.Series:
    out = pd.Series(math.nan, index=table.index, dtype=float)
    for _, group in table.groupby("problem", sort=False):
        verified = group.loc[group["verified"], "objective"].dropna()
        if verified.empty:
            continue
        best = float(verified.min())
        out.loc[group.index] = (group["objective"] - best) / max(abs(best), 1e-12)
    return out


def _metric_times(runs: pd.DataFrame, results: list[tuple[str, SolveResult]], metric: str
                  ) -> pd.DataFrame:
    """Median time per (problem, backend) over verified repetitions; NaN if any failed."""
    rows = []
    for problem, result in results:
        rows.append({"problem": problem, "backend": result.backend,
                     "time": _time_of(result, metric), "ok": result.verified,
                     "skipped": result.status == "unavailable"})
    frame = pd.DataFrame(rows)
    grouped = frame.groupby(["problem", "backend"], sort=False)
    return grouped.agg(time=("time", "median"), ok=("ok", "all"), skipped=("skipped", "all"))


def _summaries(per: pd.DataFrame, time_limit: float, shift: float, versions: dict[str, Any]
               ) -> pd.DataFrame:
    rows = []
    for backend, group in per.groupby(level="backend", sort=False):
        ranked = group[~group["skipped"]]
        sgm = math.nan
        if len(ranked):
            sgm = shifted_geometric_mean(
                charge_failures(ranked["time"], ranked["ok"], time_limit), shift)
        rows.append({"backend": backend, "version": versions.get(backend),
                     "problems": int(len(group)), "verified": int(ranked["ok"].sum()),
                     "failed": int((~ranked["ok"]).sum()), "skipped": int(group["skipped"].sum()),
                     "sgm_time_s": sgm})
    summary = pd.DataFrame(rows, columns=SUMMARY_COLUMNS[:-1])
    best = summary.loc[summary["verified"] > 0, "sgm_time_s"].min()
    summary["sgm_ratio"] = summary["sgm_time_s"] / best if best and best > 0 else math.nan
    return summary


def _profile(per: pd.DataFrame) -> pd.DataFrame | None:
    ranked = per[~per["skipped"]]
    if ranked.empty:
        return None
    times = ranked["time"].where(ranked["ok"], np.inf).unstack("backend")
    if len(times) < 2:
        return None
    return performance_profile(times.astype(float))


def compare(
    problems: ConvexProgram | Sequence[ConvexProgram] | Mapping[str, ConvexProgram],
    backends: str | Backend | Sequence[str | Backend] = "all",
    accuracy: str = "medium",
    repeat: int = 1,
    time_limit: float = 300.0,
    threads: int = 1,
    memory_limit_mb: float | None = None,
    shift: float = 10.0,
    isolate: bool | None = True,
    out: str | Path | None = None,
    time_metric: str = "wall",
    grace: float = DEFAULT_GRACE,
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Run ``backends`` on ``problems`` and return one row per (problem, backend).

    Success is a verified certificate at the ``accuracy`` preset's tolerance.  Times are
    medians over ``repeat`` cold runs; ``sgm_time_s`` is the shifted geometric mean (shift
    ``shift`` seconds) of ``time_metric`` over the problems, failures charged at
    ``time_limit``, and ``sgm_ratio`` the same normalized to the best backend (1.0).
    ``DataFrame.attrs`` holds ``runs`` (every repetition), ``summary`` (per backend),
    ``skipped`` (backend -> reason), ``profile`` (or None) and ``files`` (written paths).
    """
    preset = get_preset(accuracy)
    check_limits(time_limit, threads, memory_limit_mb)
    if time_limit is None or not math.isfinite(time_limit):
        raise UserError("compare needs a finite --time-limit (failures are charged at it)")
    if int(repeat) != repeat or repeat < 1:
        raise UserError(f"--repeat must be a positive integer, got {repeat}")
    if not shift >= 0:
        raise UserError(f"--shift must be non-negative, got {shift}")
    if time_metric not in TIME_METRICS:
        raise UserError(f"unknown time metric {time_metric!r}; choose one of "
                        f"{', '.join(TIME_METRICS)}")
    named = _as_problems(problems)
    chosen = resolve_backends(backends)
    infos = {b.name: safe_info(b) for b in chosen}
    say = progress or (lambda message: None)

    results: list[tuple[str, SolveResult]] = []
    run_rows: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    for problem, program in named.items():
        for backend in chosen:
            info = infos[backend.name]
            reason = None if info.available else info.message
            if reason is None:
                try:
                    reason = backend.supports(program)
                except Exception as exc:
                    reason = f"supports() failed: {type(exc).__name__}: {exc}"
                if reason:
                    reason = f"skipped: {reason}"
            if reason:
                skipped.setdefault(backend.name, reason)
                result = unavailable_result(backend.name, info.version, preset, reason,
                                            time_limit)
                results.append((problem, result))
                run_rows.append(result.as_row(problem=problem, repetition=0))
                say(f"{problem} / {backend.name}: {reason}")
                continue
            for repetition in range(1, int(repeat) + 1):
                result = run_backend(program, backend, preset, time_limit=time_limit,
                                     threads=threads, isolate=isolate,
                                     memory_limit_mb=memory_limit_mb, grace=grace,
                                     version=info.version)
                results.append((problem, result))
                run_rows.append(result.as_row(problem=problem, repetition=repetition))
                say(f"{problem} / {backend.name} #{repetition}: {result.status}, "
                    f"verified={result.verified}, {result.times['elapsed']:.2f} s")

    runs = pd.DataFrame(run_rows, columns=RUN_COLUMNS)
    table = _aggregate(runs)
    table["rel_diff_best"] = _relative_differences(table)
    per = _metric_times(runs, results, time_metric)
    versions = {b: infos[b].version for b in infos}
    summary = _summaries(per, time_limit, shift, versions)
    table = table.merge(summary[["backend", "sgm_time_s", "sgm_ratio"]], on="backend",
                        how="left")[TABLE_COLUMNS]
    profile = _profile(per)
    table.attrs.update(runs=runs, summary=summary, skipped=skipped, profile=profile, files={},
                       settings={"accuracy": preset.name, "tolerance": preset.tol,
                                 "repeat": int(repeat), "time_limit": time_limit,
                                 "threads": threads, "memory_limit_mb": memory_limit_mb,
                                 "shift": shift, "isolate": isolate,
                                 "time_metric": time_metric,
                                 "problems": {k: v.describe() for k, v in named.items()}})
    if out is not None:
        table.attrs["files"] = write_comparison(table, out)
    return table


def write_comparison(table: pd.DataFrame, out: str | Path) -> dict[str, str]:
    """Write the report, tables and (for several problems) the performance profile."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create output directory {out}: {exc}") from None
    attrs = table.attrs
    files: dict[str, str] = {}
    table.to_csv(out / "compare.csv", index=False)
    settings = attrs["settings"]
    (out / "compare.tex").write_text(to_latex(
        table.drop(columns=["reason"]), f"Backend comparison at {settings['accuracy']} "
        f"accuracy (tolerance {settings['tolerance']:g})", "backend-comparison"))
    files["table_csv"] = str(out / "compare.csv")
    files["table_tex"] = str(out / "compare.tex")
    attrs["runs"].to_csv(out / "compare_runs.csv", index=False)
    attrs["summary"].to_csv(out / "compare_summary.csv", index=False)
    files["runs_csv"] = str(out / "compare_runs.csv")
    files["provenance"] = str(write_provenance(out / "provenance.json", dict(settings)))
    files["summary_csv"] = str(out / "compare_summary.csv")
    profile = attrs.get("profile")
    if profile is not None:
        for fmt, path in plot_performance_profile(
                profile, out / "performance_profile",
                title=f"Performance profile ({attrs['settings']['time_metric']} time, "
                      f"{attrs['settings']['accuracy']} accuracy)").items():
            files[f"profile_{fmt}"] = str(path)
        profile.to_csv(out / "performance_profile.csv")
        files["profile_csv"] = str(out / "performance_profile.csv")
    report = out / "compare.md"
    report.write_text(comparison_markdown(table, has_profile=profile is not None))
    files["report_md"] = str(report)
    return files


def comparison_markdown(table: pd.DataFrame, has_profile: bool = False) -> str:
    """The Markdown report: settings, the table, the per-backend summary, skipped backends."""
    attrs = table.attrs
    s = attrs["settings"]
    memory = "none" if s["memory_limit_mb"] is None else f"{s['memory_limit_mb']:g} MB"
    lines = [
        "# Backend comparison", "",
        f"- accuracy: `{s['accuracy']}` (a run succeeds only when the independent certificate "
        f"holds at relative tolerance {s['tolerance']:g})",
        f"- time limit: {s['time_limit']:g} s (hard kill when isolated), memory limit: {memory},"
        f" threads: {s['threads']}, isolated: {s['isolate']}",
        f"- repetitions: {s['repeat']} (fresh cvxpy problem each; times are medians)",
        f"- shifted geometric mean: `{s['time_metric']}` time, shift {s['shift']:g} s, "
        f"failures charged at the time limit; `sgm_ratio` 1.0 = best backend",
        "", "## Results", "",
        to_markdown(table.drop(columns=["reason"])), "",
        "## Summary per backend", "", to_markdown(attrs["summary"]), "",
        "## Skipped backends", "",
    ]
    skipped = attrs["skipped"]
    lines += [f"- **{name}**: {reason}" for name, reason in skipped.items()] or ["none"]
    notes = table[(table["status"] != "unavailable") & (table["reason"] != "")]
    if len(notes):
        lines += ["", "## Messages", ""]
        lines += [f"- {row.problem} / **{row.backend}**: {row.reason}"
                  for row in notes.itertuples()]
    if has_profile:
        lines += ["", "## Performance profile", "",
                  "![Dolan-Moré performance profile](performance_profile.png)"]
    lines += ["", "`verified`: the certificate (recomputed objective, cone violation, dual "
              "gap) holds at the tolerance; `status_agrees`: the solver's own `optimal` "
              "matched that verdict; `rel_diff_best`: (objective - best verified objective) "
              "/ |best|.", ""]
    return "\n".join(lines)

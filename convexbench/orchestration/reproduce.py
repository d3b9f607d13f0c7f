"""The recipes behind ``convexbench reproduce``: run a packaged spec, then build the report.

``quick`` uses bundled data only (synthetic, the bundled UCI sets and Fashion-MNIST pools)
and takes minutes on 2 cores; ``full`` needs ``CONVEXBENCH_DATA_DIR`` or network access.
Results go to ``<out>/results`` so an interrupted reproduction resumes where it stopped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from convexbench.analysis.claims import FAILS, ClaimResult
from convexbench.errors import UserError
from convexbench.experiments.runner import RunSummary, run_spec
from convexbench.experiments.spec import Spec, load_spec
from convexbench.report import Report, build_report
from convexbench.scaling.run import run_scaling_full, run_scaling_quick

RECIPES = {
    "quick": "bundled data only; a few minutes on 2 cores",
    "full": "more datasets, patterns and runs; needs CONVEXBENCH_DATA_DIR or downloads",
}


@dataclass(frozen=True)
class Reproduction:
    """What a reproduction ran and wrote."""

    mode: str
    summary: RunSummary
    report: Report
    seconds: float

    @property
    def claims(self) -> tuple[ClaimResult, ...]:
        """The verdicts on the claims."""
        return tuple(self.report.claims)

    @property
    def failed_claims(self) -> tuple[ClaimResult, ...]:
        """The claims some evidence contradicts; ``partial`` and ``not tested`` (missing
        evidence) are not failures."""
        return tuple(c for c in self.claims if c.verdict == FAILS)


def reproduce(mode: str = "quick", out: str | Path = "reports", jobs: int = 2,
              results_dir: str | Path | None = None, resume: bool = True,
              progress: bool = True, executor: str = "local",
              scheduler: object = None, spec: Spec | None = None) -> Reproduction:
    """Run the ``mode`` recipe (or ``spec``, e.g. a smaller one in tests) into ``out``."""
    if mode not in RECIPES:
        raise UserError(f"unknown recipe {mode!r}; choose one of {', '.join(RECIPES)}")
    start = time.perf_counter()
    out = Path(out)
    results = Path(results_dir) if results_dir is not None else out / "results"
    spec_is_packaged = spec is None
    spec = spec if spec is not None else load_spec(mode)
    summary = run_spec(spec, results, jobs=jobs, executor=executor, scheduler=scheduler,
                       resume=resume, progress=progress)
    if summary.interrupted:
        raise KeyboardInterrupt
    preface = (f"Output of `convexbench reproduce --{mode}` (spec `{mode}`: {RECIPES[mode]}). "
               f"Raw results: `{results}` (SQLite, one row per cell; "
               f"`convexbench report {results}` rebuilds this page).")
    report = build_report(results, out, title=f"convexbench reproduce --{mode}",
                          preface=preface)
    if spec_is_packaged:
        add_scaling_section(mode, out, progress)
    return Reproduction(mode, summary, report, time.perf_counter() - start)


def add_scaling_section(mode: str, out: Path, progress: bool = True) -> None:
    """Run the complexity sweep of ``mode`` into ``out/scaling`` and link it from the index."""
    sweep = run_scaling_quick if mode == "quick" else run_scaling_full
    directory = out / "scaling"
    result = sweep(directory, progress=print if progress else None)
    fits = (directory / "fits.md").read_text() if (directory / "fits.md").exists() else ""
    summary = result.summary()
    lines = [
        "",
        "## Complexity (polynomial-time claims, MATH.md §4)",
        "",
        f"`convexbench scaling` sweep of `reproduce --{mode}` (raw points: "
        "[points.csv](scaling/points.csv); fits: [Markdown](scaling/fits.md), "
        "[LaTeX](scaling/fits.tex), [CSV](scaling/fits.csv)). Log-log exponents with 95% "
        "bootstrap confidence intervals next to the theoretical degree; the pattern count in n "
        "must grow with degree r - 1 for data of rank r.",
        "",
    ]
    for name, caption in (
        ("scaling_n", "Patterns, time and memory against n (log-log, fitted lines)."),
        ("scaling_P", "Time and memory against the number of patterns P (log-log)."),
        ("saturation", "Distinct sampled patterns against the number of samples, with "
                       "Cover's count."),
    ):
        if (directory / f"{name}.png").exists():
            lines += [f"![{caption}](scaling/{name}.png)", "",
                      f"{caption} ([PNG](scaling/{name}.png), [PDF](scaling/{name}.pdf))", ""]
    lines += [
        fits,
        "",
        f"{summary['points']} grid points; exact pattern counts equal to Cover's count at "
        f"{summary['cover_count_matches']}; {summary['verified']}/{summary['solves']} solves "
        f"verified; limits hit: {summary['limits']}.",
        "",
    ]
    with open(out / "README.md", "a", encoding="utf-8") as index:
        index.write("\n".join(lines))

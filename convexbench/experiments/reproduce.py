"""The recipes behind ``convexbench reproduce``: run a packaged spec, then build the report.

``quick`` uses bundled data only (synthetic, the bundled UCI sets and Fashion-MNIST pools)
and takes minutes on 2 cores; ``full`` needs ``CONVEXBENCH_DATA_DIR`` or network access.
Results go to ``<out>/results`` so an interrupted reproduction resumes where it stopped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from convexbench.errors import UserError
from convexbench.experiments.runner import RunSummary, run_spec
from convexbench.experiments.spec import Spec, load_spec

RECIPES = {
    "quick": "bundled data only; a few minutes on 2 cores",
    "full": "more datasets, patterns and runs; needs CONVEXBENCH_DATA_DIR or downloads",
}


@dataclass(frozen=True)
class Reproduction:
    """What a reproduction ran and wrote."""

    mode: str
    summary: RunSummary
    report: object  # convexbench.report.Report
    seconds: float


def reproduce(mode: str = "quick", out: str | Path = "reports", jobs: int = 2,
              results_dir: str | Path | None = None, resume: bool = True,
              progress: bool = True, executor: str = "local",
              scheduler: object = None, spec: Spec | None = None) -> Reproduction:
    """Run the ``mode`` recipe (or ``spec``, e.g. a smaller one in tests) into ``out``."""
    from convexbench.report import build_report

    if mode not in RECIPES:
        raise UserError(f"unknown recipe {mode!r}; choose one of {', '.join(RECIPES)}")
    start = time.perf_counter()
    out = Path(out)
    results = Path(results_dir) if results_dir is not None else out / "results"
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
    return Reproduction(mode, summary, report, time.perf_counter() - start)

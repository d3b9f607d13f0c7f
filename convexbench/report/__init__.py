"""Reports: paper-style tables (Markdown, LaTeX, CSV), figures (PNG, PDF) and an index."""

from convexbench.report.build import Report, build_report

__all__ = ["Report", "build_report"]

"""What every backend is and how the accuracy presets map onto its options.

Used by ``convexbench backends [--json]`` and to regenerate the table in
``convexbench/backends/README.md`` (``python -m convexbench.backends.mapping``).
"""

from __future__ import annotations

from typing import Any

from convexbench.backends.base import Backend
from convexbench.backends.presets import PRESETS
from convexbench.backends.registry import all_backends, safe_info

TIME_PLACEHOLDER = 60.0  # the time limit shown in example option dicts


def describe_backend(backend: Backend, threads: int = 1) -> dict[str, Any]:
    """Installed, version, licence, cones, option names and per-preset options."""
    info = safe_info(backend)
    try:
        presets = {name: backend.preset_options(preset, TIME_PLACEHOLDER, threads)
                   for name, preset in PRESETS.items()}
        names = backend.option_names()
    except Exception as exc:
        presets, names = {}, {"error": f"{type(exc).__name__}: {exc}"}
    return {
        "name": info.name,
        "kind": info.kind,
        "installed": info.installed,
        "available": info.available,
        "version": info.version,
        "licence": info.licence,
        "size_limited": info.size_limited,
        "message": info.message,
        "cones": list(info.cones),
        "time_limit": _attr(backend, "time_limit_summary"),
        "time_limit_enforcement": _attr(backend, "time_limit_enforcement"),
        "threads_option": names.get("threads"),
        "option_names": names,
        "presets": presets,
        "notes": info.notes,
    }


def _attr(backend: Backend, name: str) -> str:
    try:
        return str(getattr(backend, name))
    except Exception as exc:  # a broken backend is described, not raised
        return f"unknown ({type(exc).__name__})"


def describe_backends(include_test: bool | None = None, threads: int = 1) -> list[dict[str, Any]]:
    return [describe_backend(b, threads) for b in all_backends(include_test).values()]


def preset_summary() -> dict[str, dict[str, Any]]:
    return {name: {"certificate_tolerance": p.tol, "solver_tolerance": p.solver_tol,
                   "max_iter": p.max_iter} for name, p in PRESETS.items()}


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_fmt(v)}" for k, v in value.items())
    return str(value)


def mapping_markdown(rows: list[dict[str, Any]] | None = None) -> str:
    """The preset mapping as a Markdown table (one row per backend and preset)."""
    rows = describe_backends(include_test=False) if rows is None else rows
    lines = ["| backend | preset | options passed to the solver | time limit | threads |",
             "|---|---|---|---|---|"]
    for row in rows:
        names = row["option_names"]
        for preset, options in row["presets"].items():
            shown = {k: v for k, v in options.items()
                     if k not in (names.get("time_limit"), names.get("threads"))}
            if names.get("nested_in") and names["nested_in"] in shown:
                inner = {k: v for k, v in shown.pop(names["nested_in"]).items()
                         if k not in (names.get("time_limit"), names.get("threads"))}
                shown[names["nested_in"]] = "{" + _fmt(inner) + "}"
            lines.append(f"| {row['name']} | {preset} | `{_fmt(shown) or 'solver defaults'}` | "
                         f"{row['time_limit']} | {row['threads_option'] or '-'} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(mapping_markdown())

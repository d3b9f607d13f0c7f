"""Licence checks for the commercial solvers, run in a subprocess with a short timeout.

A missing or broken licence must never crash the suite (some licence managers hang or
abort), so every check runs ``python -c <snippet>`` in a child process that prints one JSON
line.  Results are cached per process.  ``CONVEXBENCH_LICENSE_TIMEOUT`` (seconds, default 20)
bounds each check.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

SIZE_LIMIT = 2000  # variables and constraints allowed by the size-limited pip licences


@dataclass(frozen=True)
class LicenseState:
    """Whether a solver can be used, and the message to show the user."""

    usable: bool
    size_limited: bool
    message: str  # "licensed", "no MOSEK license (...)", "size-limited: Gurobi pip license"


_MOSEK = """
import json, mosek
try:
    env = mosek.Env()
    env.checkoutlicense(mosek.feature.pton)
    print(json.dumps({"ok": True}))
except Exception as exc:
    print(json.dumps({"ok": False, "reason": str(exc).splitlines()[0][:200]}))
"""

_GUROBI = """
import json, gurobipy as gp
try:
    env = gp.Env(empty=True); env.setParam("OutputFlag", 0); env.start()
    model = gp.Model(env=env)
    x = model.addVars(__N__)
    model.addConstr(x.sum() >= 1)
    model.optimize()
    print(json.dumps({"ok": True}))
except gp.GurobiError as exc:
    size = getattr(exc, "errno", None) == 10010 or "size-limited" in str(exc).lower()
    print(json.dumps({"ok": size, "size_limited": size, "reason": str(exc).splitlines()[0][:200]}))
""".replace("__N__", str(SIZE_LIMIT + 1))

_COPT = """
import json, coptpy as cp
try:
    env = cp.Envr()
    model = env.createModel("check")
    model.setParam("Logging", 0)
    x = model.addVars(__N__)
    model.addConstr(cp.quicksum(x[i] for i in range(__N__)) >= 1)
    model.solve()
    print(json.dumps({"ok": True}))
except Exception as exc:
    text = str(exc)
    size = "size" in text.lower() or "limit" in text.lower()
    print(json.dumps({"ok": size, "size_limited": size, "reason": text.splitlines()[0][:200]}))
""".replace("__N__", str(SIZE_LIMIT + 1))

_SNIPPETS = {"mosek": _MOSEK, "gurobi": _GUROBI, "copt": _COPT}
_LABELS = {"mosek": "MOSEK", "gurobi": "Gurobi", "copt": "COPT"}


def _mosek_license_files() -> list[Path]:
    files = [Path(p) for p in os.environ.get("MOSEKLM_LICENSE_FILE", "").split(os.pathsep) if p]
    return files + [Path.home() / "mosek" / "mosek.lic"]


def _run_snippet(snippet: str) -> dict:
    timeout = float(os.environ.get("CONVEXBENCH_LICENSE_TIMEOUT", "20"))
    try:
        proc = subprocess.run(
            [sys.executable, "-c", snippet], capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return {"ok": False, "reason": f"licence check timed out after {timeout:g} s"}
    for line in reversed(proc.stdout.splitlines()):
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            continue
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return {"ok": False, "reason": f"licence check failed (exit {proc.returncode}): {tail[:200]}"}


@functools.cache
def license_state(solver: str) -> LicenseState:
    """The licence state of ``solver`` ("mosek", "gurobi" or "copt"); cached."""
    label = _LABELS[solver]
    if solver == "mosek" and not any(path.is_file() for path in _mosek_license_files()):
        server = os.environ.get("MOSEKLM_LICENSE_FILE", "")
        if not any("@" in part for part in server.split(os.pathsep)):
            return LicenseState(
                False, False,
                f"no {label} license (no license file: set MOSEKLM_LICENSE_FILE or "
                "put mosek.lic in ~/mosek)",
            )
    answer = _run_snippet(_SNIPPETS[solver])
    if answer.get("size_limited"):
        return LicenseState(
            True, True,
            f"size-limited: {label} pip license (at most {SIZE_LIMIT} variables and "
            f"{SIZE_LIMIT} constraints)",
        )
    if answer.get("ok"):
        return LicenseState(True, False, "licensed")
    return LicenseState(False, False, f"no {label} license ({answer.get('reason', 'unknown')})")


def size_limit_reason(name: str, size: dict[str, int]) -> str | None:
    """Why a program of ``size`` is too large for a size-limited licence, or None."""
    variables = size.get("variables", 0) + size.get("soc_cones", 0)
    constraints = size.get("linear_rows", 0) + size.get("soc_cones", 0)
    if variables > SIZE_LIMIT or constraints > SIZE_LIMIT:
        return (
            f"{name} has a size-limited license ({SIZE_LIMIT} variables/constraints); the "
            f"program needs about {variables} variables and {constraints} constraints"
        )
    return None

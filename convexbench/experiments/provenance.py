"""Provenance of a run: versions, solvers, BLAS threads, CPU, git commit, parameters, time."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("convexbench", "numpy", "scipy", "cvxpy", "pandas", "pyarrow", "matplotlib",
            "seaborn", "threadpoolctl", "dask", "distributed")
SOLVER_PACKAGES = ("clarabel", "ecos", "scs", "cvxopt", "osqp", "mosek", "gurobipy", "highspy",
                   "piqp", "qoco")


def now() -> str:
    """The current UTC time in ISO 8601 with seconds."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    """The CPU model name (``/proc/cpuinfo`` on Linux, else :func:`platform.processor`)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas_info() -> list[dict[str, Any]]:
    """BLAS/OpenMP libraries loaded and their thread counts (via threadpoolctl)."""
    from threadpoolctl import threadpool_info

    keep = ("user_api", "internal_api", "num_threads", "version", "prefix")
    return [{k: info.get(k) for k in keep} for info in threadpool_info()]


def git_commit(start: Path | None = None) -> dict[str, Any] | None:
    """Commit and dirty flag of the git checkout holding the package, if any (dirty: a
    tracked file is modified; untracked files, e.g. a run's output folder, do not count)."""
    folder = start or Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"],
                                capture_output=True, text=True, timeout=10, check=True)
        status = subprocess.run(["git", "-C", str(folder), "status", "--porcelain",
                                 "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}


def backend_versions() -> dict[str, Any]:
    """Every backend the suite knows, with installed/available flags and version."""
    from convexbench.backends import all_backends

    out: dict[str, Any] = {}
    for name, backend in all_backends().items():
        try:
            info = backend.info()
            out[name] = {"installed": info.installed, "available": info.available,
                         "version": info.version}
        except Exception as exc:  # a broken optional solver must not stop the run
            out[name] = {"error": str(exc)}
    return out


def collect(parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything needed to tell how a result was produced."""
    return {
        "timestamp": now(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "packages": {name: _version(name) for name in PACKAGES},
        "solvers": {name: v for name in SOLVER_PACKAGES if (v := _version(name))},
        "backends": backend_versions(),
        "blas": blas_info(),
        "git": git_commit(),
        "argv": list(sys.argv),
        "parameters": parameters or {},
    }


def write_provenance(path: str | Path, parameters: dict[str, Any] | None = None) -> Path:
    """Write :func:`collect` as JSON to ``path`` (e.g. beside a table or a sweep)."""
    import json

    path = Path(path)
    path.write_text(json.dumps(collect(parameters), indent=2, default=str) + "\n")
    return path

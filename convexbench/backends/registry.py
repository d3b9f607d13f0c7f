"""Every known backend by name: cvxpy solvers, the native solver, scnn, test backends.

The native backend (``convexbench.backends.native``) is imported lazily and defensively: if
it is missing or fails to import, it is listed as unavailable with the reason and every other
backend still works.
"""

from __future__ import annotations

import functools

from convexbench.backends.base import Backend, BackendInfo, RawRun
from convexbench.backends.cvxpy_conic import cvxpy_backends
from convexbench.backends.presets import Preset
from convexbench.backends.scnn import scnn_backends
from convexbench.backends.testing import TEST_BACKENDS, test_backends_enabled
from convexbench.errors import UnavailableError
from convexbench.programs.base import ConvexProgram


class MissingBackend(Backend):
    """A placeholder for a backend whose code could not be loaded."""

    def __init__(self, name: str, reason: str, kind: str = "native"):
        self.name = name
        self.reason = reason
        self.kind = kind

    def info(self) -> BackendInfo:
        return BackendInfo(self.name, False, None, False, f"unavailable: {self.reason}",
                           (), kind=self.kind)

    @property
    def time_limit_enforcement(self) -> str:
        return "n/a (unavailable)"

    @property
    def time_limit_summary(self) -> str:
        return "-"

    def preset_options(self, preset: Preset, time_limit: float | None = None, threads: int = 1
                       ) -> dict:
        return {}

    def run(self, program: ConvexProgram, preset: Preset, time_limit: float | None = None,
            threads: int = 1) -> RawRun:
        raise UnavailableError(f"backend {self.name} is unavailable: {self.reason}")


def _native() -> Backend:
    try:
        from convexbench.backends.native import NativeBackend
    except ModuleNotFoundError as exc:
        if exc.name == "convexbench.backends.native":
            return MissingBackend("native", "native backend not installed "
                                            "(convexbench.backends.native is missing)")
        return MissingBackend("native", f"native backend failed to import: {exc}")
    except Exception as exc:  # a broken module must not break the other backends
        return MissingBackend("native", f"native backend failed to import: "
                                        f"{type(exc).__name__}: {exc}")
    try:
        backend = NativeBackend()
    except Exception as exc:
        return MissingBackend("native", f"native backend failed to start: "
                                        f"{type(exc).__name__}: {exc}")
    if not getattr(backend, "name", None):
        backend.name = "native"
    return backend


@functools.lru_cache(maxsize=1)
def _production_backends() -> dict[str, Backend]:
    backends: dict[str, Backend] = dict(cvxpy_backends())
    native = _native()
    backends[native.name] = native
    backends.update(scnn_backends())  # listed as unavailable, with the reason, without scnn
    return backends


def all_backends(include_test: bool | None = None) -> dict[str, Backend]:
    """Every known backend by name; test backends only when enabled (env or argument)."""
    backends = dict(_production_backends())
    if include_test or (include_test is None and test_backends_enabled()):
        backends.update(TEST_BACKENDS)
    return backends


def default_backend_names() -> list[str]:
    """The names that ``--backends all`` means (never the test backends)."""
    return list(_production_backends())


def get_backend(name: str | Backend) -> Backend:
    """The backend called ``name`` (an :class:`UnavailableError` for an unknown name)."""
    if isinstance(name, Backend):
        return name
    backends = all_backends()
    if name not in backends:
        raise UnavailableError(
            f"unknown backend {name!r}; known: {', '.join(default_backend_names())}")
    return backends[name]


def accepts_warm_start(name: str | Backend) -> bool:
    """Whether the backend starts from a warm start; False for an unknown name (the solve
    reports that with its own message)."""
    try:
        return get_backend(name).accepts_warm_start
    except UnavailableError:
        return False


def safe_info(backend: Backend) -> BackendInfo:
    """``backend.info()``, or an "unavailable" record if it raises."""
    try:
        return backend.info()
    except Exception as exc:
        return BackendInfo(backend.name, False, None, False,
                           f"unavailable: info() failed: {type(exc).__name__}: {exc}", (),
                           kind=getattr(backend, "kind", "backend"))


def resolve_backends(spec: str | Backend | list[str | Backend] | tuple) -> list[Backend]:
    """``"all"``, ``"a,b"`` or a list of names/backends -> backends (unknown names raise).

    ``all`` stands for every production backend (never the test backends) and may be mixed
    with further names, e.g. ``"all,test-abort"``.
    """
    if isinstance(spec, Backend):
        spec = [spec]
    elif isinstance(spec, str):
        spec = [part.strip() for part in spec.split(",") if part.strip()]
    out: list[Backend] = []
    seen: set[str] = set()
    for item in spec:
        expanded = ([all_backends()[name] for name in default_backend_names()]
                    if item == "all" else [get_backend(item)])
        for backend in expanded:
            if backend.name not in seen:
                seen.add(backend.name)
                out.append(backend)
    if not out:
        raise UnavailableError("no backend given")
    return out

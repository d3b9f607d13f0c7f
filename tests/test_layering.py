"""The layering of the package, read from the source with ``ast`` (imports inside functions
included): no import cycle between subpackages (a top-level module counts as a unit of its
own), and no module importing a private name (or a private module of another subpackage)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import convexbench

ROOT = Path(convexbench.__file__).parent


def _module_name(path: Path) -> str:
    parts = ["convexbench", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _unit(module: str) -> str | None:
    """The subpackage or top-level module that ``module`` belongs to (None: the root)."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else None


def _imports() -> list[tuple[Path, int, str, str]]:
    """(file, line, importing module, imported module or module.name) for every import of a
    convexbench module anywhere in the package."""
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        module = _module_name(path)
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found += [(path, node.lineno, module, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                found += [(path, node.lineno, module, f"{target}.{alias.name}")
                          for alias in node.names]
    return [f for f in found if f[3].split(".")[0] == "convexbench"]


def _target_unit(imported: str) -> str | None:
    """The unit of ``convexbench.a.b.name``: ``from convexbench import data`` is the data
    subpackage, ``from convexbench import __version__`` the root (None)."""
    parts = imported.split(".")
    if len(parts) < 2:
        return None
    head = parts[1]
    if (ROOT / head).is_dir() or (ROOT / f"{head}.py").is_file():
        return f"convexbench.{head}"
    return None


def import_graph() -> dict[str, dict[str, list[str]]]:
    """unit -> imported unit -> the places ("file:line") of those imports."""
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path, line, module, imported in _imports():
        source, target = _unit(module), _target_unit(imported)
        if source is None or target is None or source == target:
            continue
        graph[source][target].append(f"{path.relative_to(ROOT.parent)}:{line}")
    return graph


def _strongly_connected(graph: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """Tarjan's components of more than one unit."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_the_graph_sees_imports_inside_functions() -> None:
    graph = import_graph()
    # cli/reproduce.py imports the orchestration only inside run()
    assert "convexbench.orchestration" in graph["convexbench.cli"]
    assert "convexbench.experiments" in graph["convexbench.orchestration"]


def test_no_import_cycle_between_subpackages() -> None:
    graph = import_graph()
    cycles = []
    for component in _strongly_connected(graph):
        edges = [f"{a} -> {b} ({', '.join(graph[a][b][:3])})"
                 for a in component for b in component if b in graph.get(a, {})]
        cycles.append("cycle between " + ", ".join(component) + ":\n  " + "\n  ".join(edges))
    assert not cycles, "\n".join(cycles)


def test_orchestration_sits_above_experiments_scaling_and_report() -> None:
    graph = import_graph()
    for lower in ("experiments", "scaling", "report", "analysis"):
        assert "convexbench.orchestration" not in graph.get(f"convexbench.{lower}", {})
    assert "convexbench.report" not in graph.get("convexbench.experiments", {})
    assert "convexbench.scaling" not in graph.get("convexbench.experiments", {})


def test_no_module_imports_a_private_name() -> None:
    bad = []
    for path, line, module, imported in _imports():
        *target, name = imported.split(".")
        where = f"{path.relative_to(ROOT.parent)}:{line}"
        if name.startswith("_") and not name.startswith("__"):
            bad.append(f"{where}: {module} imports {name} from {'.'.join(target)}")
        private = [p for p in target if p.startswith("_") and not p.startswith("__")]
        if private and _unit(".".join(target)) != _unit(module):
            bad.append(f"{where}: {module} imports the private module {'.'.join(target)}")
    assert not bad, "\n".join(bad)


def test_cycle_finder_reports_a_cycle() -> None:
    graph = {"a": {"b": ["x:1"]}, "b": {"c": ["x:2"]}, "c": {"a": ["x:3"]}, "d": {"a": ["x:4"]}}
    assert _strongly_connected(graph) == [["a", "b", "c"]]

"""The project's import graph, read from the source with `ast` (nothing is imported).

A module's edges are the project modules it imports at run time: at module level
and inside functions and classes alike. An import moved into a function still
makes the module depend on the other one at run time, so it does not break a
cycle, it only hides it (the decision of tests/unit/test_architecture.py). Imports
under `if TYPE_CHECKING:` are left out: they never run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("shared", "triggers", "activities", "orchestrators", "devhost", "localbatch", "stack", "bench",
            "renderctl")
TOP_MODULES = ("function_app",)


def project_modules(root: Path = ROOT) -> dict[str, Path]:
    """Dotted name → source file, for every module of the project's packages."""
    modules: dict[str, Path] = {}
    for name in TOP_MODULES:
        if (root / f"{name}.py").exists():
            modules[name] = root / f"{name}.py"
    for package in PACKAGES:
        base = root / package
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if any(p.startswith(".") or p in ("node_modules", "results") for p in parts):
                continue
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _runtime_imports(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth, except those under `if TYPE_CHECKING:`."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _runtime_imports(node.orelse)
        else:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.stmt):
                    yield from _runtime_imports([child])
                elif isinstance(child, ast.excepthandler | ast.match_case):
                    yield from _runtime_imports(child.body)


def _resolve_relative(module: str, is_package: bool, level: int, target: str | None) -> str:
    parts = module.split(".")
    base = parts if is_package else parts[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join([*base, target] if target else base)


def _imports(module: str, path: Path) -> Iterator[tuple[str, list[str]]]:
    """(module imported, names taken from it) for each run-time import: `import a.b` is ("a.b", [])."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in _runtime_imports(tree.body):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif node.level:
            yield (_resolve_relative(module, path.name == "__init__.py", node.level, node.module),
                   [a.name for a in node.names])
        else:
            yield node.module or "", [a.name for a in node.names]


def imported_modules(module: str, path: Path) -> set[str]:
    """The modules the module imports at run time (`from a import b` counts as a)."""
    return {base for base, _ in _imports(module, path)}


def imported_names(module: str, path: Path) -> set[str]:
    """Every dotted name the module imports at run time (modules, or module.attribute)."""
    names: set[str] = set()
    for base, taken in _imports(module, path):
        names.add(base)
        names |= {f"{base}.{name}" for name in taken}
    return names


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """A small source tree for testing the checks themselves."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _with_parents(name: str, modules: dict[str, Path]) -> set[str]:
    """Importing a.b.c loads a and a.b first: each is an edge too."""
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)} & modules.keys()


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    modules = project_modules(root)
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        edges: set[str] = set()
        for name in imported_names(module, path):
            edges |= _with_parents(name, modules)
        edges.discard(module)
        # A package's own parents are loaded before it, not by it.
        graph[module] = {e for e in edges if not module.startswith(e + ".")}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(start: str) -> None:  # iterative: a deep chain must not hit the recursion limit
        nonlocal counter
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            advanced = False
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        node = todo.pop()
        for nxt in graph.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen

"""The project's import graph, read from the source with ``ast`` (nothing is imported): imports
run one way (no cycle between modules) and no private name (``_x``) crosses a module boundary.

Every import counts, also one inside a function: a lazy import hides a cycle, it does not remove
it. Imports under ``if TYPE_CHECKING:`` do not count (they never run). ``from pkg import name``
is an edge to ``pkg.name`` when that is a module, else to ``pkg``.
"""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("postpulse", "orchestration", "assets", "resources", "sql", "tests", "benchmarks")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "__pycache__" not in path.parts:
                modules[_module_name(path)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_statements(body: list[ast.stmt]):
    """Every statement, nested ones too, except the bodies of ``if TYPE_CHECKING:`` blocks
    (imports are statements: expressions need no visit, which keeps this fast)."""
    stack = list(body)
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        for name in ("body", "orelse", "finalbody", "handlers", "cases"):
            stack.extend(getattr(node, name, ()) or ())


def _absolute(module: str, is_package: bool, level: int, target: str | None) -> str:
    if level == 0:
        return target or ""
    base = module.split(".")
    if not is_package:
        base.pop()
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


class ImportGraph:
    def __init__(self) -> None:
        self.modules = project_modules()
        self.edges: dict[str, set[str]] = {m: set() for m in self.modules}
        self.private_imports: list[str] = []
        for module, path in self.modules.items():
            self._read(module, path)

    def _target(self, name: str) -> str | None:
        """The project module ``name`` denotes (or its nearest enclosing module), if any."""
        while name:
            if name in self.modules:
                return name
            name = name.rpartition(".")[0]
        return None

    def _read(self, module: str, path: Path) -> None:
        is_package = path.name == "__init__.py"
        source_text = path.read_text(encoding="utf-8")
        tree = ast.parse(source_text, str(path))
        imported_modules: dict[str, str] = {}  # local name -> project module
        where = f"{path.relative_to(ROOT)}"
        for node in _runtime_statements(tree.body):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    target = self._target(alias.name)
                    if target is None:
                        continue
                    self._edge(module, target)
                    imported_modules[alias.asname or alias.name] = alias.name
            elif isinstance(node, ast.ImportFrom):
                source = _absolute(module, is_package, node.level, node.module)
                if self._target(source) is None:
                    continue
                for alias in node.names:
                    submodule = f"{source}.{alias.name}"
                    if submodule in self.modules:
                        self._edge(module, submodule)
                        imported_modules[alias.asname or alias.name] = submodule
                        continue
                    self._edge(module, self._target(source))
                    if _private(alias.name):
                        self.private_imports.append(
                            f"{where}:{node.lineno}: from {source} import {alias.name}"
                        )
        # ``module._name`` on an imported project module
        for local, target in imported_modules.items():
            pattern = re.compile(rf"(?<![\w.]){re.escape(local)}\.(_[A-Za-z]\w*)")
            for match in pattern.finditer(source_text):
                if not match.group(1).startswith("__"):
                    line = source_text.count("\n", 0, match.start()) + 1
                    self.private_imports.append(f"{where}:{line}: {match.group(0)} (module {target})")

    def _edge(self, source: str, target: str) -> None:
        if target != source:
            self.edges[source].add(target)

    def cycles(self) -> list[list[str]]:
        return strongly_connected(self.edges)

    def area_edges(self) -> dict[str, set[str]]:
        """Imports between areas (``postpulse.<area>``, or a top-level folder such as ``assets``).
        ``__main__`` modules are entry points, like the CLI, and may import anything."""
        edges: dict[str, set[str]] = {}
        for source, targets in self.edges.items():
            if source.endswith(".__main__"):
                continue
            for target in targets:
                a, b = area_of(source), area_of(target)
                edges.setdefault(a, set())
                edges.setdefault(b, set())
                if a != b:
                    edges[a].add(b)
        return edges


def area_of(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "postpulse" else parts[0]


def strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0

    def visit(root: str) -> None:
        nonlocal counter
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
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

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return found


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_imports_run_one_way():
    cycles = ImportGraph().cycles()
    assert not cycles, "modules that import each other (directly or through others):\n" + "\n".join(
        " <-> ".join(c) for c in cycles
    )


def test_areas_import_one_way():
    cycles = strongly_connected(ImportGraph().area_edges())
    assert not cycles, "areas that import each other (move the shared part to the lower one):\n" + "\n".join(
        " <-> ".join(c) for c in cycles
    )


def test_no_private_name_crosses_a_module_boundary():
    found = ImportGraph().private_imports
    assert not found, "private names used outside their module (give them a public name):\n" + "\n".join(
        found
    )


def test_the_graph_sees_a_cycle_and_a_private_import(tmp_path, monkeypatch):
    """The checks above can fail: a two-module cycle and a private import are found."""
    package = tmp_path / "postpulse"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from postpulse.b import _hidden\n")
    (package / "b.py").write_text("def f():\n    import postpulse.a\n\n_hidden = 1\n")
    (package / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import postpulse.a\n"
    )
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)
    graph = ImportGraph()
    assert graph.cycles() == [["postpulse.a", "postpulse.b"]]
    assert graph.private_imports == ["postpulse/a.py:1: from postpulse.b import _hidden"]
    assert graph.edges["postpulse.c"] == set()

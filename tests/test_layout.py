"""The import rules of DESIGN.md's rooms, checked over every module's source.

- A room imports only rooms below it, never a room above it or beside it; every room may
  import the leaf core (``causality.errors``, ``causality.section``), and only the
  composition root (``causality``) imports the rest of ``causality``.
- No module imports another room's ``_private`` module.
- No room but the warehouse imports an engine's module: engines are opened by kind.
- No import circle (imports inside functions count; typing-only ones do not).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Lower ranks sit below higher ones; rooms of one rank do not import each other.
RANKS = {"warehouse": 1, "guardrails": 2, "charts": 2, "metadata": 3, "pipeline": 4,
         "workspace": 4, "causality": 5}
LEAF = frozenset({"causality.errors", "causality.section"})
SDK = ROOT / "sdk" / "python" / "causality_sdk"
TYPE_CHECKING = {"TYPE_CHECKING", "typing.TYPE_CHECKING"}  # the body of `if` never runs
IMPORT_CALLS = {"import_module", "importlib.import_module", "__import__"}
# Engines are built through `warehouse.engines.open_engine`; no other room names a class.
ENGINE_MODULES = ("warehouse.engines.duckdb_engine", "warehouse.engines.trino_engine")


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name
    target: str  # dotted name imported (a module, or a module's attribute)
    line: int
    typing_only: bool  # under `if TYPE_CHECKING:`, never run


def module_name(path: Path, base: Path) -> str:
    parts = list(path.relative_to(base).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, name: str) -> Iterator[Import]:
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    typing: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in TYPE_CHECKING:
            typing.update(id(child) for part in node.body for child in ast.walk(part))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif (isinstance(node, ast.Call) and ast.unparse(node.func) in IMPORT_CALLS
              and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)):
            targets = [node.args[0].value]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets = [f"{module}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            yield Import(name, target, node.lineno, id(node) in typing)


def project_imports(base: Path = ROOT) -> list[Import]:
    found = []
    for room in RANKS:
        for path in sorted((base / room).rglob("*.py")):
            found.extend(imports_of(path, module_name(path, base)))
    return found


def room_of(dotted: str) -> str | None:
    head = dotted.split(".")[0]
    return head if head in RANKS else None


def in_leaf(dotted: str) -> bool:
    return any(dotted == leaf or dotted.startswith(leaf + ".") for leaf in LEAF)


def upward(imports: list[Import]) -> list[str]:
    """Imports of a room above or beside the importer's (the leaf core excepted)."""
    wrong = []
    for imp in imports:
        mine, theirs = room_of(imp.importer), room_of(imp.target)
        if theirs is None or theirs == mine or in_leaf(imp.target) or mine is None:
            continue
        if RANKS[theirs] >= RANKS[mine]:
            wrong.append(f"{imp.importer}:{imp.line} imports {imp.target}")
    return wrong


def foreign_private(imports: list[Import]) -> list[str]:
    """Imports of a ``_private`` module of another room."""
    wrong = []
    for imp in imports:
        if room_of(imp.target) in (None, room_of(imp.importer)):
            continue
        if any(part.startswith("_") and not part.startswith("__")
               for part in imp.target.split(".")[1:]):
            wrong.append(f"{imp.importer}:{imp.line} imports {imp.target}")
    return wrong


def engine_classes(imports: list[Import]) -> list[str]:
    """Imports of an engine's own module (or class) outside the warehouse."""
    return [f"{imp.importer}:{imp.line} imports {imp.target}" for imp in imports
            if room_of(imp.importer) != "warehouse"
            and any(imp.target == m or imp.target.startswith(m + ".") for m in ENGINE_MODULES)]


def circles(imports: list[Import], modules: set[str]) -> list[list[str]]:
    """Strongly connected groups of modules (more than one). Imports inside functions count
    (a circle broken only by importing late is still a circle); typing-only ones do not."""
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for imp in imports:
        if imp.typing_only:
            continue
        target = imp.target if imp.target in modules else imp.target.rpartition(".")[0]
        if target in modules and target != imp.importer:
            graph[imp.importer].add(target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for start in sorted(graph):  # Tarjan, iteratively
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups


def all_modules(base: Path = ROOT) -> set[str]:
    return {module_name(p, base) for room in RANKS for p in (base / room).rglob("*.py")}


@pytest.fixture(scope="module")
def imports() -> list[Import]:
    return project_imports()


def test_no_room_imports_a_room_above_or_beside_it(imports: list[Import]) -> None:
    assert upward(imports) == []


def test_no_module_imports_another_rooms_private_module(imports: list[Import]) -> None:
    assert foreign_private(imports) == []


def test_engines_are_opened_not_constructed(imports: list[Import]) -> None:
    assert engine_classes(imports) == []


def test_no_import_circles(imports: list[Import]) -> None:
    assert circles(imports, all_modules()) == []


def test_the_leaf_core_imports_nothing_of_ours() -> None:
    for leaf in LEAF:
        path = ROOT / (leaf.replace(".", "/") + ".py")
        assert [i.target for i in imports_of(path, leaf) if room_of(i.target)] == []
    init = ROOT / "causality" / "__init__.py"  # runs before any leaf module is imported
    assert {i.target for i in imports_of(init, "causality")} <= {
        f"{leaf}.{name}" for leaf in LEAF for name in ("CausalityError", "ConfigError")}


def test_the_python_sdk_imports_nothing_of_ours() -> None:
    for path in SDK.rglob("*.py"):
        assert [i.target for i in imports_of(path, "causality_sdk") if room_of(i.target)] == []


def test_the_rules_see_what_they_check(tmp_path: Path) -> None:
    """Each rule finds a planted violation (so an empty list above means something)."""
    for room in RANKS:
        (tmp_path / room).mkdir()
    (tmp_path / "pipeline" / "a.py").write_text(
        "from causality.settings import Settings\nfrom metadata._db import x\n"
        "from causality.errors import CausalityError\nimport pipeline.b\n")
    (tmp_path / "pipeline" / "b.py").write_text("def f():\n    import workspace\n"
                                                "from pipeline import a\n")
    (tmp_path / "pipeline" / "c.py").write_text(
        "from typing import TYPE_CHECKING\nimport importlib\n"
        "if TYPE_CHECKING:\n    import workspace.x\nelse:\n    from . import d\n"
        "importlib.import_module('warehouse.engines.duckdb_engine')\n")
    (tmp_path / "pipeline" / "d.py").write_text("from .c import y\n")
    found = project_imports(tmp_path)
    assert upward(found) == ["pipeline.a:1 imports causality.settings.Settings",
                             "pipeline.b:2 imports workspace",
                             "pipeline.c:4 imports workspace.x"]  # typing-only counts here
    assert foreign_private(found) == ["pipeline.a:2 imports metadata._db.x"]
    assert engine_classes(found) == ["pipeline.c:7 imports warehouse.engines.duckdb_engine"]
    assert circles(found, all_modules(tmp_path)) == [["pipeline.a", "pipeline.b"],
                                                     ["pipeline.c", "pipeline.d"]]

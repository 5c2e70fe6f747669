"""``core`` and ``graph`` stay pure: read from source with ``ast``, never imported here.

- both import only the standard library (``pydantic``/``pydantic_core`` in ``graph`` only);
- ``core`` reaches only itself and ``graph``; ``graph`` reaches only itself;
- ``core`` never reads a clock, randomness, the environment or files.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "src" / "azure_functions_durable_graph"
CORE_DIR = PACKAGE_DIR / "core"
GRAPH_DIR = PACKAGE_DIR / "graph"

STDLIB = frozenset(sys.stdlib_module_names)
THIRD_PARTY_ALLOWED = {"core": frozenset(), "graph": frozenset({"pydantic", "pydantic_core"})}
# Optional integrations: imported only inside functions of one module, never at import time.
OPTIONAL_DEFERRED = {("graph", "messages.py"): frozenset({"langchain_core"})}

@dataclass(frozen=True)
class Import:
    """One import statement, resolved to an absolute-ish target."""

    layer: str
    file: str
    line: int
    level: int  # 0 for absolute imports
    target: str  # absolute module name, or for relative imports the path below the package
    deferred: bool  # inside a function or a TYPE_CHECKING block


def _modules(directory: Path) -> list[Path]:
    files = sorted(directory.rglob("*.py"))
    assert files, f"no modules under {directory}"
    return files


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(layer: str, path: Path) -> list[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[Import] = []

    def visit(node: ast.AST, deferred: bool) -> None:
        for child in ast.iter_child_nodes(node):
            child_deferred = deferred
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                child_deferred = True
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.body:
                    visit_stmt(stmt, True)
                for stmt in child.orelse:
                    visit_stmt(stmt, deferred)
                continue
            visit_stmt(child, child_deferred)

    def visit_stmt(node: ast.AST, deferred: bool) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append(Import(layer, path.name, node.lineno, 0, alias.name, deferred))
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                found.append(Import(layer, path.name, node.lineno, 0, node.module or "", deferred))
            else:
                # Resolve against the package root: level 1 is this layer, level 2 the package.
                base = [layer] if node.level == 1 else []
                assert node.level <= 2, f"{path.name}:{node.lineno}: import climbs too far"
                parts = base + ([node.module] if node.module else [])
                names = [a.name for a in node.names] if not node.module else []
                targets = [".".join(parts + [n]) for n in names] or [".".join(parts)]
                for target in targets:
                    found.append(Import(layer, path.name, node.lineno, node.level, target, deferred))
        visit(node, deferred)

    visit(tree, False)
    return found


def _all_imports(layer: str) -> list[Import]:
    directory = CORE_DIR if layer == "core" else GRAPH_DIR
    return [imp for path in _modules(directory) for imp in _imports(layer, path)]


@pytest.mark.parametrize("layer", ["core", "graph"])
def test_absolute_imports_are_stdlib_or_allowed(layer: str) -> None:
    bad = []
    for imp in _all_imports(layer):
        if imp.level:
            continue
        top = imp.target.split(".")[0]
        if top == "__future__" or top in STDLIB or top in THIRD_PARTY_ALLOWED[layer]:
            continue
        if imp.deferred and top in OPTIONAL_DEFERRED.get((layer, imp.file), frozenset()):
            continue
        bad.append(f"{imp.file}:{imp.line} imports {imp.target}")
    assert bad == []


def test_core_imports_no_pydantic_directly() -> None:
    tops = {imp.target.split(".")[0] for imp in _all_imports("core") if not imp.level}
    assert not tops & {"pydantic", "pydantic_core"}


@pytest.mark.parametrize("layer", ["core", "graph"])
def test_relative_imports_stay_in_their_layers(layer: str) -> None:
    allowed_layers = {"core": {"core", "graph"}, "graph": {"graph"}}[layer]
    bad = []
    for imp in _all_imports(layer):
        if not imp.level:
            continue
        target_layer = imp.target.split(".")[0]
        if target_layer in allowed_layers:
            continue
        bad.append(f"{imp.file}:{imp.line} imports .{'.' * (imp.level - 1)}{imp.target}")
    assert bad == []


def test_the_import_walker_sees_relative_and_deferred_imports(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from typing import TYPE_CHECKING\n"
        "from . import sibling\n"
        "from ..graph.manifest import X\n"
        "if TYPE_CHECKING:\n"
        "    from ..execution import runner\n"
        "def f():\n"
        "    import json\n",
        encoding="utf-8",
    )
    found = {(i.level, i.target, i.deferred) for i in _imports("core", sample)}
    assert found == {
        (0, "typing", False),
        (1, "core.sibling", False),
        (2, "graph.manifest", False),
        (2, "execution", True),
        (0, "json", True),
    }


# --- no clock, randomness, environment or files in core -------------------------------------------

FORBIDDEN_MODULES = frozenset(
    {"time", "random", "uuid", "os", "secrets", "datetime", "socket", "subprocess", "threading"}
)
FORBIDDEN_CALLS = frozenset({"open", "input", "print", "id", "hash"})


def _impurities(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    problems = []
    for node in ast.walk(tree):
        where = f"{path.name}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in FORBIDDEN_MODULES:
                    problems.append(f"{where} imports {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            if (node.module or "").split(".")[0] in FORBIDDEN_MODULES:
                problems.append(f"{where} imports from {node.module}")
        elif isinstance(node, ast.Name) and node.id in FORBIDDEN_MODULES:
            problems.append(f"{where} uses {node.id}")
        elif isinstance(node, ast.Attribute) and node.attr in {"now", "utcnow", "today"}:
            problems.append(f"{where} reads .{node.attr}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in FORBIDDEN_CALLS
        ):
            problems.append(f"{where} calls {node.func.id}()")
    return problems


@pytest.mark.parametrize("path", _modules(CORE_DIR), ids=lambda p: p.name)
def test_core_module_is_pure(path: Path) -> None:
    assert _impurities(path) == []


def test_the_purity_check_catches_impure_code(tmp_path: Path) -> None:
    sample = tmp_path / "impure.py"
    sample.write_text(
        "import time\n"
        "from datetime import datetime\n"
        "import os.path\n"
        "def f(random):\n"
        "    a = datetime.now()\n"
        "    b = open('x')\n"
        "    return os.getenv('X'), random.random(), time.time()\n",
        encoding="utf-8",
    )
    problems = " ".join(_impurities(sample))
    for expected in (
        "imports time",
        "from datetime",
        "imports os.path",
        ".now",
        "calls open()",
        "uses os",
        "uses random",
        "uses time",
    ):
        assert expected in problems

"""The layer table in docs/architecture.md is the import rule, checked against the source.

The table is read from the document itself, so the rule and its description cannot drift:
each row names a layer (a subpackage) and the layers it may import; "everything below" means
every layer listed after it. Imports are read with ``ast`` (nothing is imported here), at
module level, inside functions and under ``if TYPE_CHECKING:`` alike: a deferred import is a
dependency all the same. Two rules follow:

- a layer imports only itself, the layers its row allows, and the package's leaf modules
  (``errors``, which re-exports ``graph.errors`` and so counts as ``graph``, and ``_version``);
  never the package root, which imports the layers;
- no module takes part in an import cycle.

What the rule still finds is listed below, exactly: a new violation fails, and so does fixing
one without taking it off the list, so the list only shrinks.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIR = ROOT / "src" / "azure_functions_durable_graph"
PACKAGE = PACKAGE_DIR.name
ARCHITECTURE = ROOT / "docs" / "architecture.md"

# Known, to be removed: one group of modules that import one another.
KNOWN_VIOLATIONS: set[str] = set()
KNOWN_CYCLES: list[list[str]] = []

# Root modules every layer may use, and the layer each counts as.
LEAF_MODULES = {f"{PACKAGE}.errors": "graph", f"{PACKAGE}._version": None}


@dataclass(frozen=True)
class Edge:
    """One import: the importing module, the imported module, and where it is written."""

    source: str
    target: str
    line: int


def layer_rules() -> dict[str, frozenset[str]]:
    """Each layer of the architecture table with the layers it may import."""
    rows: list[tuple[str, str]] = []
    for line in ARCHITECTURE.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\|\s*`(\w+)/`\s*\|.*\|\s*([^|]*?)\s*\|\s*$", line)
        if match:
            rows.append((match.group(1), match.group(2)))
    names = [name for name, _ in rows]
    rules: dict[str, frozenset[str]] = {}
    for position, (name, allowed) in enumerate(rows):
        if allowed == "everything below":
            rules[name] = frozenset(names[position + 1 :])
        else:
            rules[name] = frozenset(n for n in re.findall(r"`(\w+)`", allowed) if n in names)
    return rules


def module_name(path: Path) -> str:
    """The dotted name of the module in ``path``."""
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(path: Path, known: set[str]) -> list[Edge]:
    """Every import of a package module in ``path``, resolved to the module it loads."""
    source = module_name(path)
    package = source.split(".") if path.name == "__init__.py" else source.split(".")[:-1]
    edges: list[Edge] = []

    def resolve(name: str) -> str:
        while name not in known and "." in name:
            name = name.rsplit(".", 1)[0]
        return name

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                prefix = package[: len(package) - (node.level - 1)]
                base = ".".join([*prefix, *([node.module] if node.module else [])])
            # ``from x import y`` loads x.y when y is a module, else x itself.
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for target in targets:
            if target == PACKAGE or target.startswith(PACKAGE + "."):
                edges.append(Edge(source, resolve(target), node.lineno))
    return edges


def all_edges() -> list[Edge]:
    """The import edges of every module of the package (``ast.walk`` sees every nesting)."""
    paths = sorted(PACKAGE_DIR.rglob("*.py"))
    known = {module_name(path) for path in paths}
    return [edge for path in paths for edge in imports_of(path, known)]


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and module not in LEAF_MODULES) else None


def layer_violations(edges: list[Edge], rules: dict[str, frozenset[str]]) -> list[str]:
    """Imports that leave what the importing layer's row allows."""
    found = []
    for edge in edges:
        source_layer = _layer(edge.source)
        if source_layer is None:
            continue  # the package root and the leaf modules
        if edge.target == PACKAGE:
            found.append(f"{edge.source}:{edge.line} imports the package root (it imports every layer)")
            continue
        target_layer = LEAF_MODULES[edge.target] if edge.target in LEAF_MODULES else _layer(edge.target)
        if target_layer is None or target_layer == source_layer:
            continue
        if target_layer not in rules.get(source_layer, frozenset()):
            found.append(f"{edge.source}:{edge.line} imports {edge.target} ({source_layer}/ may not import {target_layer}/)")
    return found


def import_cycles(edges: list[Edge]) -> list[list[str]]:
    """Groups of modules that import one another (strongly connected, more than one module).

    An import of one's own parent package is left out: Python has loaded it already.
    """
    graph: dict[str, set[str]] = defaultdict(set)
    for edge in edges:
        if edge.target != edge.source and not edge.source.startswith(edge.target + "."):
            graph[edge.source].add(edge.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_the_table_names_every_layer_of_the_package() -> None:
    rules = layer_rules()
    subpackages = {p.parent.name for p in PACKAGE_DIR.glob("*/__init__.py")}
    assert set(rules) == subpackages
    assert rules["core"] == {"graph"} and rules["graph"] == set()
    assert rules["cli"] == set(rules) - {"cli"}


def test_every_import_stays_within_its_layer_row() -> None:
    found = {re.sub(r":\d+ imports (\S+) .*", r" imports \1", v) for v in layer_violations(all_edges(), layer_rules())}
    assert found == KNOWN_VIOLATIONS


def test_no_module_takes_part_in_an_import_cycle() -> None:
    cycles = [[m.removeprefix(PACKAGE + ".") for m in cycle] for cycle in import_cycles(all_edges())]
    assert sorted(cycles) == KNOWN_CYCLES


@pytest.mark.parametrize(
    ("edges", "expected"),
    [
        ([Edge(f"{PACKAGE}.core.a", f"{PACKAGE}.local.engine", 3)], "core/ may not import local/"),
        ([Edge(f"{PACKAGE}.graph.a", PACKAGE, 1)], "imports the package root"),
        ([Edge(f"{PACKAGE}.core.a", f"{PACKAGE}.errors", 2)], None),
        ([Edge(f"{PACKAGE}.graph.a", f"{PACKAGE}._version", 2)], None),
    ],
)
def test_the_layer_check_catches_an_upward_import(edges: list[Edge], expected: str | None) -> None:
    found = layer_violations(edges, layer_rules())
    if expected is None:
        assert found == []
    else:
        assert len(found) == 1 and expected in found[0]


def test_the_cycle_check_finds_a_cycle_and_ignores_a_parent_package() -> None:
    a, b, c = (f"{PACKAGE}.azure.{name}" for name in "abc")
    edges = [Edge(a, b, 1), Edge(b, c, 1), Edge(c, a, 1), Edge(a, f"{PACKAGE}.azure", 1)]
    assert import_cycles(edges) == [sorted([a, b, c])]
    assert import_cycles([Edge(a, b, 1), Edge(b, f"{PACKAGE}.core.x", 1)]) == []


# Imports only graph/, as a user of the authoring layer would, in a fresh interpreter: the
# runner that GraphRegistration.invoke calls is installed by the package root all the same.
GRAPH_ONLY_SCRIPT = """
import asyncio, json, sys
from pydantic import BaseModel
from azure_functions_durable_graph.graph import ManifestBuilder
from azure_functions_durable_graph.graph.registration import RunResult

class S(BaseModel):
    n: int = 0

b = ManifestBuilder(graph_name="g", state_model=S)
b.add_node("add", lambda s: {"n": s.n + 1}, terminal=True)
b.set_entrypoint("add")
registration = b.build()
first = registration.invoke({"n": 1})
second = asyncio.run(registration.ainvoke({"n": 5}))
assert isinstance(first, RunResult) and isinstance(second, RunResult)
print(json.dumps([first.status, first.state.n, second.status, second.state.n,
                  "azure_functions_durable_graph.execution.runner" in sys.modules]))
"""


def test_invoke_works_when_only_the_graph_layer_is_imported() -> None:
    result = subprocess.run(
        [sys.executable, "-c", GRAPH_ONLY_SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["completed", 2, "completed", 6, True]

"""Loading a TARGET and discovering its graphs (``cli.target`` and ``cli.discovery``)."""

from __future__ import annotations

import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from azure_functions_durable_graph import GraphRegistration, GraphValidationError, TargetLoadError
from azure_functions_durable_graph.cli.discovery import discover, discover_in
from azure_functions_durable_graph.cli.target import DEFAULT_TARGET, load_target, parse_target

FIXTURES = Path(__file__).parent / "fixtures" / "cli"

STATE = """
from pydantic import BaseModel
from azure_functions_durable_graph import DurableGraphApp, ManifestBuilder

class S(BaseModel):
    n: int = 0

def step(state: S) -> dict:
    return {"n": state.n + 1}

def one_node(name: str, version: str = "0.1.0") -> ManifestBuilder:
    return ManifestBuilder(graph_name=name, state_model=S, version=version).set_entrypoint(
        "step"
    ).add_node("step", step, terminal=True)
"""


@pytest.fixture(autouse=True)
def _restore_sys_path(monkeypatch: pytest.MonkeyPatch) -> None:
    # Loading a target puts its folder on sys.path; keep that from leaking between tests.
    monkeypatch.setattr(sys, "path", list(sys.path))


def write(folder: Path, name: str, body: str, *, preamble: str = STATE) -> Path:
    path = folder / name
    path.write_text(preamble + textwrap.dedent(body), encoding="utf-8")
    return path


def test_parse_target_forms(tmp_path: Path) -> None:
    assert parse_target(None).path == Path(DEFAULT_TARGET)
    assert parse_target("app/function_app.py").path == Path("app/function_app.py")
    with_attr = parse_target("function_app.py:runtime")
    assert (with_attr.path, with_attr.attribute) == (Path("function_app.py"), "runtime")
    module = parse_target("pkg.graphs:runtime")
    assert (module.module, module.attribute, module.path) == ("pkg.graphs", "runtime", None)
    assert parse_target("pkg.graphs").module == "pkg.graphs"
    # A drive letter's colon is not an attribute separator.
    assert parse_target(r"C:\apps\function_app.py").attribute is None
    (tmp_path / DEFAULT_TARGET).write_text("", encoding="utf-8")
    assert parse_target(str(tmp_path)).path == tmp_path / DEFAULT_TARGET


def test_parse_target_rejects_garbage() -> None:
    with pytest.raises(TargetLoadError) as info:
        parse_target("not a-module")
    assert info.value.code == "TARGET_LOAD_FAILED"


def test_quick_example_graph_is_found_once_from_the_app() -> None:
    loaded = load_target(str(FIXTURES / "quick_app.py"))
    discovery = discover_in(loaded)
    assert [(g.graph_name, g.version) for g in discovery.graphs] == [("my_graph", "0.1.0")]
    graph = discovery.graphs[0]
    # The app's registration is preferred over rebuilding the module-level builder.
    assert graph.source == "runtime"
    assert graph.registration is vars(loaded.module)["runtime"].get("my_graph")
    assert discovery.valid and discovery.warnings == ()


def test_order_follows_definitions_and_app_registration_wins(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "ordered.py",
        """
        zeta = one_node("zeta")
        alpha = one_node("alpha").build()
        runtime = DurableGraphApp()
        runtime.register_registration(alpha)
        runtime.register_registration(zeta.build())
    """,
    )
    discovery = discover(str(path))
    assert discovery.names == ["zeta", "alpha"]
    assert [g.source for g in discovery.graphs] == ["runtime", "runtime"]


def test_lazy_function_app_is_not_built(tmp_path: Path) -> None:
    # Touching the lazy app's attributes would raise AZURE_TARGET_UNAVAILABLE.
    path = write(
        tmp_path,
        "lazy_only.py",
        """
        _runtime = DurableGraphApp()
        _runtime.register_registration(one_node("lazy").build())
        app = _runtime.function_app
        del _runtime
    """,
    )
    discovery = discover(f"{path}:app")
    assert discovery.names == ["lazy"]
    assert discovery.graphs[0].source == "app"


def test_invalid_builder_is_reported_next_to_valid_graphs() -> None:
    discovery = discover(str(FIXTURES / "invalid_graph.py"))
    assert discovery.names == ["good", "broken"]
    good, broken = discovery.graphs
    assert good.valid and isinstance(good.registration, GraphRegistration)
    assert not broken.valid and broken.error is not None
    assert broken.error.codes == [
        "TARGET_UNKNOWN",
        "NODE_NO_EXIT",
        "NODE_UNREACHABLE",
        "NODE_UNREACHABLE",
    ]
    assert not discovery.valid


def test_graph_validation_error_at_import_passes_through() -> None:
    with pytest.raises(GraphValidationError) as info:
        discover(str(FIXTURES / "invalid_at_import.py"))
    assert info.value.graph_name == "eager"
    assert info.value.codes == ["ENTRYPOINT_UNKNOWN", "TARGET_UNKNOWN"]


def test_sibling_imports_resolve(tmp_path: Path) -> None:
    helper = f"helpers_{uuid.uuid4().hex[:8]}"
    write(tmp_path, f"{helper}.py", "shared = one_node('from_sibling').build()\n")
    path = write(tmp_path, "uses_sibling.py", f"from {helper} import shared\n", preamble="")
    assert discover(str(path)).names == ["from_sibling"]


def test_files_with_the_same_name_do_not_collide(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = write(tmp_path / "a", "function_app.py", "g = one_node('first')\n")
    second = write(tmp_path / "b", "function_app.py", "g = one_node('second')\n")
    assert discover(str(first)).names == ["first"]
    assert discover(str(second)).names == ["second"]
    assert discover(str(first)).names == ["first"]


def test_module_target_with_and_without_attribute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = f"pkg_{uuid.uuid4().hex[:8]}"
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("", encoding="utf-8")
    write(
        tmp_path / package,
        "graphs.py",
        """
        first = one_node("first").build()
        second = one_node("second")
    """,
    )
    monkeypatch.chdir(tmp_path)
    assert discover(f"{package}.graphs").names == ["first", "second"]
    assert discover(f"{package}.graphs:second").names == ["second"]
    # An attribute that is a module is searched like a module target.
    assert discover(f"{package}:graphs").names == ["first", "second"]
    with pytest.raises(TargetLoadError, match="no attribute 'third'"):
        discover(f"{package}.graphs:third")
    with pytest.raises(TargetLoadError, match="module not found"):
        discover(f"{package}.missing")


def test_attribute_of_an_unsupported_kind(tmp_path: Path) -> None:
    path = write(tmp_path, "plain.py", "number = 3\n")
    with pytest.raises(TargetLoadError, match="is a int, not"):
        discover(f"{path}:number")


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("x = (\n", "SyntaxError"),
        ("import module_that_does_not_exist_anywhere\n", "ModuleNotFoundError"),
        ("raise RuntimeError('boom')\n", "RuntimeError: boom"),
        ("import sys\nsys.exit(3)\n", "SystemExit"),
    ],
)
def test_import_failures_become_target_load_errors(tmp_path: Path, body: str, match: str) -> None:
    path = write(tmp_path, "broken_module.py", body, preamble="")
    with pytest.raises(TargetLoadError, match=match) as info:
        discover(str(path))
    assert info.value.code == "TARGET_LOAD_FAILED"
    assert info.value.__cause__ is not None


def test_missing_file_and_nothing_found(tmp_path: Path) -> None:
    with pytest.raises(TargetLoadError, match="file not found"):
        discover(str(tmp_path / "absent.py"))
    with pytest.raises(TargetLoadError, match="no graphs found"):
        discover(str(write(tmp_path, "empty.py", "x = 1\n")))
    with pytest.raises(TargetLoadError, match="'runtime' has no registered graph"):
        discover(str(FIXTURES / "no_graphs.py"))


def test_conflicting_definitions_warn(tmp_path: Path) -> None:
    # Same name and version, different content (max_steps is part of the manifest).
    path = write(
        tmp_path,
        "conflict.py",
        """
        first = one_node("same")
        second = one_node("same")
        second.max_steps = 5
    """,
    )
    discovery = discover(str(path))
    assert discovery.names == ["same"]
    assert discovery.graphs[0].source == "first"
    assert len(discovery.warnings) == 1 and "'first' and 'second'" in discovery.warnings[0]


def test_unserialisable_metadata_is_a_validation_problem(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "crash.py",
        """
        bad = ManifestBuilder(graph_name="crash", state_model=S, metadata={"x": object()})
        bad.set_entrypoint("step").add_node("step", step, terminal=True)
    """,
    )
    discovery = discover(str(path))
    [graph] = discovery.graphs
    assert graph.error is not None
    assert graph.error.codes == ["SETTING_INVALID"]
    assert "metadata" in graph.error.problems[0].message

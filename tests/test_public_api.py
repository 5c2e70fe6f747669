"""The package's public surface, and that importing it stays light."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import azure_functions_durable_graph as package
from graph_helpers import EXAMPLES_DIR

# Sorted isort-style (constants, then classes, then the rest), as the package declares it.
EXPECTED_ALL = [
    "END",
    "START",
    "DurableGraphApp",
    "DurableGraphError",
    "EmitTooLargeError",
    "EventNotDeclaredError",
    "GraphManifest",
    "GraphNotFoundError",
    "GraphRegistration",
    "GraphValidationError",
    "HandlerNotFoundError",
    "InvalidEmitError",
    "InvalidInputError",
    "InvalidRouteError",
    "InvalidUpdateError",
    "ManifestBuilder",
    "RetryPolicy",
    "RouteAction",
    "RouteDecision",
    "RunConflictError",
    "RunNotFoundError",
    "Send",
    "SnapshotError",
    "StoreError",
    "TargetLoadError",
    "ValidationProblem",
    "WaitSpec",
    "__version__",
    "reducers",
]

HEAVY_MODULES = ("azure.functions", "azure.durable_functions", "starlette", "uvicorn")


def test_all_is_pinned() -> None:
    assert package.__all__ == EXPECTED_ALL
    assert len(set(package.__all__)) == len(package.__all__)


@pytest.mark.parametrize("name", EXPECTED_ALL)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(package, name) is not None


def test_lazy_app_and_error_family() -> None:
    from azure_functions_durable_graph.azure.app import DurableGraphApp
    from azure_functions_durable_graph.graph import reducers

    assert package.DurableGraphApp is DurableGraphApp
    assert package.reducers is reducers
    assert isinstance(package.__version__, str) and package.__version__.count(".") == 2
    with pytest.raises(AttributeError):
        package.NoSuchThing  # noqa: B018
    for name in EXPECTED_ALL:
        value = getattr(package, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, package.DurableGraphError)
            assert value.code.isupper()


def test_error_codes_are_distinct() -> None:
    errors = [
        getattr(package, n)
        for n in EXPECTED_ALL
        if isinstance(getattr(package, n), type) and issubclass(getattr(package, n), Exception)
    ]
    codes = [e.code for e in errors]
    assert len(codes) == len(set(codes))


IMPORT_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import azure_functions_durable_graph as package

    app_class = package.DurableGraphApp  # the lazy attribute
    if len(sys.argv) > 1:  # an example module: builds graphs and touches runtime.function_app
        import importlib.util
        spec = importlib.util.spec_from_file_location("example_under_test", sys.argv[1])
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    print(json.dumps(sorted(sys.modules)))
    """
)


def _modules_after_import(extra_path: Path | None, *args: str) -> list[str]:
    env = None if extra_path is None else {**os.environ, "PYTHONPATH": str(extra_path)}
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_SCRIPT, *args],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=120,
    )
    return json.loads(result.stdout)


def _heavy(modules: list[str]) -> list[str]:
    return [m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY_MODULES)]


def _importable_stand_ins(root: Path) -> Path:
    """Importable stand-ins for the heavy packages, so an unwanted import would show up here."""
    for name in ("azure/functions", "azure/durable_functions", "starlette", "uvicorn"):
        (root / name).mkdir(parents=True)
        (root / name / "__init__.py").write_text("")
    return root


@pytest.mark.parametrize("with_stand_ins", [False, True], ids=["environment", "stand_ins"])
@pytest.mark.parametrize("example", [None, "quick_example", "support_agent"])
def test_import_does_not_load_heavy_modules(
    tmp_path: Path, with_stand_ins: bool, example: str | None
) -> None:
    extra = _importable_stand_ins(tmp_path / "site") if with_stand_ins else None
    args = [str(EXAMPLES_DIR / f"{example}.py")] if example else []
    modules = _modules_after_import(extra, *args)
    assert "azure_functions_durable_graph" in modules
    assert "pydantic" in modules
    assert _heavy(modules) == []


def test_stand_ins_are_importable(tmp_path: Path) -> None:
    """Guards the test above: the stand-ins really would appear in sys.modules if imported."""
    root = _importable_stand_ins(tmp_path / "site")
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, sys, azure.functions, uvicorn; print(json.dumps(sorted(sys.modules)))",
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(root)},
        timeout=120,
    )
    assert _heavy(json.loads(result.stdout)) == ["azure.functions", "uvicorn"]

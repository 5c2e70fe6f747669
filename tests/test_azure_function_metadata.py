"""The generated Functions app is what the Functions host accepts.

The app is read the way the Python worker indexes a v2 app: import ``function_app.py``, find
the one ``FunctionRegister`` at module level with ``isinstance``, call ``get_functions()`` and
read each function's ``function.json`` form. The checks are the host's rules: unique valid
names, one trigger per function, binding names matching the function's parameters, durable
client bindings on the HTTP triggers, and no two HTTP functions answering the same route and
method.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import json
import re
import sys
import typing
from collections import Counter
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import azure.functions as func
import pytest

from azure_functions_durable_graph import DurableGraphApp
from azure_functions_durable_graph.api.routes import ROUTES
from azure_functions_durable_graph.azure.protocol import ACTIVITY, ORCHESTRATOR

ROOT = Path(__file__).resolve().parent.parent
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,127}$")
TRIGGERS = {"httpTrigger", "orchestrationTrigger", "activityTrigger", "entityTrigger", "timerTrigger"}
METHODS = {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE"}
AUTH_LEVELS = {"ANONYMOUS", "FUNCTION", "ADMIN"}
RESERVED_ROUTE_ROOTS = ("runtime/", "admin/")


def index_like_worker(path: Path) -> list[Any]:
    """Import a function_app.py and return its functions as the worker would."""
    name = f"indexed_{path.parent.name}_{abs(hash(path))}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    apps = [getattr(module, attr) for attr in dir(module)
            if isinstance(getattr(module, attr, None), func.FunctionRegister)]
    assert len(apps) == 1, f"the worker needs exactly one app at module level, found {len(apps)}"
    return apps[0].get_functions()


def _template(route: str) -> str:
    """A route with parameter names erased: two routes conflict when these are equal."""
    return re.sub(r"\{[^}]*\}", "{}", route.strip("/").lower())


def _annotation_problems(name: str, user_function: Any, bindings: list[dict[str, Any]]) -> list[str]:
    """The worker's load-time checks of annotations: resolvable, real types, matching the binding."""
    try:
        hints = typing.get_type_hints(user_function)
    except Exception as exc:  # noqa: BLE001 - the worker fails the load the same way
        return [f"{name}: annotations do not resolve: {exc}"]
    problems = []
    for parameter, hint in hints.items():
        if not isinstance(hint, type) and typing.get_origin(hint) is None:
            problems.append(f"{name}: '{parameter}' has the non-type annotation {hint!r}")
    by_name = {b["name"]: b for b in bindings}
    for parameter, hint in hints.items():
        binding = by_name.get("$return" if parameter == "return" else parameter)
        if binding is None or not isinstance(hint, type) or hint in (str, bytes):
            continue
        if binding["type"] == "httpTrigger" and not issubclass(hint, func.HttpRequest):
            problems.append(f"{name}: the HTTP request parameter is annotated {hint!r}")
        if binding["type"] == "http" and not issubclass(hint, (func.HttpResponse, str)):
            problems.append(f"{name}: the HTTP return is annotated {hint!r}")
    return problems


def host_problems(functions: list[Any], generated_prefix: str = "http_") -> list[str]:
    """Every rule of the Functions host the indexed functions break (empty when accepted)."""
    problems: list[str] = []
    names = Counter(f.get_function_name().lower() for f in functions)
    problems += [f"duplicate function name '{n}'" for n, c in names.items() if c > 1]
    answered: dict[tuple[str, str], str] = {}
    for function in functions:
        name = function.get_function_name()
        if not NAME.match(name):
            problems.append(f"invalid function name '{name}'")
        document = json.loads(function.get_function_json())
        bindings = document["bindings"]
        triggers = [b for b in bindings if b["type"] in TRIGGERS]
        if len(triggers) != 1:
            problems.append(f"{name}: {len(triggers)} triggers")
            continue
        binding_names = [b["name"] for b in bindings]
        if len(set(binding_names)) != len(binding_names):
            problems.append(f"{name}: duplicate binding names {binding_names}")
        user_function = function.get_user_function()
        parameters = set(inspect.signature(user_function).parameters)
        problems += _annotation_problems(name, user_function, bindings)
        for binding in bindings:
            if binding["name"] != "$return" and binding["name"] not in parameters:
                problems.append(f"{name}: binding '{binding['name']}' is not a parameter of the function")
        trigger = triggers[0]
        if trigger["type"] == "httpTrigger":
            route = trigger.get("route") or name
            if route.startswith("/") or route.count("{") != route.count("}"):
                problems.append(f"{name}: malformed route '{route}'")
            if route.lower().startswith(RESERVED_ROUTE_ROOTS):
                problems.append(f"{name}: route '{route}' is reserved by the host")
            if trigger.get("authLevel") not in AUTH_LEVELS:
                problems.append(f"{name}: auth level {trigger.get('authLevel')}")
            if name.startswith(generated_prefix) and not any(
                    b["type"] == "durableClient" and b["direction"] == "IN" for b in bindings):
                problems.append(f"{name}: generated HTTP trigger without a durable client binding")
            if not any(b["type"] == "http" and b["direction"] == "OUT" for b in bindings):
                problems.append(f"{name}: HTTP trigger without an http output binding")
            for method in trigger.get("methods") or sorted(METHODS):
                if method not in METHODS:
                    problems.append(f"{name}: unknown method {method}")
                key = (_template(route), method)
                if key in answered:
                    problems.append(f"{name}: {method} {route} conflicts with {answered[key]}")
                answered[key] = name
    return problems


def test_the_quick_example_indexes_cleanly(tmp_path: Path) -> None:
    quick = ROOT / "examples" / "quick_example.py"
    target = tmp_path / "function_app.py"
    target.write_text(quick.read_text(encoding="utf-8"), encoding="utf-8")
    functions = index_like_worker(target)
    assert host_problems(functions) == []
    by_name = {f.get_function_name(): f for f in functions}
    assert ORCHESTRATOR in by_name and ACTIVITY in by_name
    triggers = Counter(
        next(b["type"] for b in json.loads(f.get_function_json())["bindings"] if b["type"] in TRIGGERS)
        for f in functions
    )
    assert triggers == {"orchestrationTrigger": 1, "activityTrigger": 1, "httpTrigger": len(ROUTES)}


def test_every_route_of_the_contract_is_served_with_its_method(tmp_path: Path) -> None:
    functions = index_like_worker(ROOT / "examples" / "function_app.py")
    served = set()
    for function in functions:
        trigger = next(b for b in json.loads(function.get_function_json())["bindings"]
                       if b["type"] in TRIGGERS)
        if trigger["type"] == "httpTrigger":
            served |= {(m, _template(trigger["route"])) for m in trigger["methods"]}
    assert served == {(spec.method, _template(spec.path)) for spec in ROUTES}


def test_public_routes_are_anonymous_and_the_rest_use_the_apps_auth_level() -> None:
    runtime = DurableGraphApp(auth_level=func.AuthLevel.ADMIN)
    levels = {}
    for function in runtime.function_app.get_functions():
        trigger = next(b for b in json.loads(function.get_function_json())["bindings"] if b["type"] in TRIGGERS)
        if trigger["type"] == "httpTrigger":
            levels[trigger["route"]] = trigger["authLevel"]
    assert levels["health"] == "ANONYMOUS" and levels["docs"] == "ANONYMOUS"
    assert levels["runs/{instance_id}"] == "ADMIN"


def test_adding_to_an_existing_app_prefixes_every_name_and_keeps_the_apps_own_functions() -> None:
    existing = func.FunctionApp()

    @existing.route(route="hello")
    def hello(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("hi")

    runtime = DurableGraphApp()
    assert runtime.add_to(existing, prefix="graphs_") is existing
    functions = existing.get_functions()
    assert host_problems(functions, generated_prefix="graphs_http_") == []
    names = {f.get_function_name() for f in functions}
    assert "hello" in names
    assert {n for n in names if n != "hello"} == {
        "graphs_" + ORCHESTRATOR, "graphs_" + ACTIVITY, *(f"graphs_http_{s.handler}" for s in ROUTES)}


def test_a_durable_blueprint_receives_the_functions_directly() -> None:
    blueprint = df.Blueprint()
    DurableGraphApp().add_to(blueprint, prefix="g_")
    app = df.DFApp()
    app.register_functions(blueprint)
    functions = app.get_functions()  # the SDK validates names once per app: index once
    assert host_problems(functions, generated_prefix="g_http_") == []
    assert "g_" + ORCHESTRATOR in {f.get_function_name() for f in functions}


def test_the_checker_catches_what_the_host_would_refuse() -> None:
    app = df.DFApp()
    DurableGraphApp().add_to(app, prefix="a_")
    DurableGraphApp().add_to(app, prefix="b_")  # same routes twice: the host refuses this
    problems = host_problems(app.get_functions(), generated_prefix="a_http_")
    assert any("conflicts with" in p for p in problems)
    sloppy = df.DFApp()

    @sloppy.route(route="sloppy")
    def untyped(req: Any) -> Any:  # the worker refuses non-type annotations
        return None

    assert any(p.startswith("untyped: ") for p in host_problems(sloppy.get_functions()))
    clash = df.DFApp()
    DurableGraphApp().add_to(clash)
    with pytest.raises(ValueError):  # the SDK itself refuses a duplicate function name
        DurableGraphApp().add_to(clash)
        clash.get_functions()


def test_the_orchestrator_module_stays_pure() -> None:
    """The orchestrator imports only the standard library, core/, graph/'s manifest model and its
    own protocol module, and never names a clock, randomness or I/O."""
    package = ROOT / "src" / "azure_functions_durable_graph" / "azure"
    allowed_relative = {"core", "protocol", "execution.backend", "graph.manifest"}
    for module in ("orchestrator.py", "protocol.py"):
        tree = ast.parse((package / module).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                target = (node.module or "")
                assert target in allowed_relative, f"{module} imports .{target}"
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                for name in names:
                    assert name.split(".")[0] in {"__future__", "json", "collections", "datetime", "typing", "dataclasses"}, name
            if isinstance(node, ast.Attribute):
                assert node.attr not in {"now", "utcnow", "time", "random", "urandom", "uuid4", "open"}, (module, node.attr)


def test_building_the_functions_app_does_not_load_the_local_server_stack() -> None:
    """Cold start on Azure: the generated app needs neither Starlette, uvicorn nor the SQLite engine."""
    import subprocess

    code = (
        "import sys; sys.path.insert(0, 'examples'); import azure.functions; import function_app as m; "
        "m.app.get_functions(); "
        "heavy = ('starlette', 'uvicorn', 'sqlite3', 'httpx', 'azure_functions_durable_graph.local', "
        "'azure_functions_durable_graph.ui', 'azure_functions_durable_graph.api.app'); "
        "print(sorted(k for k in sys.modules if k.startswith(heavy)))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout

"""Our Functions app on the real Python worker library, ``azure-functions-runtime``.

On Python 3.13+ the Functions host's Python worker is a thin gRPC proxy around the
``azure_functions_runtime`` library: the library imports ``function_app.py``, finds the app,
reports every function with its bindings, checks each function's parameters and annotations
against its bindings, converts the host's ``TypedData`` into Python arguments, calls the
function and converts the result back. These tests play the host (``worker_rpc.WorkerHost``,
the protocol's messages as plain classes) and send the library the requests Azure sends, in
Azure's order: init (the library indexes here), functions metadata, one load per function, then
invocations of the health HTTP trigger, the orchestrator (with a Durable orchestration context)
and the execute-task activity (with the input the orchestrator scheduled).

What this cannot prove, and only a real host can: the Durable extension's own behaviour (how it
records history, its non-determinism check, how it replays actions), the HTTP routing and auth
of the host, and the gRPC transport itself.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

if sys.version_info < (3, 13):
    pytest.skip("azure-functions-runtime needs Python 3.13+", allow_module_level=True)
pytest.importorskip("azure_functions_runtime")

from azure_functions_durable_graph.api.routes import ROUTES  # noqa: E402
from azure_functions_durable_graph.azure.emulator.client_binding import (  # noqa: E402
    client_binding_json,
)
from azure_functions_durable_graph.azure.protocol import (  # noqa: E402
    ACTIVITY,
    ORCHESTRATOR,
    run_payload,
)
from azure_functions_durable_graph.cli import main as cli_main  # noqa: E402
from azure_functions_durable_graph.execution.driver import new_state  # noqa: E402
from worker_rpc import (  # noqa: E402
    BindingInfo,
    TypedData,
    WorkerError,
    WorkerHost,
    http_request,
    json_text,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
EXAMPLE_GRAPHS = ["my_graph", "content_classifier", "support_agent"]
HOST_URL = "http://localhost:7071"
STARTED = "2023-11-14T22:13:20.000000Z"
CREATED_AT = 1_700_000_000.0
# HistoryEventType values of the Durable task framework.
EXECUTION_STARTED, ORCHESTRATOR_STARTED = 0, 12
CALL_ACTIVITY = 0  # the SDK's ActionType.CALL_ACTIVITY


def expected_functions() -> dict[str, str]:
    """Every function our app declares, with the type of its trigger."""
    functions = {ORCHESTRATOR: "orchestrationTrigger", ACTIVITY: "activityTrigger"}
    functions.update({f"http_{spec.handler}": "httpTrigger" for spec in ROUTES})
    return functions


@pytest.fixture
def examples_host() -> Iterator[WorkerHost]:
    """The worker, initialised (indexed) on ``examples/``, with every function loaded."""
    with WorkerHost(EXAMPLES) as host:
        host.init()
        for name in host.index():
            host.load(name)
        yield host


@pytest.fixture
def new_project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A project made by ``durable-graph new order-desk``, as a user would make it."""
    folder = tmp_path / "order-desk"
    assert cli_main(["new", "order-desk", "--dir", str(folder)]) == 0, capsys.readouterr().err
    assert (folder / "function_app.py").is_file()
    return folder


# -- what the host is told --------------------------------------------------------------------


def _bindings(host: WorkerHost, name: str) -> dict[str, tuple[str, int]]:
    return {b: (info.type, info.direction) for b, info in host.metadata[name].bindings.items()}


def assert_indexed_as_declared(host: WorkerHost, app_directory: Path) -> None:
    """The library reports exactly our functions, each with the bindings we declared."""
    metadata = host.metadata
    assert set(metadata) == set(expected_functions())
    for name, trigger in expected_functions().items():
        assert [b.type for b in metadata[name].bindings.values()].count(trigger) == 1, name
    assert len({m.function_id for m in metadata.values()}) == len(metadata)
    IN, OUT = getattr(BindingInfo, "in"), BindingInfo.out
    assert _bindings(host, ORCHESTRATOR) == {"context": ("orchestrationTrigger", IN)}
    assert _bindings(host, ACTIVITY) == {"command": ("activityTrigger", IN)}
    for spec in ROUTES:
        name = f"http_{spec.handler}"
        assert _bindings(host, name) == {
            "req": ("httpTrigger", IN), "client": ("durableClient", IN), "$return": ("http", OUT)}
        raw = {b["name"]: b for b in map(json.loads, metadata[name].raw_bindings)}
        trigger = raw["req"]
        assert trigger["route"] == spec.path.lstrip("/") and trigger["methods"] == [spec.method]
        assert trigger["authLevel"] == ("ANONYMOUS" if spec.public else "FUNCTION")
    for function in metadata.values():
        assert function.language == "python" and function.script_file == "function_app.py"
        assert Path(function.directory) == app_directory
        assert function.properties == {"worker_indexed": "True"}  # the worker indexed, not the host
        assert function.retry_options is None


def test_the_runtime_indexes_the_examples_app_with_the_declared_bindings() -> None:
    with WorkerHost(EXAMPLES) as host:
        init = host.init()
        assert init.worker_metadata is not None and init.worker_metadata.runtime_name == "python"
        host.index()
        assert_indexed_as_declared(host, EXAMPLES)
        for name in host.metadata:
            assert host.load(name).function_id == host.metadata[name].function_id


# -- invocations ------------------------------------------------------------------------------


def durable_client() -> TypedData:
    """The ``durableClient`` binding value the Durable extension passes to client functions."""
    return TypedData(string=client_binding_json(HOST_URL, "TestHub"))


def get_health(host: WorkerHost) -> dict[str, Any]:
    """``GET /api/health`` through the runtime: the JSON answer (status 200 checked)."""
    response = host.invoke("http_health", {
        "req": http_request("GET", f"{HOST_URL}/api/health", headers={"accept": "application/json"}),
        "client": durable_client(),
    })
    assert response.return_value is not None
    http = response.return_value.http
    assert http is not None, response.return_value
    assert http.status_code == "200"
    assert http.headers["content-type"].startswith("application/json")
    assert http.body is not None and http.body.bytes is not None
    return dict(json.loads(http.body.bytes))


def orchestration_context(instance_id: str, input_json: str) -> dict[str, Any]:
    """The orchestration trigger's value for a new instance: OrchestratorStarted, then
    ExecutionStarted with the input (``Version`` included: the SDK reads it unguarded)."""
    history = [
        {"EventType": ORCHESTRATOR_STARTED, "EventId": -1, "IsPlayed": False, "Timestamp": STARTED},
        {"EventType": EXECUTION_STARTED, "EventId": -1, "IsPlayed": False, "Timestamp": STARTED,
         "Name": ORCHESTRATOR, "Version": "", "Input": input_json,
         "OrchestrationInstance": {"InstanceId": instance_id, "ExecutionId": "execution-1"},
         "ParentInstance": None, "Tags": None},
    ]
    return {"history": history, "input": input_json, "instanceId": instance_id,
            "isReplaying": False, "parentInstanceId": None,
            "upperSchemaVersion": 1, "upperSchemaVersionNew": 2}


def _actions(tree: Any) -> Iterator[dict[str, Any]]:
    """Every action of an OrchestratorState's ``actions``, compound ones opened."""
    if isinstance(tree, list):
        for item in tree:
            yield from _actions(item)
    elif isinstance(tree, dict):
        yield tree
        yield from _actions(tree.get("compoundActions") or [])


def start_run(host: WorkerHost, graph: str, state: dict[str, Any],
              instance_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Invoke the orchestrator for a new run of ``graph``; its OrchestratorState and the one
    execute-task command it scheduled. The payload is built from the registration the worker
    loaded, as ``POST /runs`` builds it."""
    owner = host.script_module.app.owner
    registration = owner.get(graph)
    payload = run_payload(registration.manifest, new_state(registration, state), metadata={},
                          created_at=CREATED_AT, policy=owner.compaction)
    context = orchestration_context(instance_id, json.dumps(payload))
    response = host.invoke(ORCHESTRATOR, {"context": json_text(context)})
    returned = response.return_value
    assert returned is not None and returned.WhichOneof("data") == "json", returned
    assert returned.json is not None
    orchestrator_state = json.loads(returned.json)
    assert orchestrator_state["isDone"] is False, orchestrator_state
    assert orchestrator_state.get("error") is None, orchestrator_state
    calls = [a for a in _actions(orchestrator_state["actions"]) if a["actionType"] == CALL_ACTIVITY]
    assert [c["functionName"] for c in calls] == [ACTIVITY], orchestrator_state["actions"]
    assert isinstance(calls[0]["input"], str)  # the SDK sends activity inputs as JSON text
    command = json.loads(calls[0]["input"])
    assert command["run_id"] == instance_id and command["graph"] == graph
    assert command["node"] == registration.manifest.entrypoint and command["step"] == 1
    return orchestrator_state, calls[0]


def run_activity(host: WorkerHost, call: dict[str, Any]) -> dict[str, Any]:
    """Invoke the activity with the input the orchestrator scheduled; its result record."""
    response = host.invoke(ACTIVITY, {"command": TypedData(string=call["input"])})
    returned = response.return_value
    assert returned is not None and returned.json is not None, returned
    return dict(json.loads(returned.json))


def test_the_health_trigger_answers_through_the_runtime(examples_host: WorkerHost) -> None:
    assert get_health(examples_host) == {"ok": True, "registered_graphs": EXAMPLE_GRAPHS}


def test_the_orchestrator_schedules_the_first_node_and_the_activity_runs_it(
        examples_host: WorkerHost) -> None:
    state, call = start_run(examples_host, "my_graph", {"message": "hi"}, "run-quick")
    assert state["customStatus"]["status"] == "running"
    assert state["customStatus"]["current_nodes"] == ["process"]
    command = json.loads(call["input"])
    result = run_activity(examples_host, call)
    assert result["ok"] is True, result
    assert result["update"] == {"processed": True}
    assert (result["task_id"], result["node"], result["step"], result["attempt"]) == (
        command["task_id"], "process", 1, 1)


REFUSED_APPS = {
    "two apps at module level": (
        "app = DurableGraphApp().function_app\n"
        "other = func.FunctionApp()\n",
        "More than one"),
    "an HTTP request annotated as dict": (
        "app = DurableGraphApp().function_app\n"
        "@app.route(route='hello')\n"
        "def hello(req: dict) -> func.HttpResponse:\n"
        "    return func.HttpResponse('hi')\n",
        "cannot load the hello function: .* annotation dict"),
}


@pytest.mark.parametrize("case", list(REFUSED_APPS))
def test_what_the_runtime_refuses_fails_the_init_with_its_reason(tmp_path: Path, case: str) -> None:
    """The harness reports the worker's refusals (so the passing tests above mean something)."""
    body, reason = REFUSED_APPS[case]
    (tmp_path / "function_app.py").write_text(
        "import azure.functions as func\n"
        "from azure_functions_durable_graph import DurableGraphApp\n" + body, encoding="utf-8")
    with WorkerHost(tmp_path) as host, pytest.raises(WorkerError, match=reason):
        host.init()


# -- a project made by `durable-graph new` ------------------------------------------------------


def test_a_new_project_indexes_loads_and_runs_on_the_runtime(new_project: Path) -> None:
    with WorkerHost(new_project) as host:
        host.init()
        host.index()
        assert_indexed_as_declared(host, new_project)
        for name in host.metadata:
            host.load(name)
        assert get_health(host) == {"ok": True, "registered_graphs": ["order_desk"]}
        _, call = start_run(host, "order_desk", {"text": "The checkout page is  down"}, "run-new")
        result = run_activity(host, call)
    assert result["ok"] is True, result
    assert result["node"] == "prepare"
    assert result["update"]["urgent"] is True
    assert result["update"]["cleaned"] == "The checkout page is down"
    assert result["route"] == {"action": "next", "targets": ["escalate"]}

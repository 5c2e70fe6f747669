"""Every route of the HTTP API and its error paths, through Starlette's TestClient.

The app is the local server (``build_local_app``: the embedded engine on a SQLite file in
``tmp_path``) serving the shipped examples and a few small graphs built here. Every response
is checked for the package's one error shape and for leaks (tracebacks, Durable system keys).
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import httpx
import pytest
from pydantic import BaseModel
from starlette.testclient import TestClient

from azure_functions_durable_graph import GraphRegistration, ManifestBuilder, reducers
from azure_functions_durable_graph.api.routes import ROUTES
from azure_functions_durable_graph.api.server import build_local_app
from graph_helpers import load_example
from scenarios import build_wait_event

MiB = 1024 * 1024
JSON = {"content-type": "application/json"}  # bodies of any other type are 415
POLL_SECONDS = 10.0
RUN_FIELDS = {
    "instance_id", "graph_name", "graph_version", "graph_hash", "status", "runtime_status",
    "custom_status", "current_nodes", "waiting_for", "step", "input", "output", "error",
    "created_at", "updated_at",
}
LEAKS = ("Traceback", "systemKey", "code=")
EXAMPLES = {"quick_example": "my_graph", "support_agent": "support_agent",
            "content_classifier": "content_classifier"}


# --- graphs -------------------------------------------------------------------------------------


class DefaultsState(BaseModel):
    """Every field has a default: an empty body is a valid input."""

    count: int = 0
    text: str = ""
    log: Annotated[list[str], reducers.append] = []


def build_defaults() -> GraphRegistration:
    b = ManifestBuilder(graph_name="defaults", state_model=DefaultsState)
    b.set_entrypoint("only")
    b.add_node("only", lambda s: {"count": s.count + 1, "log": "only"}, terminal=True)
    return b.build()


def build_versioned(version: str) -> GraphRegistration:
    b = ManifestBuilder(graph_name="versioned", state_model=DefaultsState, version=version)
    b.set_entrypoint("stamp")
    if version == "1.0.0":
        b.add_node("stamp", lambda s: {"text": "v1"}, terminal=True)
    else:
        b.add_node("stamp", lambda s: {"text": "v2"}, next_node="extra")
        b.add_node("extra", lambda s: {"log": "extra"}, terminal=True)
    return b.build()


def build_blocking(gate: threading.Event) -> GraphRegistration:
    """``hold`` blocks until ``gate`` is set (at most 10 s), then ``after`` ends the run."""
    b = ManifestBuilder(graph_name="blocking", state_model=DefaultsState)

    def hold(state: DefaultsState) -> dict[str, Any]:
        gate.wait(10)
        return {"log": "held"}

    b.set_entrypoint("hold")
    b.add_node("hold", hold, next_node="after")
    b.add_node("after", lambda s: {"log": "after"}, terminal=True)
    return b.build()


def registrations(gate: threading.Event) -> list[GraphRegistration]:
    examples = [load_example(name).runtime.registrations()[0] for name in EXAMPLES]
    return examples + [build_defaults(), build_wait_event(), build_blocking(gate),
                       build_versioned("1.0.0"), build_versioned("2.0.0")]


# --- client -------------------------------------------------------------------------------------


def _no_leaks(response: httpx.Response) -> None:
    if "text/event-stream" in response.headers.get("content-type", ""):
        return
    text = response.read().decode("utf-8", "replace")
    for leak in LEAKS:
        assert leak not in text, f"{response.request.method} {response.request.url}: '{leak}' in {text[:300]}"


@contextmanager
def serve(db: Path, gate: threading.Event, **options: Any) -> Iterator[TestClient]:
    with TestClient(build_local_app(registrations(gate), db=db, **options)) as client:
        client.event_hooks = {"request": [], "response": [_no_leaks]}
        try:
            yield client
        finally:
            gate.set()  # a blocked handler never outlives its test


@pytest.fixture
def gate() -> threading.Event:
    return threading.Event()


@pytest.fixture
def client(tmp_path: Path, gate: threading.Event) -> Iterator[TestClient]:
    with serve(tmp_path / "a.db", gate) as c:
        yield c


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The one error shape: ``{"error": {"code", "message", "details"}}``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code, error
    return error


def start(client: TestClient, graph: str, body: Any = None, *, wait: float | None = None,
          **params: str) -> httpx.Response:
    query = dict(params)
    if wait is not None:
        query["wait"] = str(wait)
    return client.post(f"/api/graphs/{graph}/runs", params=query, json=body)


def poll(client: TestClient, instance_id: str, until: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    deadline = time.monotonic() + POLL_SECONDS
    while True:
        run = client.get(f"/api/runs/{instance_id}").json()
        if until(run):
            return run
        assert time.monotonic() < deadline, f"run {instance_id} never reached the state: {run}"
        time.sleep(0.02)


def waiting_run(client: TestClient, ticket: str = "My order has not arrived") -> dict[str, Any]:
    response = start(client, "support_agent", {"ticket": ticket}, wait=5)
    assert response.status_code == 202, response.text
    run = response.json()
    assert run["status"] == "waiting", run
    return run


def running_blocked_run(client: TestClient) -> dict[str, Any]:
    response = start(client, "blocking", {})
    assert response.status_code == 202, response.text
    return poll(client, response.json()["instance_id"],
                lambda r: r["status"] == "running" and r["current_nodes"] == ["hold"])


# --- service ------------------------------------------------------------------------------------


def test_health_lists_registered_graphs(client: TestClient) -> None:
    response = client.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert body["registered_graphs"] == [
        "my_graph", "support_agent", "content_classifier", "defaults", "wait_event", "blocking", "versioned"]


def test_unknown_route_is_json_404(client: TestClient) -> None:
    for path in ("/api/nope", "/nothing", "/api/runs/x/y/z", "/api/graphs/my_graph/runs/extra"):
        assert_error(client.get(path), 404, "NOT_FOUND")


def test_wrong_method_is_json_405(client: TestClient) -> None:
    for method, path in (("POST", "/api/health"), ("DELETE", "/api/graphs"), ("PUT", "/api/runs/x"),
                         ("GET", "/api/runs/x/cancel"), ("PATCH", "/api/graphs/my_graph/runs"),
                         ("GET", "/api/runs/x/events/approval")):
        assert_error(client.request(method, path), 405, "METHOD_NOT_ALLOWED")


def test_docs_page_is_self_contained(client: TestClient) -> None:
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "/api/openapi.json" in html
    hosts = set(re.findall(r"https?://([^/\"'\s)<>]+)", html))
    assert hosts <= {"localhost", "127.0.0.1", "testserver"}, hosts
    assert not re.search(r"""(src|href)\s*=\s*["']//""", html), "protocol-relative URL to another host"


# --- graphs -------------------------------------------------------------------------------------


def test_list_graphs(client: TestClient) -> None:
    response = client.get("/api/graphs")
    assert response.status_code == 200
    graphs = {g["name"]: g for g in response.json()["graphs"]}
    assert set(graphs) == {"my_graph", "support_agent", "content_classifier", "defaults", "wait_event",
                           "blocking", "versioned"}
    support = graphs["support_agent"]
    assert support["version"] == "0.1.0" and support["versions"] == ["0.1.0"]
    assert support["entrypoint"] == "draft_reply"
    assert support["events"] == ["approval"]
    assert "send_reply" in support["nodes"]
    assert support["url"] == "/api/graphs/support_agent"
    assert re.fullmatch(r"[0-9a-f]{64}", support["graph_hash"])
    assert graphs["versioned"]["version"] == "2.0.0"
    assert graphs["versioned"]["versions"] == ["1.0.0", "2.0.0"]


def test_graph_detail(client: TestClient) -> None:
    response = client.get("/api/graphs/support_agent")
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "support_agent" and body["version"] == "0.1.0"
    assert body["versions"] == ["0.1.0"]
    assert body["manifest"]["graph_name"] == "support_agent"
    assert body["manifest"]["entrypoint"] == "draft_reply"
    assert re.fullmatch(r"[0-9a-f]{64}", body["graph_hash"])
    assert isinstance(body["mermaid"], str) and "draft_reply" in body["mermaid"]
    assert {"ticket", "draft", "status", "log"} <= set(body["input_schema"]["properties"])
    assert body["input_schema"]["required"] == ["ticket"]
    approval = body["event_schemas"]["approval"]
    assert set(approval["properties"]) == {"approved", "reviewer", "comment"}
    assert sorted(approval["required"]) == ["approved", "reviewer"]


def test_two_versions_are_listed_and_selected(client: TestClient) -> None:
    latest = client.get("/api/graphs/versioned").json()
    v1 = client.get("/api/graphs/versioned", params={"version": "1.0.0"}).json()
    assert latest["version"] == "2.0.0" and v1["version"] == "1.0.0"
    assert latest["versions"] == v1["versions"] == ["1.0.0", "2.0.0"]
    assert latest["graph_hash"] != v1["graph_hash"]
    assert_error(client.get("/api/graphs/versioned", params={"version": "9.9.9"}), 404, "GRAPH_NOT_FOUND")

    old = start(client, "versioned", {}, wait=5, version="1.0.0")
    new = start(client, "versioned", {}, wait=5)
    assert old.status_code == new.status_code == 200
    assert old.json()["graph_version"] == "1.0.0" and old.json()["graph_hash"] == v1["graph_hash"]
    assert new.json()["graph_version"] == "2.0.0" and new.json()["graph_hash"] == latest["graph_hash"]
    assert old.json()["output"]["state"]["text"] == "v1"
    assert new.json()["output"]["state"]["text"] == "v2"
    assert_error(start(client, "versioned", {}, version="9.9.9"), 404, "GRAPH_NOT_FOUND")


def test_unknown_graph_is_404(client: TestClient) -> None:
    error = assert_error(client.get("/api/graphs/nope"), 404, "GRAPH_NOT_FOUND")
    assert "nope" in error["message"]
    assert_error(start(client, "nope", {"x": 1}), 404, "GRAPH_NOT_FOUND")
    # 404 before the body is read: an invalid body does not turn it into a 400
    assert_error(client.post("/api/graphs/nope/runs", content=b"{not json"), 404, "GRAPH_NOT_FOUND")


# --- start --------------------------------------------------------------------------------------


def test_start_returns_202_location_and_run_resource(client: TestClient) -> None:
    response = start(client, "support_agent", {"input": {"ticket": "t-1"}, "metadata": {"tenant": "a"}})
    assert response.status_code == 202, response.text
    run = response.json()
    assert RUN_FIELDS <= set(run)
    assert response.headers["location"] == f"/api/runs/{run['instance_id']}"
    assert run["graph_name"] == "support_agent" and run["graph_version"] == "0.1.0"
    assert run["status"] in ("pending", "running", "waiting")
    assert run["runtime_status"] in ("Pending", "Running")
    assert run["input"]["ticket"] == "t-1" and run["input"]["status"] == "open"
    assert run["metadata"] == {"tenant": "a"}
    assert run["output"] is None and run["error"] is None
    assert run["created_at"] <= run["updated_at"]
    assert run["custom_status"]["step"] == run["step"]

    waiting = poll(client, run["instance_id"], lambda r: r["status"] == "waiting")
    assert client.get(response.headers["location"]).json()["instance_id"] == run["instance_id"]
    assert waiting["runtime_status"] == "Running"
    assert waiting["current_nodes"] == []
    (wait,) = waiting["waiting_for"]
    assert wait["event"] == "approval" and wait["resume_node"] == "apply_decision"
    assert wait["on_timeout"] == "escalate" and wait["deadline"] > waiting["created_at"]
    assert set(wait["payload_schema"]["properties"]) == {"approved", "reviewer", "comment"}
    assert waiting["urls"]["self"] == response.headers["location"]


def test_empty_body_means_empty_input(client: TestClient) -> None:
    response = client.post("/api/graphs/defaults/runs?wait=5")
    assert response.status_code == 200, response.text
    run = response.json()
    assert run["input"] == {"count": 0, "text": "", "log": []}
    assert run["output"]["state"]["count"] == 1
    blank = client.post("/api/graphs/defaults/runs?wait=5", content=b"  \n")
    assert blank.status_code == 200 and blank.json()["input"] == run["input"]


def test_bare_object_is_the_input(client: TestClient) -> None:
    response = start(client, "my_graph", {"message": "hi"}, wait=5)
    assert response.status_code == 200, response.text
    run = response.json()
    assert run["status"] == "completed" and run["runtime_status"] == "Completed"
    assert run["input"] == {"message": "hi", "processed": False}
    assert run["output"]["state"] == {"message": "Done: hi", "processed": True}
    assert "location" not in response.headers
    wrapped = start(client, "my_graph", {"input": {"message": "hi"}}, wait=5)
    assert wrapped.status_code == 200 and wrapped.json()["input"] == run["input"]


def test_wait_returns_the_finished_run(client: TestClient) -> None:
    response = start(client, "content_classifier", {"text": "Buy cheap pills now"}, wait=5)
    assert response.status_code == 200
    run = response.json()
    assert run["status"] == "completed"
    assert run["output"]["state"]["category"] == "spam"
    assert run["output"]["state"]["result"] == "quarantined"
    # a run that parks on a wait is not finished: 202
    assert waiting_run(client)["waiting_for"][0]["event"] == "approval"
    for bad in ("abc", "-1", "nan"):
        assert_error(start(client, "my_graph", {"message": "m"}, wait=bad), 400, "INVALID_INPUT")  # type: ignore[arg-type]


def test_invalid_input_is_400_with_pydantic_errors(client: TestClient) -> None:
    error = assert_error(start(client, "my_graph", {"input": {"processed": "not a bool"}}), 400, "INVALID_INPUT")
    locs = {tuple(d["loc"]) for d in error["details"]}
    assert ("message",) in locs and ("processed",) in locs
    assert all({"type", "loc", "msg"} <= set(d) for d in error["details"])
    assert_error(start(client, "my_graph", {"input": ["not", "an", "object"]}), 400, "INVALID_INPUT")


def test_unknown_top_level_keys_are_400(client: TestClient) -> None:
    error = assert_error(start(client, "my_graph", {"input": {"message": "m"}, "colour": "red"}), 400,
                         "INVALID_INPUT")
    assert "colour" in error["message"]
    assert_error(start(client, "my_graph", {"input": {"message": "m"}, "instance_id": 5}), 400, "INVALID_INPUT")
    assert_error(start(client, "my_graph", {"input": {"message": "m"}, "instance_id": "  "}), 400, "INVALID_INPUT")
    assert_error(start(client, "my_graph", {"input": {"message": "m"}, "metadata": [1]}), 400, "INVALID_INPUT")


def test_non_json_body_is_400(client: TestClient) -> None:
    for body in (b"{not json", b"\xff\xfe\x00", b"{'single': 'quotes'}"):
        assert_error(client.post("/api/graphs/my_graph/runs", content=body, headers=JSON), 400, "INVALID_JSON")


def test_non_object_body_is_400(client: TestClient) -> None:
    for body in (b"[1, 2]", b'"text"', b"42", b"null", b"true"):
        error = assert_error(client.post("/api/graphs/my_graph/runs", content=body, headers=JSON), 400, "INVALID_INPUT")
        assert "object" in error["message"]


def test_same_instance_id_is_idempotent(client: TestClient) -> None:
    body = {"input": {"message": "once"}, "instance_id": "order-42"}
    first = start(client, "my_graph", body, wait=5)
    again = start(client, "my_graph", body)
    assert first.json()["instance_id"] == again.json()["instance_id"] == "order-42"
    assert again.status_code in (200, 202)
    assert again.json()["created_at"] == first.json()["created_at"]
    assert again.json()["status"] == "completed"
    runs = client.get("/api/runs", params={"graph": "my_graph"}).json()["runs"]
    assert [r["instance_id"] for r in runs] == ["order-42"]
    conflict = assert_error(start(client, "my_graph", {**body, "input": {"message": "twice"}}), 409, "RUN_CONFLICT")
    assert conflict["details"]["instance_id"] == "order-42"
    assert_error(start(client, "content_classifier", {"input": {"text": "once"}, "instance_id": "order-42"}),
                 409, "RUN_CONFLICT")


def test_body_over_one_mib_is_413(client: TestClient) -> None:
    big = b'{"message": "' + b"x" * MiB + b'"}'
    assert_error(client.post("/api/graphs/my_graph/runs", content=big, headers=JSON), 413, "BODY_TOO_LARGE")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is enforced while reading
        yield b'{"message": "'
        for _ in range(17):
            yield b"x" * 65536
        yield b'"}'

    assert_error(client.post("/api/graphs/my_graph/runs", content=chunks(), headers=JSON), 413, "BODY_TOO_LARGE")
    run = waiting_run(client)
    assert_error(client.post(f"/api/runs/{run['instance_id']}/events/approval", content=big, headers=JSON), 413,
                 "BODY_TOO_LARGE")
    exactly = b'{"message": "' + b"x" * (MiB - 15) + b'"}'
    assert len(exactly) == MiB  # the limit itself is accepted
    assert start(client, "my_graph", None).status_code == 400  # still serving
    assert client.post("/api/graphs/my_graph/runs", content=exactly, headers=JSON).status_code == 202


# --- reading runs -------------------------------------------------------------------------------


def test_get_unknown_run_is_404(client: TestClient) -> None:
    error = assert_error(client.get("/api/runs/does-not-exist"), 404, "RUN_NOT_FOUND")
    assert error["details"] == {"instance_id": "does-not-exist"}
    assert_error(client.get("/api/runs/does-not-exist/history"), 404, "RUN_NOT_FOUND")
    assert_error(client.get("/api/runs/does-not-exist/stream"), 404, "RUN_NOT_FOUND")


def test_list_runs_filters(client: TestClient) -> None:
    done = [start(client, "my_graph", {"message": f"m{i}"}, wait=5).json()["instance_id"] for i in range(3)]
    waiting = [waiting_run(client, f"ticket {i}")["instance_id"] for i in range(2)]

    everything = client.get("/api/runs").json()
    assert {r["instance_id"] for r in everything["runs"]} == set(done + waiting)
    assert everything["next_cursor"] is None
    created = [r["created_at"] for r in everything["runs"]]
    assert created == sorted(created, reverse=True)  # newest first
    assert all(RUN_FIELDS <= set(r) for r in everything["runs"])

    mine = client.get("/api/runs", params={"graph": "my_graph"}).json()["runs"]
    assert sorted(r["instance_id"] for r in mine) == sorted(done)
    parked = client.get("/api/runs", params={"status": "waiting"}).json()["runs"]
    assert sorted(r["instance_id"] for r in parked) == sorted(waiting)
    both = client.get("/api/runs", params={"status": "completed", "graph": "support_agent"}).json()
    assert both["runs"] == []
    later = client.get("/api/runs", params={"created_after": "9999-01-01T00:00:00Z"}).json()["runs"]
    assert later == []
    earlier = client.get("/api/runs", params={"created_before": min(created)}).json()["runs"]
    assert earlier == []
    assert client.get("/api/runs", params={"graph": "nope"}).json()["runs"] == []


def test_list_runs_rejects_bad_queries(client: TestClient) -> None:
    error = assert_error(client.get("/api/runs", params={"status": "sleeping"}), 400, "INVALID_INPUT")
    assert "sleeping" in error["message"]
    for limit in ("0", "-3", "ten", "nan"):
        assert_error(client.get("/api/runs", params={"limit": limit}), 400, "INVALID_INPUT")
    assert_error(client.get("/api/runs", params={"created_after": "yesterday"}), 400, "INVALID_INPUT")
    error = assert_error(client.get("/api/runs", params={"cursor": "garbage"}), 400)
    assert error["code"] in ("INVALID_CURSOR", "INVALID_INPUT")


def test_cursor_paging_gives_each_run_once(client: TestClient) -> None:
    ids = {start(client, "defaults", {"count": i}, wait=5).json()["instance_id"] for i in range(7)}
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(10):
        params = {"limit": "2", "graph": "defaults"} | ({"cursor": cursor} if cursor else {})
        page = client.get("/api/runs", params=params).json()
        assert len(page["runs"]) <= 2
        seen += [r["instance_id"] for r in page["runs"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert cursor is None, "paging did not end"
    assert len(seen) == len(set(seen)) == 7
    assert set(seen) == ids


def test_history(client: TestClient) -> None:
    run = start(client, "my_graph", {"message": "h"}, wait=5).json()
    response = client.get(f"/api/runs/{run['instance_id']}/history")
    assert response.status_code == 200
    body = response.json()
    assert body["instance_id"] == run["instance_id"]
    steps = body["steps"]
    assert [s["node"] for s in steps] == ["process", "finalize"]
    assert [s["step"] for s in steps] == [1, 2]
    keys = {"step", "task_id", "node", "attempt", "ok", "update", "route", "error", "started_at", "finished_at"}
    assert all(set(s) == keys for s in steps)
    assert all(s["ok"] is True and s["error"] is None and s["attempt"] == 1 for s in steps)
    assert steps[0]["update"] == {"processed": True}
    assert steps[1]["update"] == {"message": "Done: h"}


# --- events -------------------------------------------------------------------------------------


def test_event_accepted_and_run_completes(client: TestClient) -> None:
    run = waiting_run(client)
    url = f"/api/runs/{run['instance_id']}/events/approval"
    response = client.post(url, json={"approved": True, "reviewer": "ana"}, headers={"x-event-id": "ev-1"})
    assert response.status_code == 202, response.text
    assert response.json() == {"instance_id": run["instance_id"], "event_name": "approval",
                               "accepted": True, "event_id": "ev-1"}
    done = poll(client, run["instance_id"], lambda r: r["status"] == "completed")
    assert done["output"]["state"]["status"] == "sent"
    assert done["output"]["state"]["reviewer"] == "ana"
    assert done["waiting_for"] == []
    nodes = [s["node"] for s in client.get(f"/api/runs/{run['instance_id']}/history").json()["steps"]]
    assert nodes == ["draft_reply", "event:approval", "apply_decision", "send_reply"]


def test_event_without_id_gets_one(client: TestClient) -> None:
    run = waiting_run(client)
    response = client.post(f"/api/runs/{run['instance_id']}/events/approval",
                           json={"approved": False, "reviewer": "bo", "comment": "shorter"})
    assert response.status_code == 202
    assert isinstance(response.json()["event_id"], str) and response.json()["event_id"]
    again = poll(client, run["instance_id"], lambda r: r["status"] == "waiting" and r["step"] > run["step"])
    assert again["waiting_for"][0]["node"] == "revise"


def test_event_payload_model_failure_is_400(client: TestClient) -> None:
    run = waiting_run(client)
    url = f"/api/runs/{run['instance_id']}/events/approval"
    error = assert_error(client.post(url, json={"approved": "perhaps"}), 400, "INVALID_INPUT")
    locs = {tuple(d["loc"]) for d in error["details"]}
    assert locs == {("approved",), ("reviewer",)}
    assert_error(client.post(url, content=b"{nope", headers=JSON), 400, "INVALID_JSON")
    after = client.get(f"/api/runs/{run['instance_id']}").json()
    assert after["status"] == "waiting" and after["step"] == run["step"]


def test_event_to_unknown_run_is_404(client: TestClient) -> None:
    assert_error(client.post("/api/runs/ghost/events/approval", json={}), 404, "RUN_NOT_FOUND")


def test_undeclared_event_is_404(client: TestClient) -> None:
    run = waiting_run(client)
    error = assert_error(client.post(f"/api/runs/{run['instance_id']}/events/rejection", json={}), 404,
                         "EVENT_NOT_DECLARED")
    assert error["details"]["event"] == "rejection"


def test_event_to_finished_run_is_409(client: TestClient) -> None:
    run = start(client, "my_graph", {"message": "done"}, wait=5).json()
    assert_error(client.post(f"/api/runs/{run['instance_id']}/events/approval", json={}), 404,
                 "EVENT_NOT_DECLARED")
    waiting = waiting_run(client)
    client.post(f"/api/runs/{waiting['instance_id']}/cancel")
    error = assert_error(client.post(f"/api/runs/{waiting['instance_id']}/events/approval",
                                     json={"approved": True, "reviewer": "x"}), 409, "RUN_CONFLICT")
    assert error["details"]["status"] == "cancelled"


def test_non_object_payload_for_handlerless_event_is_400(client: TestClient) -> None:
    run = start(client, "wait_event", {}, wait=5).json()
    assert run["status"] == "waiting"
    assert_error(client.post(f"/api/runs/{run['instance_id']}/events/go", json=[1, 2]), 400, "INVALID_INPUT")
    error = assert_error(client.post(f"/api/runs/{run['instance_id']}/events/go", json={"colour": 1}), 400,
                         "INVALID_INPUT")
    assert "colour" in error["message"]
    time.sleep(0.2)
    assert client.get(f"/api/runs/{run['instance_id']}").json()["status"] == "waiting"
    assert client.post(f"/api/runs/{run['instance_id']}/events/go", json={"x": 7}).status_code == 202
    done = poll(client, run["instance_id"], lambda r: r["status"] == "completed")
    assert done["output"]["state"]["x"] == 7


def test_mistyped_payload_for_handlerless_event_is_400(client: TestClient) -> None:
    run = start(client, "wait_event", {}, wait=5).json()
    error = assert_error(client.post(f"/api/runs/{run['instance_id']}/events/go", json={"x": "seven"}), 400,
                         "INVALID_INPUT")
    assert [tuple(d["loc"]) for d in error["details"]] == [("x",)]
    time.sleep(0.2)
    assert client.get(f"/api/runs/{run['instance_id']}").json()["status"] == "waiting"


# --- cancel and purge ---------------------------------------------------------------------------


def test_cancel_waiting_run(client: TestClient) -> None:
    run = waiting_run(client)
    response = client.post(f"/api/runs/{run['instance_id']}/cancel", json={"reason": "customer withdrew"})
    assert response.status_code == 202, response.text
    body = response.json()
    # A graceful cancel ends the orchestration normally: Durable calls the instance Completed.
    assert body["status"] == "cancelled" and body["runtime_status"] == "Completed"
    assert body["waiting_for"] == []
    error = assert_error(client.post(f"/api/runs/{run['instance_id']}/cancel"), 409, "RUN_CONFLICT")
    assert error["details"]["status"] == "cancelled"
    assert_error(client.post(f"/api/runs/{run['instance_id']}/cancel?force=true"), 409, "RUN_CONFLICT")


def test_cancel_running_run_at_step_boundary(client: TestClient, gate: threading.Event) -> None:
    run = running_blocked_run(client)
    response = client.post(f"/api/runs/{run['instance_id']}/cancel", json={"reason": "enough"})
    assert response.status_code == 202
    assert response.json()["status"] in ("running", "cancelled")
    gate.set()
    done = poll(client, run["instance_id"], lambda r: r["status"] in ("cancelled", "completed"))
    assert done["status"] == "cancelled"
    assert [s["node"] for s in client.get(f"/api/runs/{run['instance_id']}/history").json()["steps"]] == ["hold"]


def test_force_cancel_terminates_at_once(client: TestClient, gate: threading.Event) -> None:
    run = running_blocked_run(client)
    response = client.post(f"/api/runs/{run['instance_id']}/cancel", params={"force": "true"},
                           json={"reason": "stuck"})
    assert response.status_code == 202
    assert response.json()["status"] == "cancelled"
    gate.set()  # the late result of the abandoned handler is never applied
    time.sleep(0.2)
    assert client.get(f"/api/runs/{run['instance_id']}").json()["status"] == "cancelled"
    waiting = waiting_run(client)
    forced = client.post(f"/api/runs/{waiting['instance_id']}/cancel?force=1")
    assert forced.status_code == 202 and forced.json()["status"] == "cancelled"


def test_cancel_errors(client: TestClient) -> None:
    run = waiting_run(client)
    url = f"/api/runs/{run['instance_id']}/cancel"
    error = assert_error(client.post(url, json={"reason": 5}), 400, "INVALID_INPUT")
    assert "reason" in error["message"]
    assert_error(client.post(url, json=["why"]), 400, "INVALID_INPUT")
    assert_error(client.post(url, content=b"{oops", headers=JSON), 400, "INVALID_JSON")
    assert client.get(f"/api/runs/{run['instance_id']}").json()["status"] == "waiting"
    assert_error(client.post("/api/runs/ghost/cancel"), 404, "RUN_NOT_FOUND")
    finished = start(client, "my_graph", {"message": "m"}, wait=5).json()
    assert_error(client.post(f"/api/runs/{finished['instance_id']}/cancel"), 409, "RUN_CONFLICT")


def test_purge(client: TestClient) -> None:
    run = waiting_run(client)
    url = f"/api/runs/{run['instance_id']}"
    error = assert_error(client.delete(url), 409, "RUN_CONFLICT")
    assert error["details"]["status"] == "waiting"
    assert client.post(f"{url}/events/approval", json={"approved": True, "reviewer": "ana"}).status_code == 202
    poll(client, run["instance_id"], lambda r: r["status"] == "completed")
    response = client.delete(url)
    assert response.status_code == 200
    assert response.json() == {"instance_id": run["instance_id"], "purged": True}
    assert_error(client.get(url), 404, "RUN_NOT_FOUND")
    assert_error(client.get(f"{url}/history"), 404, "RUN_NOT_FOUND")
    assert_error(client.delete(url), 404, "RUN_NOT_FOUND")
    assert run["instance_id"] not in {r["instance_id"] for r in client.get("/api/runs").json()["runs"]}


# --- malformed input never becomes a 500 ----------------------------------------------------------


def test_deeply_nested_json_is_400(client: TestClient) -> None:
    nested = b"[" * 100_000 + b"]" * 100_000
    assert_error(client.post("/api/graphs/my_graph/runs", content=nested, headers=JSON), 400, "INVALID_JSON")


def test_lone_surrogate_is_400(client: TestClient) -> None:
    response = client.post("/api/graphs/my_graph/runs", content=b'{"message": "\\ud800"}', headers=JSON)
    assert_error(response, 400)


def test_non_standard_json_constants_are_400(client: TestClient) -> None:
    response = client.post("/api/graphs/content_classifier/runs?wait=5",
                           content=b'{"text": "hello", "confidence": NaN}', headers=JSON)
    assert_error(response, 400, "INVALID_JSON")


@pytest.mark.parametrize("instance_id", [
    "a/b", "a b", "a?b", "a#b", "a\nb", "\u65e5\u672c-1", "x" * 1000, "order-1.2:tenant@eu_west",
    "..", ".",
])
def test_any_accepted_instance_id_is_reachable(client: TestClient, instance_id: str) -> None:
    response = start(client, "my_graph", {"input": {"message": "m"}, "instance_id": instance_id})
    if response.status_code == 400:
        return  # refusing such ids is fine
    assert response.status_code == 202, response.text
    location = response.headers["location"]
    assert location == f"/api/runs/{quote(instance_id, safe='')}"
    assert client.get(location).json()["instance_id"] == instance_id


def test_plain_instance_ids_are_accepted(client: TestClient) -> None:
    for instance_id in ("order-1.2:tenant@eu_west", "A", "0" * 64):
        response = start(client, "my_graph", {"input": {"message": "m"}, "instance_id": instance_id})
        assert response.status_code == 202, response.text
        assert client.get(response.headers["location"]).json()["instance_id"] == instance_id


# --- the app's lifespan -------------------------------------------------------------------------


def test_lifespan_leaves_no_pending_tasks(tmp_path: Path) -> None:
    async def serve_once() -> list[str]:
        app = build_local_app([build_defaults()], db=tmp_path / "l.db")
        async with app.router.lifespan_context(app):
            await asyncio.sleep(0.05)
        current = asyncio.current_task()
        return [repr(t.get_coro()) for t in asyncio.all_tasks() if t is not current]

    assert asyncio.run(serve_once()) == []


def test_the_app_can_be_served_twice(tmp_path: Path) -> None:
    app = build_local_app([build_defaults()], db=tmp_path / "twice.db")
    with TestClient(app) as client:
        first = client.post("/api/graphs/defaults/runs?wait=5").json()["instance_id"]
    with TestClient(app) as client:
        assert client.get(f"/api/runs/{first}").json()["status"] == "completed"


# --- API key ------------------------------------------------------------------------------------


def _concrete(path: str) -> str:
    return path.replace("{graph}", "my_graph").replace("{instance_id}", "some-run").replace("{event}", "approval")


def test_api_key_is_required_except_health(tmp_path: Path, gate: threading.Event) -> None:
    with serve(tmp_path / "k.db", gate, api_key="k") as client:
        assert client.get("/api/health").status_code == 200
        # /health and /docs (a page with no data; it sends the key it asks for) are public.
        protected = [(r.method, "/api" + _concrete(r.path)) for r in ROUTES if not r.public]
        assert {r.path for r in ROUTES if r.public} == {"/health", "/docs"}
        assert len(protected) == len(ROUTES) - 2
        for method, path in protected:
            error = assert_error(client.request(method, path), 401, "UNAUTHORIZED")
            assert "key" in error["message"]
            assert_error(client.request(method, path, headers={"x-functions-key": "wrong"}), 401, "UNAUTHORIZED")
            assert_error(client.request(method, path, headers={"Authorization": "Bearer wrong"}), 401,
                         "UNAUTHORIZED")
            assert_error(client.request(method, path, headers={"Authorization": "Basic k"}), 401, "UNAUTHORIZED")
            for headers in ({"x-functions-key": "k"}, {"Authorization": "Bearer k"}):
                assert client.request(method, path, headers=headers).status_code != 401, (method, path, headers)


def test_api_key_accepts_both_headers(tmp_path: Path, gate: threading.Event) -> None:
    with serve(tmp_path / "k.db", gate, api_key="k") as client:
        by_key = client.get("/api/graphs", headers={"x-functions-key": "k"})
        by_bearer = client.get("/api/graphs", headers={"Authorization": "Bearer k"})
        assert by_key.status_code == by_bearer.status_code == 200
        assert by_key.json() == by_bearer.json()
        response = client.post("/api/graphs/my_graph/runs?wait=5", json={"message": "m"},
                               headers={"Authorization": "Bearer k"})
        assert response.status_code == 200
        run_url = f"/api/runs/{response.json()['instance_id']}"
        assert_error(client.get(run_url), 401, "UNAUTHORIZED")
        assert client.get(run_url, headers={"x-functions-key": "k"}).json()["status"] == "completed"
        # a wrong x-functions-key is not rescued by a right bearer token
        assert_error(client.get(run_url, headers={"x-functions-key": "no", "Authorization": "Bearer k"}), 401)
        assert client.get("/api/docs", headers={"x-functions-key": "k"}).status_code == 200

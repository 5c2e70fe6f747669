"""The Azure target end to end on the Durable emulator, over a real loopback socket.

- The DESIGN quick example, saved as ``function_app.py``, runs to completion through
  ``durable-graph serve --engine durable-emulator`` and the HTTP API.
- The seed's defects do not exist: an unknown run is 404 (the SDK's status for it is a falsy
  object), events and cancels for unknown or finished runs are 404/409 (never 500), input is
  validated at start, and no response carries a Durable system key or management URL.
- An event is never lost across continue-as-new, even when events arrive while the run keeps
  compacting its history.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from pydantic import BaseModel

from azure_functions_durable_graph import DurableGraphApp, ManifestBuilder, RouteDecision, reducers
from azure_functions_durable_graph.azure.emulator import DurableEmulator, EmulatorServer
from graph_helpers import load_example
from test_serve_e2e import poll, serving

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
LEAKS = ("code=", "systemKey", "runtime/webhooks", "Traceback", "taskHub")
FINISHED = ("completed", "failed", "cancelled")


def assert_no_leak(response: httpx.Response) -> None:
    for leak in LEAKS:
        assert leak not in response.text, f"{leak!r} in {response.request.method} {response.request.url}: {response.text}"


def test_quick_example_runs_on_the_emulator_through_serve(tmp_path: Path) -> None:
    shutil.copy(EXAMPLES_DIR / "quick_example.py", tmp_path / "function_app.py")
    with serving(["--engine", "durable-emulator"], tmp_path, tmp_path / "serve.log") as server:
        assert server.wait_ready() == {"ok": True, "registered_graphs": ["my_graph"]}
        started = server.http.post("/api/graphs/my_graph/runs", json={"input": {"message": "hello"}})
        assert started.status_code == 202, started.text
        assert_no_leak(started)
        instance_id = started.json()["instance_id"]
        done = poll(server, instance_id, lambda r: r["status"] in FINISHED)
        assert done["status"] == "completed" and done["runtime_status"] == "Completed", done
        assert done["output"]["state"] == {"message": "Done: hello", "processed": True}
        steps = server.http.get(f"/api/runs/{instance_id}/history").json()["steps"]
        assert [s["node"] for s in steps] == ["process", "finalize"]
        assert "Durable emulator" in server.output()
        assert server.interrupt() == 0


ITEMS, LOOPS = 12, 40


@pytest.fixture(scope="module")
def emulated() -> Any:
    # One emulator server at a time per process: the Durable SDK's client shares one aiohttp
    # session bound to one event loop. Compacting at every boundary stresses continue-as-new.
    runtime = DurableGraphApp(continue_as_new_after_steps=1)
    runtime.register_registration(_support_agent())
    runtime.register_registration(_collector(ITEMS, LOOPS))
    for version in ("1", "2"):
        runtime.register_registration(_versioned(version))
    emulator = DurableEmulator(runtime.function_app)
    with EmulatorServer(emulator) as server, httpx.Client(base_url=server.base_url, timeout=30) as client:
        yield server, client, emulator


class Tagged(BaseModel):
    """Which version ran."""

    ran: str = ""


def _versioned(version: str) -> Any:
    builder = ManifestBuilder(graph_name="versioned", state_model=Tagged, version=version)
    builder.set_entrypoint("only")
    builder.add_node("only", lambda s: {"ran": f"v{version}"}, terminal=True)
    return builder.build()


def _support_agent() -> Any:
    module = load_example("support_agent")
    for value in vars(module).values():
        if isinstance(value, DurableGraphApp):
            return value.get("support_agent")
    raise AssertionError("support_agent example has no DurableGraphApp")


def _wait(client: httpx.Client, instance_id: str, statuses: tuple[str, ...]) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        run = client.get(f"/api/runs/{instance_id}").json()
        if run["status"] in statuses:
            return dict(run)
        assert time.monotonic() < deadline, run
        time.sleep(0.02)


def test_unknown_runs_are_404_not_500(emulated: Any) -> None:
    _, client, _ = emulated
    for method, path in (("GET", "/api/runs/nope"), ("GET", "/api/runs/nope/history"),
                         ("POST", "/api/runs/nope/events/approval"), ("POST", "/api/runs/nope/cancel"),
                         ("POST", "/api/runs/nope/cancel?force=true"), ("DELETE", "/api/runs/nope")):
        response = client.request(method, path, json={} if method == "POST" else None)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["error"]["code"] == "RUN_NOT_FOUND"
        assert_no_leak(response)


def test_a_finished_run_refuses_events_and_cancels_with_409(emulated: Any) -> None:
    _, client, _ = emulated
    started = client.post("/api/graphs/support_agent/runs", json={"input": {"ticket": "Where is my order?"}})
    instance_id = started.json()["instance_id"]
    _wait(client, instance_id, ("waiting",))
    assert client.post(f"/api/runs/{instance_id}/events/approval",
                       json={"approved": True, "reviewer": "ana"}).status_code == 202
    done = _wait(client, instance_id, FINISHED)
    assert done["status"] == "completed", done
    for path in (f"/api/runs/{instance_id}/events/approval", f"/api/runs/{instance_id}/cancel"):
        response = client.post(path, json={"approved": True, "reviewer": "ana"} if "events" in path else {})
        assert response.status_code == 409, response.text
        assert response.json()["error"]["code"] == "RUN_CONFLICT"
        assert_no_leak(response)
    assert client.delete(f"/api/runs/{instance_id}").status_code == 200
    assert client.get(f"/api/runs/{instance_id}").status_code == 404


def test_input_and_event_payloads_are_validated_before_anything_runs(emulated: Any) -> None:
    _, client, _ = emulated
    bad = client.post("/api/graphs/support_agent/runs", json={"input": {"ticket": 42}})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "INVALID_INPUT", bad.text
    assert client.post("/api/graphs/nope/runs", json={}).status_code == 404
    started = client.post("/api/graphs/support_agent/runs", json={"input": {"ticket": "refund please"}})
    instance_id = started.json()["instance_id"]
    _wait(client, instance_id, ("waiting",))
    wrong = client.post(f"/api/runs/{instance_id}/events/approval", json={"approved": "maybe"})
    assert wrong.status_code == 400, wrong.text
    undeclared = client.post(f"/api/runs/{instance_id}/events/nope", json={})
    assert undeclared.status_code == 404 and undeclared.json()["error"]["code"] == "EVENT_NOT_DECLARED"
    cancelled = client.post(f"/api/runs/{instance_id}/cancel", json={"reason": "test over"})
    assert cancelled.status_code == 202
    final = _wait(client, instance_id, FINISHED)
    assert final["status"] == "cancelled", final
    for response in (bad, wrong, undeclared, cancelled):
        assert_no_leak(response)


def test_terminate_is_a_hard_stop(emulated: Any) -> None:
    _, client, _ = emulated
    started = client.post("/api/graphs/support_agent/runs", json={"input": {"ticket": "stop me"}})
    instance_id = started.json()["instance_id"]
    _wait(client, instance_id, ("waiting",))
    forced = client.post(f"/api/runs/{instance_id}/cancel?force=true", json={"reason": "now"})
    assert forced.status_code == 202, forced.text
    final = _wait(client, instance_id, FINISHED)
    assert final["status"] == "cancelled" and final["runtime_status"] == "Terminated", final
    assert final["cancel"]["terminated"] is True


class Collected(BaseModel):
    """A loop counter and the payloads of the events received."""

    count: int = 0
    items: Annotated[list[str], reducers.extend] = []


def _collector(expected_items: int, loops: int) -> Any:
    builder = ManifestBuilder(graph_name="collector", state_model=Collected, max_steps=500)

    def tick(state: Collected) -> dict[str, Any]:
        time.sleep(0.002)  # events keep arriving while the loop runs and compacts
        return {"count": state.count + 1}

    def loop_or_collect(state: Collected) -> Any:
        return RouteDecision.next("tick") if state.count < loops else RouteDecision.next("collect")

    def collect_more(state: Collected) -> Any:
        if len(state.items) < expected_items:
            return RouteDecision.wait_for_event("item", "collect")
        return RouteDecision.complete()

    builder.set_entrypoint("tick")
    builder.add_node("tick", tick, route=loop_or_collect, route_targets=["tick", "collect"])
    wait = RouteDecision.wait_for_event("item", "collect")
    builder.add_node("collect", lambda s: None, route=collect_more, route_targets=[wait])

    def on_item(state: Collected, payload: dict[str, Any]) -> dict[str, Any]:
        return {"items": [payload["value"]]}

    builder.add_event_handler("item", on_item)
    return builder.build()


def test_no_event_is_lost_across_continue_as_new(emulated: Any) -> None:
    _, client, emulator = emulated
    started = client.post("/api/graphs/collector/runs", json={"input": {}})
    assert started.status_code == 202, started.text
    instance_id = started.json()["instance_id"]

    def send_all() -> None:
        for index in range(ITEMS):
            sent = client.post(f"/api/runs/{instance_id}/events/item", json={"value": f"i{index}"})
            assert sent.status_code == 202, sent.text
            time.sleep(0.003)

    sender = threading.Thread(target=send_all)
    sender.start()
    sender.join(timeout=30)
    final = _wait(client, instance_id, FINISHED)
    assert final["status"] == "completed", (emulator.get_instance(instance_id).output, emulator.get_instance(instance_id).history[-12:])
    assert sorted(final["output"]["state"]["items"], key=lambda v: int(v[1:])) == [f"i{i}" for i in range(ITEMS)]
    assert final["output"]["state"]["count"] == LOOPS
    state = emulator.get_instance(instance_id)
    assert state is not None and state.generation > LOOPS // 2, "the run did not keep compacting"


def test_listing_openapi_and_the_progress_stream_work_on_azure(emulated: Any) -> None:
    _, client, _ = emulated
    started = client.post("/api/graphs/support_agent/runs", json={"input": {"ticket": "stream me"}})
    instance_id = started.json()["instance_id"]
    _wait(client, instance_id, ("waiting",))
    listed = client.get("/api/runs", params={"graph": "support_agent", "status": "waiting"}).json()
    assert instance_id in [r["instance_id"] for r in listed["runs"]]
    document = client.get("/api/openapi.json").json()
    assert document["openapi"].startswith("3.1") and "/api/graphs/support_agent/runs" in document["paths"]
    stream = client.get(f"/api/runs/{instance_id}/stream")
    assert stream.status_code == 200 and stream.headers["content-type"].startswith("text/event-stream")
    ids = [int(line[4:]) for line in stream.text.splitlines() if line.startswith("id: ")]
    assert ids and ids == sorted(ids)
    resumed = client.get(f"/api/runs/{instance_id}/stream", headers={"Last-Event-ID": str(ids[-1])})
    assert not [line for line in resumed.text.splitlines() if line.startswith("id: ")]
    client.post(f"/api/runs/{instance_id}/cancel?force=true", json={})


def test_every_registered_version_stays_startable_and_the_latest_is_the_default(emulated: Any) -> None:
    _, client, _ = emulated
    assert client.get("/api/graphs/versioned").json()["versions"] == ["1", "2"]
    latest = client.post("/api/graphs/versioned/runs", json={})
    pinned = client.post("/api/graphs/versioned/runs", params={"version": "1"}, json={})
    assert latest.json()["graph_version"] == "2" and pinned.json()["graph_version"] == "1"
    done = [_wait(client, r.json()["instance_id"], FINISHED) for r in (latest, pinned)]
    assert [d["output"]["state"]["ran"] for d in done] == ["v2", "v1"]
    missing = client.post("/api/graphs/versioned/runs", params={"version": "9"}, json={})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "GRAPH_NOT_FOUND"

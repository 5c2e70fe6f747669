"""Issue 13, items 6, 7 and 9: cross-site requests, hostile resume points and repeated event ids.

- A body must be sent as JSON (``application/json``, ``application/*+json``): a ``text/plain``
  "simple" request, which any web page can send cross-site without a preflight, is 415 on both
  engines and starts or sends nothing. ``serve`` on loopback answers only loopback ``Host``
  names (DNS rebinding) unless ``--allow-host`` says otherwise.
- ``Last-Event-ID`` outside 0..2**63-1 is 400 before the stream starts (it was a 200 cut short).
- An ``x-event-id`` names one event: a retry gets the first answer, also once the run finished;
  the id with another payload is 409 EVENT_ID_CONFLICT; ids are at most 200 characters.
"""

from __future__ import annotations

import asyncio
import json
import operator
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import pytest
from pydantic import BaseModel
from starlette.testclient import TestClient

from azure_functions_durable_graph import ManifestBuilder, RouteDecision
from azure_functions_durable_graph.api.hosts import (
    LOOPBACK_HOSTS,
    host_name,
    is_allowed,
    normalise_allowed,
)
from azure_functions_durable_graph.api.protocol import is_json_media_type
from azure_functions_durable_graph.api.server import (
    ENV_ALLOWED_HOSTS,
    ENV_DB,
    ENV_TARGET,
    build_local_app,
)
from azure_functions_durable_graph.cli.commands_serve import allowed_hosts
from azure_functions_durable_graph.errors import InvalidInputError, RunConflictError
from azure_functions_durable_graph.execution import ManualClock
from azure_functions_durable_graph.execution.event_ids import MAX_EVENT_ID_LENGTH
from azure_functions_durable_graph.graph.registration import GraphRegistration
from azure_functions_durable_graph.local.engine import LocalEngine
from azure_functions_durable_graph.local.store import MemoryRunStore, RunStore, SqliteRunStore
from http_conformance import ENGINES, HttpEngine

GRAPH = "hostile_http_events"
START = f"/api/graphs/{GRAPH}/runs"
JSON = {"content-type": "application/json"}
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


class Answer(BaseModel):
    """An answer; ``note`` has a default, so leaving it out or sending null is the same event."""

    data: int
    note: str | None = None


class EventsState(BaseModel):
    """The answers taken, in order."""

    answers: Annotated[list[int], operator.add] = []


def _ask(state: EventsState) -> None:
    return None


def _next(state: EventsState) -> Any:
    # Two answers, each taken by its own wait, then done.
    if len(state.answers) < 2:
        return RouteDecision.wait_for_event(event_name="answer", resume_node="ask")
    return "finish"


def _on_answer(state: EventsState, payload: Answer) -> dict[str, Any]:
    return {"answers": [payload.data]}


def _finish(state: EventsState) -> None:
    return None


def build_graph() -> GraphRegistration:
    """Waits for ``answer`` twice, then finishes."""
    builder = ManifestBuilder(graph_name=GRAPH, state_model=EventsState)
    builder.set_entrypoint("ask")
    builder.add_node("ask", _ask, route=_next)
    builder.add_node("finish", _finish, terminal=True)
    builder.add_event_handler("answer", _on_answer, payload_model=Answer)
    return builder.build()


@pytest.fixture(params=sorted(ENGINES), scope="module")
def engine(request: pytest.FixtureRequest) -> Iterator[HttpEngine]:
    with ENGINES[request.param](build_graph()) as serving:
        yield serving


def _start(engine: HttpEngine, instance_id: str) -> str:
    response = engine.client.post(START, json={"input": {}, "instance_id": instance_id})
    assert response.status_code == 202, response.text
    assert engine.settle(instance_id)["status"] == "waiting"
    return f"/api/runs/{quote(instance_id, safe='')}"


def _send(engine: HttpEngine, run_url: str, payload: Any, event_id: str | None = None,
          headers: dict[str, str] | None = None) -> Any:
    sent = {**JSON, **(headers or {})}
    if event_id is not None:
        sent["x-event-id"] = event_id
    return engine.client.post(f"{run_url}/events/answer", content=json.dumps(payload).encode(), headers=sent)


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, response.text
    assert set(error) == {"code", "message", "details"}
    return error


# -- item 6: bodies must be JSON ---------------------------------------------------------------

NOT_JSON_TYPES = [
    "text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x", "text/json", "application/jsonx", "application/+json",
    "application/json; charset=latin-1", "json", "",
]


@pytest.mark.parametrize("content_type", NOT_JSON_TYPES + [None])
def test_a_body_not_sent_as_json_starts_nothing(engine: HttpEngine, content_type: str | None) -> None:
    instance_id = f"simple-{NOT_JSON_TYPES.index(content_type) if content_type is not None else 'none'}"
    headers = {} if content_type is None else {"content-type": content_type}
    body = b'{"input": {}, "instance_id": "%s"}' % instance_id.encode()
    error = _error(engine.client.post(START, content=body, headers=headers), 415, "UNSUPPORTED_MEDIA_TYPE")
    assert "application/json" in error["message"]
    _error(engine.client.get(f"/api/runs/{instance_id}"), 404, "RUN_NOT_FOUND")


def test_a_text_plain_event_or_cancel_does_nothing(engine: HttpEngine) -> None:
    run_url = _start(engine, "simple-event")
    plain = {"content-type": "text/plain"}
    _error(engine.client.post(f"{run_url}/events/answer", content=b'{"data": 1}', headers=plain),
           415, "UNSUPPORTED_MEDIA_TYPE")
    _error(engine.client.post(f"{run_url}/cancel", content=b'{"reason": "x"}', headers=plain),
           415, "UNSUPPORTED_MEDIA_TYPE")
    assert engine.settle("simple-event")["status"] == "waiting"
    for data in (7, 8):
        assert _send(engine, run_url, {"data": data}).status_code == 202
        engine.settle("simple-event")
    done = engine.settle("simple-event")
    assert (done["status"], done["output"]["state"]["answers"]) == ("completed", [7, 8])


def test_a_post_without_a_body_needs_no_content_type(engine: HttpEngine) -> None:
    run_url = _start(engine, "bare-cancel")
    cancelled = engine.client.post(f"{run_url}/cancel")
    assert cancelled.status_code == 202, cancelled.text
    assert engine.settle("bare-cancel")["status"] == "cancelled"


@pytest.mark.parametrize("content_type", [
    "application/json", "Application/JSON", "application/json; charset=utf-8",
    'application/json;charset="UTF-8"', "application/merge-patch+json", "application/vnd.api+json",
])
def test_json_media_types_are_accepted(engine: HttpEngine, content_type: str) -> None:
    instance_id = f"typed-{content_type.count('j')}-{len(content_type)}"
    body = b'{"input": {}, "instance_id": "%s"}' % instance_id.encode()
    response = engine.client.post(START, content=body, headers={"content-type": content_type})
    assert response.status_code == 202, response.text


def test_media_type_rule() -> None:
    assert is_json_media_type("application/problem+json; charset=utf8")
    assert not is_json_media_type(None)
    assert not is_json_media_type("application/json; charset=utf-16")


# -- item 6: Host names on loopback --------------------------------------------------------------


def _hosted(allowed: list[str] | None, base_url: str) -> TestClient:
    app = build_local_app([build_graph()], engine=LocalEngine(MemoryRunStore()), allowed_hosts=allowed)
    return TestClient(app, base_url=base_url)


@pytest.mark.parametrize("base_url", ["http://localhost:7071", "http://127.0.0.1", "http://[::1]:8000",
                                      "http://LOCALHOST:1"])
def test_loopback_names_are_answered(base_url: str) -> None:
    with _hosted(list(LOOPBACK_HOSTS), base_url) as client:
        assert client.get("/api/health").status_code == 200
        assert client.get("/").status_code == 200  # the inspector too


@pytest.mark.parametrize("host", ["evil.example", "evil.example:7071", "localhost.evil.example",
                                  "127.0.0.1.nip.io", "[::2]:7071", "0.0.0.0:7071"])
def test_another_host_name_is_refused_on_every_route(host: str) -> None:
    with _hosted(list(LOOPBACK_HOSTS), "http://127.0.0.1:7071") as client:
        for method, path in [("GET", "/api/health"), ("GET", "/api/runs"), ("GET", "/"), ("GET", "/api/"),
                             ("POST", START)]:
            response = client.request(method, path, headers={"host": host, **JSON}, content=b"{}")
            error = _error(response, 421, "HOST_NOT_ALLOWED")
            assert error["details"]["host"] == host
        assert client.get("/api/runs").json()["runs"] == []  # nothing was started


def test_allowed_names_and_star() -> None:
    with _hosted([*LOOPBACK_HOSTS, "app.test"], "http://app.test:7071") as client:
        assert client.get("/api/health").status_code == 200
        _error(client.get("/api/health", headers={"host": "other.test"}), 421, "HOST_NOT_ALLOWED")
    for allowed in (["*"], None):
        with _hosted(allowed, "http://anything.example") as client:
            assert client.get("/api/health").status_code == 200


def test_host_rule() -> None:
    allowed = normalise_allowed(["localhost", "::1", "App.Test:80"])
    assert allowed == {"localhost", "[::1]", "app.test"}
    assert host_name("[::1]:7071") == "[::1]" and host_name("Localhost:80") == "localhost"
    assert not is_allowed(None, allowed)  # no Host header: refused
    assert is_allowed(None, normalise_allowed(["*"]))


def test_serve_chooses_the_names() -> None:
    assert allowed_hosts("127.0.0.1", []) == list(LOOPBACK_HOSTS)
    assert allowed_hosts("localhost", ["app.test"]) == [*LOOPBACK_HOSTS, "app.test"]
    assert allowed_hosts("0.0.0.0", []) is None  # a public bind: the names it is reached by are unknown
    assert allowed_hosts("0.0.0.0", ["app.test"]) == [*LOOPBACK_HOSTS, "app.test"]


def test_the_reload_factory_keeps_the_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from azure_functions_durable_graph.cli.reload_app import app_from_environment

    monkeypatch.setenv(ENV_TARGET, str(EXAMPLES / "function_app.py"))
    monkeypatch.setenv(ENV_DB, str(tmp_path / "reload.db"))
    monkeypatch.setenv(ENV_ALLOWED_HOSTS, "localhost,app.test")
    with TestClient(app_from_environment(), base_url="http://app.test") as client:
        assert client.get("/api/health").status_code == 200
        _error(client.get("/api/health", headers={"host": "evil.example"}), 421, "HOST_NOT_ALLOWED")


@pytest.mark.skipif(sys.platform == "win32", reason="sends signals to the server process")
def test_serve_on_loopback_refuses_other_host_names(tmp_path: Path) -> None:
    from test_serve_e2e import serving

    args = [str(EXAMPLES / "quick_example.py"), "--db", str(tmp_path / "runs.db"), "--allow-host", "app.test"]
    with serving(args, tmp_path, tmp_path / "serve.log") as server:
        server.wait_ready()  # Host 127.0.0.1:PORT
        assert server.http.get("/api/health", headers={"host": f"localhost:{server.port}"}).status_code == 200
        assert server.http.get("/api/health", headers={"host": "app.test"}).status_code == 200
        refused = server.http.get("/api/graphs", headers={"host": f"rebound.example:{server.port}"})
        _error(refused, 421, "HOST_NOT_ALLOWED")
        assert server.interrupt() == 0


# -- item 7: Last-Event-ID -----------------------------------------------------------------------

BAD_RESUME_POINTS = [str(2**63), str(2**64 + 5), "9" * 5000, "-1", "-9223372036854775809", "abc", "1e3",
                     "+5", "1_000", "\uff11\uff12", "0x10", "1.5"]


def test_a_resume_point_out_of_range_is_400_before_streaming(engine: HttpEngine) -> None:
    run_url = _start(engine, "resume")
    for text in BAD_RESUME_POINTS:
        for headers, params in (({"last-event-id": text.encode()}, {}), ({}, {"after": text})):
            response = engine.client.get(f"{run_url}/stream", headers=headers, params=params)
            error = _error(response, 400, "INVALID_INPUT")
            assert "'resume'" in error["message"] and "9223372036854775807" in error["message"]
    engine.client.post(f"{run_url}/cancel")
    assert engine.settle("resume")["status"] == "cancelled"
    # The largest number is a valid point: nothing after it, then the end.
    with engine.client.stream("GET", f"{run_url}/stream", headers={"last-event-id": str(2**63 - 1)}) as stream:
        assert stream.status_code == 200
        text = "".join(stream.iter_text())
    assert [line for line in text.splitlines() if line.startswith("event:")] == ["event: end"]


# -- item 9: repeated event ids ------------------------------------------------------------------


def test_a_retry_gets_the_first_answer_before_and_after_the_run_finished(engine: HttpEngine) -> None:
    run_url = _start(engine, "retry")
    first = _send(engine, run_url, {"data": 1}, "a-1")
    assert first.status_code == 202, first.text
    assert engine.settle("retry")["status"] == "waiting"  # the second wait
    # The same event again (key order and a defaulted field do not matter): counted once.
    again = _send(engine, run_url, {"note": None, "data": 1}, "a-1")
    assert (again.status_code, again.json()) == (202, first.json())
    assert engine.settle("retry")["status"] == "waiting"
    conflict = _error(_send(engine, run_url, {"data": 9}, "a-1"), 409, "EVENT_ID_CONFLICT")
    assert "'retry'" in conflict["message"] and "'a-1'" in conflict["message"]
    assert conflict["details"]["instance_id"] == "retry" and conflict["details"]["event_id"] == "a-1"
    assert _send(engine, run_url, {"data": 2}, "a-2").status_code == 202
    done = engine.settle("retry")
    assert (done["status"], done["output"]["state"]["answers"]) == ("completed", [1, 2])
    # Finished: retries of both events still get their first answer ...
    for payload, event_id in (({"data": 1}, "a-1"), ({"data": 2, "note": None}, "a-2")):
        retried = _send(engine, run_url, payload, event_id)
        assert (retried.status_code, retried.json()["event_id"]) == (202, event_id), retried.text
    # ... another payload under a used id is still a conflict, and a new event is refused.
    _error(_send(engine, run_url, {"data": 3}, "a-2"), 409, "EVENT_ID_CONFLICT")
    _error(_send(engine, run_url, {"data": 3}, "a-3"), 409, "RUN_CONFLICT")
    _error(_send(engine, run_url, {"data": 3}), 409, "RUN_CONFLICT")
    assert engine.settle("retry")["output"]["state"]["answers"] == [1, 2]


def test_event_ids_are_capped(engine: HttpEngine) -> None:
    run_url = _start(engine, "capped")
    for event_id in ("x" * (MAX_EVENT_ID_LENGTH + 1), "y" * 100_000, ""):
        error = _error(_send(engine, run_url, {"data": 1}, event_id), 400, "INVALID_INPUT")
        assert "'capped'" in error["message"] and str(MAX_EVENT_ID_LENGTH) in error["message"]
    longest = "z" * MAX_EVENT_ID_LENGTH
    accepted = _send(engine, run_url, {"data": 5}, longest)
    assert (accepted.status_code, accepted.json()["event_id"]) == (202, longest), accepted.text
    engine.settle("capped")
    assert _send(engine, run_url, {"data": 6}).status_code == 202
    done = engine.settle("capped")
    assert (done["status"], done["output"]["state"]["answers"]) == ("completed", [5, 6])  # none refused counted


def test_the_python_api_applies_the_same_rule() -> None:
    async def main() -> None:
        engine = LocalEngine(MemoryRunStore(), clock=ManualClock(auto_advance=False))
        engine.register(build_graph())
        await engine.open()
        try:
            run = await engine.start(GRAPH, {}, instance_id="py")
            await engine.wait(run.instance_id, timeout=10)
            for bad in (7, "q" * (MAX_EVENT_ID_LENGTH + 1)):
                with pytest.raises(InvalidInputError, match="event id"):
                    await engine.raise_event("py", "answer", {"data": 1}, event_id=bad)  # type: ignore[arg-type]
            assert await engine.raise_event("py", "answer", {"data": 1}, event_id="p-1") == "p-1"
            with pytest.raises(RunConflictError, match="'p-1'") as conflict:
                await engine.raise_event("py", "answer", Answer(data=2), event_id="p-1")
            assert conflict.value.code == "EVENT_ID_CONFLICT"
            assert await engine.raise_event("py", "answer", Answer(data=1), event_id="p-1") == "p-1"
        finally:
            await engine.close()

    asyncio.run(main())


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunStore]:
    opened: RunStore = MemoryRunStore() if request.param == "memory" else SqliteRunStore(tmp_path / "runs.db")
    with opened:
        yield opened


def test_stores_find_an_event_by_id_delivered_or_not(store: RunStore) -> None:
    from test_store_conformance import record

    store.create_run(record("r1"))
    store.enqueue_event("r1", "approve", {"by": "ann"}, event_id="e-1", created_at=1.0)
    found = store.find_event("r1", "e-1")
    assert found is not None and (found.name, found.payload, found.delivered_at) == ("approve", {"by": "ann"}, None)
    store.mark_events_delivered("r1", ["e-1"], delivered_at=5.0)
    found = store.find_event("r1", "e-1")
    assert found is not None and found.delivered_at == 5.0
    assert store.find_event("r1", "e-2") is None and store.find_event("ghost", "e-1") is None


def test_a_retry_after_continue_as_new_counts_once_on_azure() -> None:
    """After continue-as-new the run keeps only the ids of the events it consumed: a retry is
    still the first answer and is not taken by the next wait."""
    import httpx

    from azure_functions_durable_graph import DurableGraphApp
    from azure_functions_durable_graph.azure.emulator import DurableEmulator, EmulatorServer
    from http_conformance import EmulatorHttpEngine

    clock = ManualClock(auto_advance=False)
    runtime = DurableGraphApp(continue_as_new_after_steps=1)
    runtime.register_registration(build_graph())
    emulator = DurableEmulator(runtime.function_app, clock=clock)
    with EmulatorServer(emulator) as server, httpx.Client(base_url=server.base_url, timeout=30) as client:
        engine = EmulatorHttpEngine(client, server, emulator, clock)
        run_url = _start(engine, "compacted")
        assert _send(engine, run_url, {"data": 1}, "c-1").status_code == 202
        assert engine.settle("compacted")["status"] == "waiting"
        instance = emulator.get_instance("compacted")
        assert instance is not None and instance.generation >= 1, "the run did not continue as new"
        retried = _send(engine, run_url, {"data": 1}, "c-1")
        assert (retried.status_code, retried.json()["event_id"]) == (202, "c-1"), retried.text
        assert engine.settle("compacted")["status"] == "waiting"  # not taken as the second answer
        assert _send(engine, run_url, {"data": 2}, "c-2").status_code == 202
        done = engine.settle("compacted")
        assert (done["status"], done["output"]["state"]["answers"]) == ("completed", [1, 2])

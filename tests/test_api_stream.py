"""``GET /api/runs/{id}/stream``: Server-Sent Events of a run, live and on reconnect.

The graph: ``start`` fans out to ``a``, ``b`` and ``c``, which join in ``join``; ``join`` waits
for the ``go`` event, then ``finish`` ends the run. Every read of the stream is bounded: a
reader thread parses frames into a queue and the test waits on the queue with a timeout. The
keep-alive interval is shortened so that a missed wake-up costs at most that long.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from pydantic import BaseModel
from starlette.testclient import TestClient

from azure_functions_durable_graph import (
    GraphRegistration,
    ManifestBuilder,
    RouteDecision,
    reducers,
)
from azure_functions_durable_graph.api import stream
from azure_functions_durable_graph.api.server import build_local_app

EVENT_TIMEOUT = 10.0
KEEP_ALIVE = 1.0
GRAPH = "fan_join_wait"
FINISH_SECONDS = 0.05


class FanState(BaseModel):
    """Parallel branches append to ``log``; the ``go`` event sets ``decision``."""

    decision: str | None = None
    log: Annotated[list[str], reducers.append] = []


def build_fan_join_wait() -> GraphRegistration:
    b = ManifestBuilder(graph_name=GRAPH, state_model=FanState)
    wait = RouteDecision.wait_for_event("go", "finish", timeout=3600)
    b.set_entrypoint("start")
    b.add_node("start", lambda s: {"log": "start"}, next_node=["a", "b", "c"])
    b.add_node("a", lambda s: {"log": "a"}, next_node="join")
    b.add_node("b", lambda s: {"log": "b"}, next_node="join")
    b.add_node("c", lambda s: {"log": "c"}, next_node="join")
    b.add_node("join", lambda s: {"log": "join"}, join=True, route=lambda s: wait, route_targets=[wait])

    def finish(state: FanState) -> dict[str, Any]:
        time.sleep(FINISH_SECONDS)
        return {"log": f"finish:{state.decision}"}

    b.add_node("finish", finish, terminal=True)
    b.add_event_handler("go")  # the payload is the update
    return b.build()


# Event types in order, with the nodes of each step_started / task_completed.
BEFORE_WAIT = [
    ("run_started", None),
    ("step_started", ["start"]),
    ("task_completed", "start"),
    ("step_started", ["a", "b", "c"]),
    ("task_completed", "a|b|c"),
    ("task_completed", "a|b|c"),
    ("task_completed", "a|b|c"),
    ("step_started", ["join"]),
    ("task_completed", "join"),
    ("waiting", None),
]
AFTER_WAIT = [
    ("event_received", None),
    ("step_started", ["event:go"]),
    ("task_completed", "event:go"),
    ("step_started", ["finish"]),
    ("task_completed", "finish"),
    ("run_completed", None),
]


class SSEReader:
    """Parses an event stream on a thread; ``next`` waits for one event, at most ``timeout``."""

    def __init__(self, response: httpx.Response) -> None:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.pause = 0.0  # a slow client: sleep this long after each of the next pause_frames
        self.pause_frames = 0
        self._thread = threading.Thread(target=self._read, args=(response,), daemon=True)
        self._thread.start()

    def _read(self, response: httpx.Response) -> None:
        frame: dict[str, str] = {}
        try:
            for line in response.iter_lines():
                if not line:
                    if frame:
                        self._queue.put(dict(frame))
                        if self.pause_frames > 0:
                            self.pause_frames -= 1
                            time.sleep(self.pause)
                    frame = {}
                elif not line.startswith(":"):  # comments are keep-alives
                    name, _, value = line.partition(":")
                    frame[name] = value[1:] if value.startswith(" ") else value
        except Exception as exc:  # reported to the test, never swallowed
            self._queue.put({"event": "__error__", "data": json.dumps(repr(exc))})
        finally:
            self._queue.put(None)

    def next(self, timeout: float = EVENT_TIMEOUT) -> dict[str, Any] | None:
        """The next event as {id, event, data}, or None when the stream ended."""
        try:
            frame = self._queue.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no stream event within {timeout} s") from None
        if frame is None:
            return None
        assert frame.get("event") != "__error__", frame
        return {"id": int(frame["id"]) if "id" in frame else None, "event": frame["event"],
                "data": json.loads(frame["data"])}

    def until(self, event_type: str) -> list[dict[str, Any]]:
        """Events up to and including the first of ``event_type``."""
        events: list[dict[str, Any]] = []
        deadline = time.monotonic() + 3 * EVENT_TIMEOUT
        while time.monotonic() < deadline:
            event = self.next()
            assert event is not None, f"stream ended before '{event_type}': {events}"
            events.append(event)
            if event["event"] == event_type:
                return events
        raise AssertionError(f"no '{event_type}' event in time: {events}")

    def rest(self) -> list[dict[str, Any]]:
        """Every remaining event; the stream must end (after an ``end`` event)."""
        events: list[dict[str, Any]] = []
        for _ in range(1000):
            event = self.next()
            if event is None:
                return events
            events.append(event)
        raise AssertionError("the stream did not end")

    def join(self) -> None:
        self._thread.join(EVENT_TIMEOUT)
        assert not self._thread.is_alive()


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setattr(stream, "KEEP_ALIVE_SECONDS", KEEP_ALIVE)
    with TestClient(build_local_app([build_fan_join_wait()], db=tmp_path / "s.db")) as c:
        yield c


def start_run(client: TestClient, wait: float | None = None) -> dict[str, Any]:
    response = client.post(f"/api/graphs/{GRAPH}/runs", params={"wait": wait} if wait else {}, json={})
    assert response.status_code == 202, response.text
    return response.json()


def assert_progress(events: list[dict[str, Any]], expected: list[tuple[str, Any]]) -> None:
    """Types in order, nodes per step, data type = SSE event name, ids strictly increasing."""
    assert [e["event"] for e in events] == [t for t, _ in expected], [e["event"] for e in events]
    completed_fanout: list[str] = []
    for event, (_, nodes) in zip(events, expected, strict=True):
        assert event["data"]["type"] == event["event"]
        if event["event"] == "step_started":
            assert [t["node"] for t in event["data"]["tasks"]] == nodes
        elif event["event"] == "task_completed" and nodes == "a|b|c":
            completed_fanout.append(event["data"]["node"])
        elif event["event"] == "task_completed":
            assert event["data"]["node"] == nodes
    if any(nodes == "a|b|c" for _, nodes in expected):
        assert sorted(completed_fanout) == ["a", "b", "c"]
    ids = [e["id"] for e in events]
    assert all(isinstance(i, int) for i in ids), ids
    assert all(later > earlier for earlier, later in zip(ids, ids[1:], strict=False)), ids


def assert_end(events: list[dict[str, Any]], instance_id: str) -> None:
    assert events and events[-1]["event"] == "end", events
    assert events[-1]["id"] is None
    assert events[-1]["data"] == {"status": "completed", "instance_id": instance_id}


LIVE_TESTCLIENT = pytest.mark.skipif(
    sys.version_info < (3, 11),
    reason="Starlette's TestClient does not hand a live stream over piece by piece on Python 3.10; "
    "test_serve_e2e.py follows a live stream over a real socket on every version",
)


@LIVE_TESTCLIENT
def test_live_stream_follows_the_run(client: TestClient) -> None:
    run = start_run(client)
    instance_id = run["instance_id"]
    with client.stream("GET", f"/api/runs/{instance_id}/stream") as response:
        assert response.headers["cache-control"] == "no-cache"
        reader = SSEReader(response)
        before = reader.until("waiting")
        assert_progress(before, BEFORE_WAIT)
        assert before[-1]["data"]["event"] == "go" and before[-1]["data"]["resume_node"] == "finish"
        sent = client.post(f"/api/runs/{instance_id}/events/go", json={"decision": "yes"})
        assert sent.status_code == 202
        after = reader.rest()
        reader.join()
    assert_progress(after[:-1], AFTER_WAIT)
    assert after[0]["data"]["event_id"] == sent.json()["event_id"]
    assert after[0]["id"] > before[-1]["id"]
    assert_end(after, instance_id)
    final = client.get(f"/api/runs/{instance_id}").json()
    assert final["status"] == "completed"
    assert final["output"]["state"]["decision"] == "yes"
    assert final["output"]["state"]["log"][-1] == "finish:yes"


def test_stream_opened_after_the_event_replays_from_the_start(client: TestClient) -> None:
    run = start_run(client, wait=5)
    assert run["status"] == "waiting"
    instance_id = run["instance_id"]
    assert client.post(f"/api/runs/{instance_id}/events/go", json={"decision": "early"}).status_code == 202
    with client.stream("GET", f"/api/runs/{instance_id}/stream") as response:
        reader = SSEReader(response)
        events = reader.rest()
        reader.join()
    assert_progress(events[:-1], BEFORE_WAIT + AFTER_WAIT)
    assert_end(events, instance_id)


@LIVE_TESTCLIENT
def test_reconnect_with_last_event_id_sends_only_later_events(client: TestClient) -> None:
    run = start_run(client)
    instance_id = run["instance_id"]
    url = f"/api/runs/{instance_id}/stream"
    with client.stream("GET", url) as response:
        reader = SSEReader(response)
        before = reader.until("waiting")
    waiting_id = before[-1]["id"]
    assert client.post(f"/api/runs/{instance_id}/events/go", json={"decision": "later"}).status_code == 202

    with client.stream("GET", url, headers={"Last-Event-ID": str(waiting_id)}) as response:
        reader = SSEReader(response)
        resumed = reader.rest()
        reader.join()
    assert_progress(resumed[:-1], AFTER_WAIT)
    assert all(e["id"] > waiting_id for e in resumed[:-1])
    assert_end(resumed, instance_id)

    # ?after= is the same as Last-Event-ID (for clients that cannot set headers)
    with client.stream("GET", url, params={"after": waiting_id}) as response:
        reader = SSEReader(response)
        by_query = reader.rest()
        reader.join()
    assert [(e["id"], e["event"]) for e in by_query] == [(e["id"], e["event"]) for e in resumed]

    # after the last event: only the end
    last_id = resumed[-2]["id"]
    with client.stream("GET", url, headers={"Last-Event-ID": str(last_id)}) as response:
        reader = SSEReader(response)
        tail = reader.rest()
        reader.join()
    assert [e["event"] for e in tail] == ["end"]


def test_stream_errors_before_it_starts(client: TestClient) -> None:
    missing = client.get("/api/runs/ghost/stream")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "RUN_NOT_FOUND"
    run = start_run(client, wait=5)
    bad = client.get(f"/api/runs/{run['instance_id']}/stream", headers={"Last-Event-ID": "not-a-number"})
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "INVALID_INPUT"
    client.post(f"/api/runs/{run['instance_id']}/cancel")


@LIVE_TESTCLIENT
def test_progress_made_while_the_client_reads_is_sent_at_once(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream, "KEEP_ALIVE_SECONDS", 3.0)
    run = start_run(client)
    instance_id = run["instance_id"]
    with client.stream("GET", f"/api/runs/{instance_id}/stream") as response:
        reader = SSEReader(response)
        reader.until("waiting")
        # A client that takes 0.3 s over each of the next two frames: the run finishes
        # (finish takes 0.05 s) while the stream is still writing them.
        reader.pause, reader.pause_frames = 0.3, 2
        posted = time.monotonic()
        assert client.post(f"/api/runs/{instance_id}/events/go", json={"decision": "y"}).status_code == 202
        after = reader.rest()
        elapsed = time.monotonic() - posted
        reader.join()
    assert_end(after, instance_id)
    assert elapsed < 2.0, f"the run's last events came {elapsed:.1f} s after the event was sent"

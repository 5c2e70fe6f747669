"""``ctx.emit`` on the Azure target: activities append to the run's emit log, the stream trigger
merges the log with the run's history under one resumable id.

The merge is a pure function, checked on synthetic sequences (resuming at any id gives exactly
the rest). End to end, the support graph runs on the Durable emulator with the emulator's
in-memory log and with the app's own blob log on Azurite (``AzureWebJobsStorage``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from azure_functions_durable_graph import DurableGraphApp
from azure_functions_durable_graph.azure.emit_channel import POSITION_BITS, merge_progress
from azure_functions_durable_graph.azure.emit_log import BlobEmitLog, MemoryEmitLog
from azure_functions_durable_graph.azure.emulator import DurableEmulator, EmulatorServer
from test_emits import build_nested, build_support

# -- the merge ------------------------------------------------------------------------------


def _step(position: int, task: str) -> tuple[int, dict[str, Any]]:
    return position, {"type": "task_completed", "task_id": task, "attempt": 1}


def _emit(offset: int, task: str) -> tuple[int, dict[str, Any]]:
    return offset, {"type": "emit", "task_id": task, "attempt": 1, "data": offset}


def test_a_tasks_emits_come_before_its_step_and_ids_grow() -> None:
    steps = [_step(1, "a"), _step(2, "b")]
    emits = [_emit(10, "b"), _emit(20, "a"), _emit(30, "b"), _emit(40, "c")]
    merged = merge_progress(steps, emits, 0)
    # a's step needs a's emit at 20, which was written after b's at 10: both come first.
    assert [(e["type"], e["task_id"]) for _, e in merged] == [
        ("emit", "b"), ("emit", "a"), ("task_completed", "a"), ("emit", "b"),
        ("task_completed", "b"), ("emit", "c")]
    ids = [i for i, _ in merged]
    assert ids == sorted(set(ids))
    assert ids[2] == 20 << POSITION_BITS | 1 and ids[-1] == 40 << POSITION_BITS | 2
    assert merge_progress(steps, [], 0) == [(1, steps[0][1]), (2, steps[1][1])]  # plain positions


@given(st.lists(st.tuples(st.sampled_from("abcd"), st.booleans()), max_size=30))
def test_resuming_after_any_id_gives_exactly_the_rest(script: list[tuple[str, bool]]) -> None:
    steps: list[tuple[int, dict[str, Any]]] = []
    emits: list[tuple[int, dict[str, Any]]] = []
    for task, is_step in script:  # the order things were written in
        if is_step:
            steps.append(_step(len(steps) + 1, task))
        else:
            emits.append(_emit(10 * (len(emits) + 1), task))
    full = merge_progress(steps, emits, 0)
    assert sorted(id(e) for _, e in full) == sorted(id(e) for _, e in steps + emits)
    for k, (after, _) in enumerate(full):
        position, offset = after & ((1 << POSITION_BITS) - 1), after >> POSITION_BITS
        rest = merge_progress([s for s in steps if s[0] > position],
                              [e for e in emits if e[0] > offset], after)
        assert rest == full[k + 1:]


# -- end to end on the emulator ---------------------------------------------------------------


def follow(client: httpx.Client, instance_id: str) -> list[dict[str, Any]]:
    """Read the stream to its end, reconnecting with Last-Event-ID as a Functions host needs."""

    events: list[dict[str, Any]] = []
    last: str | None = None
    for _ in range(200):
        headers = {"Last-Event-ID": last} if last else {}
        response = client.get(f"/api/runs/{instance_id}/stream", headers=headers)
        assert response.status_code == 200, response.text
        for frame in response.text.split("\n\n"):
            fields = dict(line.split(": ", 1) for line in frame.splitlines() if not line.startswith(":"))
            if "event" not in fields:  # the "retry:" advice
                continue
            if fields["event"] == "end":
                return events
            events.append(json.loads(fields["data"]))
            last = fields["id"]
    raise AssertionError(f"the stream never ended: {events}")


@pytest.fixture
def emulated_support(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    if request.param == "azurite":
        monkeypatch.setenv("AzureWebJobsStorage", request.getfixturevalue("azurite_connection_string"))
    runtime = DurableGraphApp()
    runtime.register_registration(build_support())
    emulator = DurableEmulator(runtime.function_app)
    with EmulatorServer(emulator) as server, httpx.Client(base_url=server.base_url, timeout=30) as client:
        yield runtime, client, {"memory": MemoryEmitLog, "azurite": BlobEmitLog}[request.param]


@pytest.mark.parametrize("emulated_support", ["memory", "azurite"], indirect=True)
def test_emits_stream_in_order_with_the_steps_and_go_with_a_purge(emulated_support: Any) -> None:
    runtime, client, log_class = emulated_support
    log = runtime.emits.log
    assert type(log) is log_class, log  # Azurite: the app's own blob log, from its settings
    started = client.post("/api/graphs/support/runs", params={"wait": 30}, json={})
    instance_id = started.json()["instance_id"]
    assert started.json()["status"] == "completed", started.text
    events = follow(client, instance_id)
    assert [(e["type"], e["node"], e.get("kind"), e.get("data"), e["attempt"]) for e in events] == [
        ("emit", "write", "token", "Dear", 1),
        ("emit", "write", "token", " customer", 1),
        ("emit", "write", "token", ", your ", 1),
        ("emit", "write", "token", "refund", 1),
        ("emit", "write", "custom", {"stage": "drafted", "words": 4}, 1),
        ("task_completed", "write", None, None, 1),
        ("emit", "review", "status", "attempt 1", 1),
        ("task_failed", "review", None, None, 1),
        ("emit", "review", "status", "attempt 2", 2),
        ("task_completed", "review", None, None, 2),
    ]
    assert [e["seq"] for e in events] == sorted({e["seq"] for e in events})
    assert len(log.read(instance_id)) == 7  # what the activities appended
    assert client.delete(f"/api/runs/{instance_id}").status_code in (200, 204)
    assert log.read(instance_id) == []


def test_a_subgraphs_emits_join_the_top_level_runs_stream_on_azure() -> None:
    runtime = DurableGraphApp()
    runtime.register_registration(build_nested())
    emulator = DurableEmulator(runtime.function_app)
    with EmulatorServer(emulator) as server, httpx.Client(base_url=server.base_url, timeout=30) as client:
        started = client.post("/api/graphs/outer/runs", params={"wait": 30}, json={}).json()
        assert started["status"] == "completed", started
        events = follow(client, started["instance_id"])
    assert [e.get("data") for e in events if e["type"] == "emit"][:4] == [
        "Dear", " customer", ", your ", "refund"]
    assert events[-1]["type"] == "task_completed" and events[-1]["node"] == "sub"

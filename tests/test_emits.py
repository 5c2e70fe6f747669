"""``ctx.emit``: progress from inside nodes, in order with the steps, on every runner.

The in-process stream (``registration.stream``), ``LocalEngine.stream`` on both stores, and
``GET /runs/{id}/stream`` carry the same events; bad data is refused at ``emit`` naming the node.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from starlette.testclient import TestClient

from azure_functions_durable_graph import (
    GraphRegistration,
    ManifestBuilder,
    RetryPolicy,
)
from azure_functions_durable_graph.api import stream
from azure_functions_durable_graph.api.server import build_local_app
from azure_functions_durable_graph.execution.context import NodeContext
from azure_functions_durable_graph.execution.emits import BatchedEmits, EmitRow
from azure_functions_durable_graph.graph.errors import InvalidEmitError
from azure_functions_durable_graph.local.engine import LocalEngine
from azure_functions_durable_graph.local.store import MemoryRunStore
from test_api_stream import LIVE_TESTCLIENT, SSEReader

TIMEOUT = 10.0


class Draft(BaseModel):
    topic: str = "refund"
    text: str = ""
    tries: int = 0


async def write(state: Draft, ctx: NodeContext) -> dict[str, Any]:
    async def tokens() -> Any:
        for word in ("Dear", " customer", ", your ", state.topic):
            yield {"delta": word}

    words = await ctx.emit_each(tokens(), select=lambda chunk: chunk["delta"])
    ctx.emit({"stage": "drafted", "words": len(words)})
    return {"text": "".join(words)}


def review(state: Draft, ctx: NodeContext) -> dict[str, Any]:
    ctx.emit(f"attempt {ctx.attempt}", kind="status")
    if ctx.attempt == 1:
        raise RuntimeError("reviewer busy")
    return {"tries": ctx.attempt}


def build_support(*, review_timeout: float | None = None) -> GraphRegistration:
    b = ManifestBuilder(graph_name="support", state_model=Draft)
    b.set_entrypoint("write")
    b.add_node("write", write, next_node="review")
    b.add_node("review", review, terminal=True, timeout=review_timeout,
               retry=RetryPolicy(max_attempts=2, initial_interval=0))
    return b.build()


EXPECTED = [  # (type, node, kind, data) of the run's events, in order
    ("run_started", None, None, None),
    ("step_started", None, None, None),
    ("emit", "write", "token", "Dear"),
    ("emit", "write", "token", " customer"),
    ("emit", "write", "token", ", your "),
    ("emit", "write", "token", "refund"),
    ("emit", "write", "custom", {"stage": "drafted", "words": 4}),
    ("task_completed", "write", None, None),
    ("step_started", None, None, None),
    ("emit", "review", "status", "attempt 1"),
    ("task_failed", "review", None, None),
    ("task_retrying", "review", None, None),
    ("emit", "review", "status", "attempt 2"),
    ("task_completed", "review", None, None),
    ("run_completed", None, None, None),
]


def shape(events: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(e["type"], e.get("node"), e.get("kind"), e.get("data")) for e in events
            if e["type"] not in ("end", "timer_set", "step_finished")]


def test_the_in_process_stream_interleaves_emits_with_steps_in_order() -> None:
    async def main() -> list[dict[str, Any]]:
        return [e async for e in build_support().stream({})]

    events = asyncio.run(main())
    assert shape(events) == EXPECTED
    assert [e["seq"] for e in events[:-1]] == list(range(1, len(events)))
    end = events[-1]
    assert end["type"] == "end" and end["status"] == "completed"
    assert end["output"]["state"]["text"] == "Dear customer, your refund"
    # Emits are progress, not state: the state holds only what the nodes returned.
    assert end["output"]["state"] == {"topic": "refund", "text": "Dear customer, your refund", "tries": 2}
    retried = [e for e in events if e["type"] == "emit" and e["node"] == "review"]
    assert [e["attempt"] for e in retried] == [1, 2]


def test_a_sync_node_on_a_thread_streams_in_order_too() -> None:
    async def main() -> list[dict[str, Any]]:
        return [e async for e in build_support(review_timeout=30).stream({})]

    assert shape(asyncio.run(main())) == EXPECTED


@pytest.mark.parametrize("store_kind", ["memory", "sqlite"])
def test_the_engine_keeps_emits_with_the_run_and_streams_them(tmp_path: Path, store_kind: str) -> None:
    store = MemoryRunStore() if store_kind == "memory" else tmp_path / "runs.db"

    async def main() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        async with LocalEngine(store) as engine:
            engine.register(build_support())
            started = await engine.start("support", {})
            events = [e async for e in engine.stream(started.instance_id)]
            resumed = [e async for e in engine.stream(started.instance_id, after=events[4]["seq"])]
            return events, resumed

    events, resumed = asyncio.run(main())
    assert shape(events) == EXPECTED
    assert events[-1] == {"type": "end", "status": "completed", "instance_id": events[-1]["instance_id"]}
    assert resumed == events[5:]  # resuming after an emit: nothing lost, nothing repeated


def test_past_the_emit_limit_the_engine_keeps_the_newest_and_says_how_many_went() -> None:
    def chatty(state: Draft, ctx: NodeContext) -> dict[str, Any]:
        for i in range(50):
            ctx.emit(i, kind="token")
        return {}

    b = ManifestBuilder(graph_name="chatty", state_model=Draft)
    b.set_entrypoint("talk")
    b.add_node("talk", chatty, terminal=True)

    async def main() -> list[dict[str, Any]]:
        async with LocalEngine(MemoryRunStore(), emit_limit=10) as engine:
            engine.register(b.build())
            started = await engine.start("chatty", {})
            return [e async for e in engine.stream(started.instance_id)]

    events = asyncio.run(main())
    kept = [e["data"] for e in events if e["type"] == "emit"]
    assert kept == list(range(40, 50))
    dropped = [e for e in events if e["type"] == "emits_dropped"]
    assert len(dropped) == 1 and dropped[0]["dropped"] == 40
    assert events.index(dropped[0]) < events.index(next(e for e in events if e["type"] == "emit"))


@pytest.mark.parametrize(
    ("data", "kind", "code", "words"),
    [
        ({"when": object()}, "custom", "INVALID_EMIT", "must be JSON"),
        (float("nan"), "custom", "INVALID_EMIT", "must be JSON"),
        ("x" * (64 * 1024), "token", "EMIT_TOO_LARGE", "the limit is 65536"),
        ("ok", "not a name!", "INVALID_EMIT", "kind must be a short name"),
        ("ok", 7, "INVALID_EMIT", "kind must be a short name"),
    ],
)
def test_bad_emits_fail_the_node_with_a_clear_error_and_are_not_retried(
    data: Any, kind: Any, code: str, words: str,
) -> None:
    calls: list[int] = []

    def node(state: Draft, ctx: NodeContext) -> dict[str, Any]:
        calls.append(ctx.attempt)
        ctx.emit(data, kind=kind)
        return {}

    b = ManifestBuilder(graph_name="bad_emit", state_model=Draft)
    b.set_entrypoint("speak")
    b.add_node("speak", node, terminal=True, retry=RetryPolicy(max_attempts=3, initial_interval=0))
    result = b.build().invoke({})
    assert result.status == "failed"
    assert result.error is not None
    assert result.error["code"] == code, result.error
    assert "graph 'bad_emit', node 'speak'" in result.error["message"]
    assert words in result.error["message"]
    assert calls == [1]  # a bad emit is a bug in the node: retrying cannot help


def test_a_chunk_just_under_the_limit_is_taken() -> None:
    ctx = NodeContext("r", "g", "n", 1, 1, "t", "k")
    ctx.emit("x" * (64 * 1024 - 2))  # 65,536 bytes of JSON with its quotes
    with pytest.raises(InvalidEmitError, match="node 'n'"):
        ctx.emit("é" * (33 * 1024))  # few characters, but more than 64 KiB in UTF-8


def build_nested() -> GraphRegistration:
    """``outer`` runs ``write`` (which emits) inside its subgraph node ``sub``."""
    inner = ManifestBuilder(graph_name="inner", state_model=Draft)
    inner.set_entrypoint("write")
    inner.add_node("write", write, terminal=True)
    outer = ManifestBuilder(graph_name="outer", state_model=Draft)
    outer.set_entrypoint("sub")
    outer.add_subgraph("sub", inner.build(), terminal=True)
    return outer.build()


def test_a_subgraphs_emits_belong_to_the_parent_runs_stream() -> None:
    async def main() -> list[dict[str, Any]]:
        async with LocalEngine(MemoryRunStore()) as engine:
            engine.register(build_nested())
            started = await engine.start("outer", {})
            return [e async for e in engine.stream(started.instance_id)]

    events = asyncio.run(main())
    assert [e["data"] for e in events if e["type"] == "emit"][:4] == ["Dear", " customer", ", your ", "refund"]


def test_batches_are_written_in_order_full_batches_at_once_and_a_failed_write_is_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    written: list[tuple[str, list[EmitRow]]] = []
    fail = threading.Event()

    def store(run_id: str, rows: Sequence[EmitRow]) -> None:
        if fail.is_set():
            raise OSError("disk full")
        written.append((run_id, list(rows)))

    batcher = BatchedEmits(store, flush_seconds=3600, batch_limit=3)  # only full batches flush
    for i in range(7):
        batcher.add("r1", (1, str(i)))
    deadline = threading.Event()
    for _ in range(200):  # the flusher writes the full batches without waiting an hour
        if sum(len(rows) for _, rows in written) >= 6:
            break
        deadline.wait(0.01)
    batcher.flush("r1")  # the task ended: the rest now
    assert [text for _, rows in written for _, text in rows] == [str(i) for i in range(7)]
    fail.set()
    batcher.add("r1", (1, "lost"))
    batcher.flush("r1")  # logged, not raised: progress must not fail a node
    assert "1 emit(s) could not be written" in caplog.text
    batcher.close()


def _gated_graph(gate: threading.Event) -> GraphRegistration:
    def talk(state: Draft, ctx: NodeContext) -> dict[str, Any]:
        ctx.emit("first", kind="token")
        assert gate.wait(TIMEOUT), "the test never opened the gate"
        ctx.emit("second", kind="token")
        return {"text": "done"}

    b = ManifestBuilder(graph_name="gated", state_model=Draft)
    b.set_entrypoint("talk")
    b.add_node("talk", talk, terminal=True)
    return b.build()


@LIVE_TESTCLIENT
def test_sse_carries_emits_live_before_the_node_ends_and_resumes_by_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(stream, "KEEP_ALIVE_SECONDS", 1.0)
    gate = threading.Event()
    with TestClient(build_local_app([_gated_graph(gate)], db=tmp_path / "s.db")) as client:
        started = client.post("/api/graphs/gated/runs", json={}).json()
        url = f"/api/runs/{started['instance_id']}/stream"
        with client.stream("GET", url) as response:
            reader = SSEReader(response)
            first = reader.until("emit")[-1]
            # Seen while the node still runs: the gate is closed, so the node has not ended.
            assert not gate.is_set()
            assert first["data"] == {"type": "emit", "node": "talk", "step": 1, "attempt": 1,
                                     "task_id": "1:0:talk", "kind": "token", "data": "first",
                                     "seq": first["id"]}
            gate.set()
            rest = reader.rest()
        assert [e["event"] for e in rest] == ["emit", "task_completed", "run_completed", "end"]
        with client.stream("GET", url, headers={"Last-Event-ID": str(first["id"])}) as again:
            resumed = SSEReader(again).rest()
        assert [(e["event"], e["data"].get("data")) for e in resumed][:2] == [
            ("emit", "second"), ("task_completed", None)]
        assert client.get("/api/runs/nope/stream").status_code == 404


def test_the_in_process_reader_gets_what_was_emitted_even_if_the_node_changes_it_later() -> None:
    def mutate(state: Draft, ctx: NodeContext) -> dict[str, Any]:
        items = ["a"]
        ctx.emit(items)
        items.append("b")  # after the emit: the reader must still see ["a"]
        ctx.emit("plain")
        return {}

    b = ManifestBuilder(graph_name="mutating", state_model=Draft)
    b.set_entrypoint("m")
    b.add_node("m", mutate, terminal=True)

    async def main() -> list[Any]:
        return [e["data"] async for e in b.build().stream({}) if e["type"] == "emit"]

    assert asyncio.run(main()) == [["a"], "plain"]

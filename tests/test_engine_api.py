"""``LocalEngine`` through its public API: errors, idempotency, cancel/terminate, durability.

Time is virtual (``ManualClock(auto_advance=False)``): it only moves when a test advances it.
Real time only bounds how long a test waits for the engine's own asyncio work.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import pytest
from pydantic import BaseModel

from azure_functions_durable_graph import ManifestBuilder, reducers
from azure_functions_durable_graph.execution import ManualClock
from azure_functions_durable_graph.execution.backend import RunStatus
from azure_functions_durable_graph.graph.errors import (
    DurableGraphError,
    EventNotDeclaredError,
    GraphNotFoundError,
    InvalidInputError,
    RunConflictError,
    RunNotFoundError,
    StoreError,
)
from azure_functions_durable_graph.graph.registration import GraphRegistration
from azure_functions_durable_graph.local.engine import LocalEngine
from azure_functions_durable_graph.local.store.base import RunStore
from azure_functions_durable_graph.local.store.memory import MemoryRunStore
from azure_functions_durable_graph.local.store.sqlite import SqliteRunStore
from engine_harness import settle
from scenarios import (
    build_ctx_handler,
    build_event_payload_model,
    build_node_timeout,
    build_quick_example,
    build_retry_third_attempt,
    build_sequential,
    build_two_waits_fifo,
    build_wait_event,
    build_wait_timeout_route,
)
from store_files import digest, write_newer_schema

T = TypeVar("T")
START = 1_700_000_000.0
BOUND = 10.0  # real seconds any single wait for the engine's asyncio work may take


def run(coro: Awaitable[T], timeout: float = 30.0) -> T:
    """Run a test coroutine, bounded in real time."""
    return asyncio.run(asyncio.wait_for(coro, timeout))  # type: ignore[arg-type]


@pytest.fixture(params=["memory", "sqlite"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], RunStore]:
    if request.param == "memory":
        return MemoryRunStore
    return lambda: SqliteRunStore(tmp_path / "runs.db")


def engine_on(
    store: RunStore | Path, clock: ManualClock | None = None, **options: Any
) -> LocalEngine:
    return LocalEngine(store, clock=clock or ManualClock(START, auto_advance=False), **options)


async def until(predicate: Callable[[], bool], what: str, timeout: float = BOUND) -> None:
    """Poll ``predicate`` without blocking the loop (bounded)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


async def finished(engine: LocalEngine, instance_id: str) -> RunStatus:
    status = await engine.wait(instance_id, timeout=BOUND)
    assert status.finished or status.status == "waiting", status
    return status


# --- graphs used only here ----------------------------------------------------------------------


class TraceState(BaseModel):
    label: str = ""
    log: Annotated[list[str], reducers.append] = []


def build_cooperative(trace: dict[str, Any]) -> GraphRegistration:
    """'poll' loops until cancel is requested (at most ~2 s), then routes to 'second'."""
    b = ManifestBuilder(graph_name="cooperative", state_model=TraceState)

    async def poll(state: TraceState, ctx: Any) -> dict[str, Any]:
        trace["entered"] = True
        for _ in range(200):
            if ctx.cancel_requested:
                trace["observed_cancel"] = True
                break
            await asyncio.sleep(0.01)
        return {"log": "poll"}

    def second(state: TraceState) -> dict[str, Any]:
        trace["second_ran"] = True
        return {"log": "second"}

    b.set_entrypoint("poll")
    b.add_node("poll", poll, next_node="second")
    b.add_node("second", second, terminal=True)
    return b.build()


def build_blocking(name: str, entered: threading.Event, release: threading.Event,
                   trace: dict[str, Any]) -> GraphRegistration:
    """'block' is a sync handler waiting (at most 5 s) for ``release``; then 'second'."""
    b = ManifestBuilder(graph_name=name, state_model=TraceState)

    def block(state: TraceState) -> dict[str, Any]:
        entered.set()
        trace["released"] = release.wait(5)
        trace["block_returned"] = True
        return {"log": "block"}

    def second(state: TraceState) -> dict[str, Any]:
        trace["second_ran"] = True
        return {"log": "second"}

    b.set_entrypoint("block")
    b.add_node("block", block, next_node="second")
    b.add_node("second", second, terminal=True)
    return b.build()


def build_async_sleeper(trace: dict[str, Any]) -> GraphRegistration:
    """'sleep' awaits 5 s (ignoring cancel requests), then 'second'."""
    b = ManifestBuilder(graph_name="async_sleeper", state_model=TraceState)

    async def sleep(state: TraceState) -> dict[str, Any]:
        trace["entered"] = True
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            trace["cancelled"] = True
            raise
        return {"log": "sleep"}

    def second(state: TraceState) -> dict[str, Any]:
        trace["second_ran"] = True
        return {"log": "second"}

    b.set_entrypoint("sleep")
    b.add_node("sleep", sleep, next_node="second")
    b.add_node("second", second, terminal=True)
    return b.build()


class Gauge:
    """How many handlers run at the same time (safe across threads)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.max = 0

    def enter(self) -> None:
        with self.lock:
            self.now += 1
            self.max = max(self.max, self.now)

    def leave(self) -> None:
        with self.lock:
            self.now -= 1


def build_counting(gauge: Gauge, pause: float = 0.0) -> GraphRegistration:
    """Three async nodes that record how many handlers run at the same time."""
    b = ManifestBuilder(graph_name="counting", state_model=TraceState)

    def node(name: str) -> Callable[..., Any]:
        async def handler(state: TraceState) -> dict[str, Any]:
            gauge.enter()
            try:
                await asyncio.sleep(pause)
            finally:
                gauge.leave()
            return {"log": name}

        handler.__name__ = name
        return handler

    b.set_entrypoint("a")
    b.add_node("a", node("a"), next_node="b")
    b.add_node("b", node("b"), next_node="c")
    b.add_node("c", node("c"), terminal=True)
    return b.build()


# --- start: validation, unknown graphs and runs ---------------------------------------------------


def test_start_validates_the_input(make_store: Callable[[], RunStore]) -> None:
    async def scenario() -> None:
        async with engine_on(make_store()) as engine:
            engine.register(build_quick_example())
            with pytest.raises(InvalidInputError) as info:
                await engine.start("my_graph", {"processed": True})
            assert info.value.code == "INVALID_INPUT"
            assert "my_graph" in info.value.message and "message" in info.value.message
            with pytest.raises(InvalidInputError, match="message"):
                await engine.start("my_graph", {"message": ["not", "a", "string"]})
            assert (await engine.list_runs()) == ([], None)

    run(scenario())


def test_start_of_an_unknown_graph_names_it(make_store: Callable[[], RunStore]) -> None:
    async def scenario() -> None:
        async with engine_on(make_store()) as engine:
            engine.register(build_quick_example())
            with pytest.raises(GraphNotFoundError, match="nope") as info:
                await engine.start("nope", {})
            assert info.value.code == "GRAPH_NOT_FOUND"
            assert "my_graph" in info.value.message  # lists what is registered
            with pytest.raises(GraphNotFoundError, match="9.9"):
                await engine.start("my_graph", {"message": "x"}, version="9.9")
            assert (await engine.list_runs()) == ([], None)

    run(scenario())


@pytest.mark.parametrize("operation", [
    "get_status", "wait", "raise_event", "cancel", "terminate", "history", "purge",
])
def test_unknown_run_is_named(operation: str, make_store: Callable[[], RunStore]) -> None:
    calls: dict[str, Callable[[LocalEngine], Awaitable[Any]]] = {
        "get_status": lambda e: e.get_status("ghost-run"),
        "wait": lambda e: e.wait("ghost-run", timeout=1),
        "raise_event": lambda e: e.raise_event("ghost-run", "go", {}),
        "cancel": lambda e: e.cancel("ghost-run"),
        "terminate": lambda e: e.terminate("ghost-run"),
        "history": lambda e: e.history("ghost-run"),
        "purge": lambda e: e.purge("ghost-run"),
    }

    async def scenario() -> None:
        async with engine_on(make_store()) as engine:
            engine.register(build_wait_event())
            with pytest.raises(RunNotFoundError) as info:
                await calls[operation](engine)
            assert info.value.code == "RUN_NOT_FOUND"
            assert "ghost-run" in info.value.message

    run(scenario())


# --- idempotent start -----------------------------------------------------------------------------


def test_start_with_an_existing_id_and_same_input_is_idempotent(
    make_store: Callable[[], RunStore],
) -> None:
    async def scenario() -> None:
        async with engine_on(make_store()) as engine:
            engine.register(build_quick_example())
            first = await engine.start("my_graph", {"message": "hi"}, instance_id="order-1")
            assert first.instance_id == "order-1"
            done = await finished(engine, "order-1")
            assert done.status == "completed"
            # The same input (defaults filled in or not) returns the same run, not a new one.
            again = await engine.start("my_graph", {"message": "hi"}, instance_id="order-1")
            explicit = await engine.start(
                "my_graph", {"message": "hi", "processed": False}, instance_id="order-1"
            )
            assert again.instance_id == explicit.instance_id == "order-1"
            assert again.status == explicit.status == "completed"
            assert again.created_at == first.created_at
            runs, _ = await engine.list_runs()
            assert [r.instance_id for r in runs] == ["order-1"]
            assert len(await engine.history("order-1")) == 2  # nothing ran twice

    run(scenario())


def test_start_with_an_existing_id_and_other_input_conflicts(
    make_store: Callable[[], RunStore],
) -> None:
    async def scenario() -> None:
        async with engine_on(make_store()) as engine:
            engine.register(build_quick_example())
            engine.register(build_sequential())
            await engine.start("my_graph", {"message": "hi"}, instance_id="order-1")
            await finished(engine, "order-1")
            with pytest.raises(RunConflictError, match="order-1") as info:
                await engine.start("my_graph", {"message": "other"}, instance_id="order-1")
            assert info.value.code == "RUN_CONFLICT"
            with pytest.raises(RunConflictError, match="order-1"):
                await engine.start("sequential", {}, instance_id="order-1")
            status = await engine.get_status("order-1")
            assert status.input["message"] == "hi" and status.status == "completed"
            assert len((await engine.list_runs())[0]) == 1

    run(scenario())


def test_metadata_is_stored_and_seen_by_handlers(make_store: Callable[[], RunStore]) -> None:
    async def scenario() -> None:
        async with engine_on(make_store()) as engine:
            engine.register(build_ctx_handler())
            started = await engine.start("ctx_handler", {}, instance_id="r1",
                                         metadata={"tenant": "acme"})
            assert started.metadata == {"tenant": "acme"}
            assert started.graph_name == "ctx_handler" and started.created_at == START
            done = await finished(engine, "r1")
            assert done.status == "completed"
            assert done.metadata == {"tenant": "acme"}
            assert done.output is not None and done.output["state"]["tenant"] == "acme"
            assert done.to_dict()["runtime_status"] == "Completed"

    run(scenario())


# --- events ---------------------------------------------------------------------------------------


def test_undeclared_event_is_refused(make_store: Callable[[], RunStore]) -> None:
    async def scenario() -> None:
        async with engine_on(make_store()) as engine:
            engine.register(build_event_payload_model())
            status = await engine.start("event_payload_model", {}, instance_id="r1")
            assert (await finished(engine, "r1")).status == "waiting"
            with pytest.raises(EventNotDeclaredError) as info:
                await engine.raise_event(status.instance_id, "nonsense", {})
            assert info.value.code == "EVENT_NOT_DECLARED"
            assert "nonsense" in info.value.message and "event_payload_model" in info.value.message
            assert engine.store.pending_events("r1") == []
            assert (await engine.get_status("r1")).status == "waiting"

    run(scenario())


def test_invalid_event_payload_is_refused_and_not_stored(
    make_store: Callable[[], RunStore],
) -> None:
    async def scenario() -> None:
        async with engine_on(make_store()) as engine:
            engine.register(build_event_payload_model())
            await engine.start("event_payload_model", {}, instance_id="r1")
            assert (await finished(engine, "r1")).status == "waiting"
            before = engine.store.get_run("r1").snapshot
            for payload in ({"approved": "maybe", "reviewer": "ana"}, {"approved": True}, None):
                with pytest.raises(InvalidInputError) as info:
                    await engine.raise_event("r1", "approval", payload)
                assert info.value.code == "INVALID_INPUT"
            assert engine.store.pending_events("r1") == []
            assert engine.store.get_run("r1").snapshot == before
            status = await engine.wait("r1", timeout=BOUND)
            assert status.status == "waiting"
            # A valid payload still goes through afterwards.
            await engine.raise_event("r1", "approval", {"approved": True, "reviewer": "ana"})
            done = await finished(engine, "r1")
            assert done.status == "completed", done.error
            assert done.output is not None and done.output["state"]["reviewer"] == "ana"

    run(scenario())


def test_repeated_event_id_counts_once(make_store: Callable[[], RunStore]) -> None:
    async def scenario() -> None:
        async with engine_on(make_store()) as engine:
            engine.register(build_two_waits_fifo())
            await engine.start("two_waits_fifo", {}, instance_id="r1")
            assert (await finished(engine, "r1")).status == "waiting"
            assert await engine.raise_event("r1", "vote", {"v": "a"}, event_id="e1") == "e1"
            assert (await finished(engine, "r1")).status == "waiting"
            # The same id again (an at-least-once sender retrying) is not a second vote.
            assert await engine.raise_event("r1", "vote", {"v": "a"}, event_id="e1") == "e1"
            assert (await finished(engine, "r1")).status == "waiting"
            await engine.raise_event("r1", "vote", {"v": "b"}, event_id="e2")
            done = await finished(engine, "r1")
            assert done.status == "completed"
            assert done.output is not None and done.output["state"]["decision"] == "a,b"

    run(scenario())


def test_event_for_an_unregistered_graph_is_not_stored_unvalidated(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"

    async def scenario() -> None:
        async with engine_on(db) as engine:
            engine.register(build_event_payload_model())
            await engine.start("event_payload_model", {}, instance_id="r1")
            assert (await finished(engine, "r1")).status == "waiting"
        async with engine_on(db) as engine:  # the graph is not registered here
            with pytest.raises(DurableGraphError):
                await engine.raise_event("r1", "approval", {"approved": "maybe"})
            assert engine.store.pending_events("r1") == []
        async with engine_on(db) as engine:
            engine.register(build_event_payload_model())
            status = await engine.wait("r1", timeout=BOUND)
            assert status.status == "waiting", status.error

    run(scenario())


def test_finished_runs_refuse_events_cancel_and_terminate(
    make_store: Callable[[], RunStore],
) -> None:
    async def scenario() -> None:
        async with engine_on(make_store()) as engine:
            engine.register(build_wait_event())
            await engine.start("wait_event", {}, instance_id="r1")
            await finished(engine, "r1")
            await engine.raise_event("r1", "go", {"x": 1})
            assert (await finished(engine, "r1")).status == "completed"
            for action in (
                engine.raise_event("r1", "go", {"x": 2}),
                engine.cancel("r1", "late"),
                engine.terminate("r1", "late"),
            ):
                with pytest.raises(RunConflictError) as info:
                    await action
                assert "r1" in info.value.message and "completed" in info.value.message
            status = await engine.get_status("r1")
            assert status.status == "completed" and status.error is None
            assert engine.store.pending_events("r1") == []

    run(scenario())


# --- purge and prune ------------------------------------------------------------------------------


def test_purge_refuses_unfinished_and_deletes_finished(make_store: Callable[[], RunStore]) -> None:
    async def scenario() -> None:
        async with engine_on(make_store()) as engine:
            engine.register(build_wait_event())
            await engine.start("wait_event", {}, instance_id="r1")
            assert (await finished(engine, "r1")).status == "waiting"
            with pytest.raises(RunConflictError, match="r1"):
                await engine.purge("r1")
            assert (await engine.get_status("r1")).status == "waiting"
            await engine.raise_event("r1", "go", {"x": 1})
            assert (await finished(engine, "r1")).status == "completed"
            await engine.purge("r1")
            with pytest.raises(RunNotFoundError, match="r1"):
                await engine.get_status("r1")
            with pytest.raises(RunNotFoundError):
                await engine.history("r1")
            assert (await engine.list_runs()) == ([], None)
            # The id is free again.
            again = await engine.start("wait_event", {}, instance_id="r1")
            assert again.instance_id == "r1"

    run(scenario())


def test_history_rows_and_prune(make_store: Callable[[], RunStore]) -> None:
    async def scenario() -> None:
        async with engine_on(make_store()) as engine:
            engine.register(build_sequential())
            engine.register(build_wait_event())
            await engine.start("sequential", {}, instance_id="seq")
            await engine.start("wait_event", {}, instance_id="waiting")
            assert (await finished(engine, "seq")).status == "completed"
            assert (await finished(engine, "waiting")).status == "waiting"
            rows = await engine.history("seq")
            assert [r["node"] for r in rows] == ["first", "second", "third"]
            assert [r["step"] for r in rows] == sorted(r["step"] for r in rows)
            for row in rows:
                assert {"node", "step", "attempt", "ok", "update", "route", "error",
                        "started_at", "finished_at"} <= set(row)
                assert row["ok"] is True and row["error"] is None and row["attempt"] == 1
                assert row["started_at"] <= row["finished_at"]
            assert rows[0]["update"]["log"] == "first"
            waiting_rows = await engine.history("waiting")
            deleted = await engine.prune(keep_last=1)
            assert deleted > 0
            kept = await engine.history("seq")
            assert [r["node"] for r in kept] == ["third"]
            assert await engine.history("waiting") == waiting_rows  # unfinished: untouched
            assert (await engine.get_status("seq")).output is not None

    run(scenario())


# --- listing -------------------------------------------------------------------------------------


def test_list_runs_filters_and_pages(make_store: Callable[[], RunStore]) -> None:
    async def scenario() -> None:
        clock = ManualClock(START, auto_advance=False)
        async with engine_on(make_store(), clock) as engine:
            engine.register(build_quick_example())
            engine.register(build_wait_event())
            ids = []
            for i in range(7):
                status = await engine.start("my_graph", {"message": f"m{i}"}, instance_id=f"q{i}")
                ids.append(status.instance_id)
                clock.advance(1)
            await engine.start("wait_event", {}, instance_id="w0")
            for instance_id in [*ids, "w0"]:
                await finished(engine, instance_id)

            everything, cursor = await engine.list_runs()
            assert cursor is None
            assert [r.instance_id for r in everything] == ["w0", *reversed(ids)]  # newest first

            quick, _ = await engine.list_runs(graph_name="my_graph")
            assert sorted(r.instance_id for r in quick) == sorted(ids)
            waiting, _ = await engine.list_runs(status="waiting")
            assert [r.instance_id for r in waiting] == ["w0"]
            both, _ = await engine.list_runs(status=["waiting", "completed"])
            assert len(both) == 8
            assert (await engine.list_runs(graph_name="wait_event", status="completed"))[0] == []

            seen: list[str] = []
            pages = 0
            cursor = None
            while True:
                page, cursor = await engine.list_runs(graph_name="my_graph", limit=3, cursor=cursor)
                pages += 1
                assert len(page) <= 3
                seen += [r.instance_id for r in page]
                if cursor is None:
                    break
            assert pages == 3
            assert seen == list(reversed(ids))

            with pytest.raises(InvalidInputError) as info:
                await engine.list_runs(cursor="not-a-cursor")
            assert info.value.code == "INVALID_CURSOR"
            with pytest.raises(InvalidInputError, match="limit"):
                await engine.list_runs(limit=0)

    run(scenario())


def test_paging_with_equal_creation_times(make_store: Callable[[], RunStore]) -> None:
    async def scenario() -> None:
        async with engine_on(make_store()) as engine:  # the clock never moves: one created_at
            engine.register(build_quick_example())
            ids = set()
            for i in range(7):
                ids.add((await engine.start("my_graph", {"message": str(i)})).instance_id)
            seen: list[str] = []
            cursor = None
            while True:
                page, cursor = await engine.list_runs(limit=3, cursor=cursor)
                seen += [r.instance_id for r in page]
                if cursor is None:
                    break
            assert sorted(seen) == sorted(ids) and len(seen) == 7

    run(scenario())


# --- cancel and terminate -------------------------------------------------------------------------


def test_cancel_a_waiting_run_is_immediate(make_store: Callable[[], RunStore]) -> None:
    async def scenario() -> None:
        async with engine_on(make_store()) as engine:
            engine.register(build_wait_event())
            await engine.start("wait_event", {}, instance_id="r1")
            assert (await finished(engine, "r1")).status == "waiting"
            await engine.cancel("r1", "no longer needed")
            status = await engine.wait("r1", timeout=BOUND)
            assert status.status == "cancelled"
            assert status.waiting_for == []
            assert engine.store.next_timer_at() is None  # the wait's deadline is gone
            with pytest.raises(RunConflictError):
                await engine.raise_event("r1", "go", {"x": 1})

    run(scenario())


def test_cancel_of_a_waiting_run_returns_the_cancelled_status(
    make_store: Callable[[], RunStore],
) -> None:
    async def scenario() -> None:
        async with engine_on(make_store()) as engine:
            engine.register(build_wait_event())
            await engine.start("wait_event", {}, instance_id="r1")
            assert (await finished(engine, "r1")).status == "waiting"
            status = await engine.cancel("r1", "no longer needed")
            assert status.status == "cancelled"

    run(scenario())


def test_cancel_a_running_run_is_graceful(make_store: Callable[[], RunStore]) -> None:
    async def scenario() -> None:
        trace: dict[str, Any] = {}
        async with engine_on(make_store()) as engine:
            engine.register(build_cooperative(trace))
            await engine.start("cooperative", {}, instance_id="r1")
            await until(lambda: trace.get("entered", False), "the handler to start")
            requested = await engine.cancel("r1", "stop please")
            assert requested.status == "running"  # graceful: the step in flight ends first
            status = await engine.wait("r1", timeout=BOUND)
            assert status.status == "cancelled", status
            assert status.error is None
            assert trace.get("observed_cancel") is True  # the handler saw ctx.cancel_requested
            with pytest.raises(RunConflictError):
                await engine.cancel("r1")

    run(scenario())


def test_cancel_a_running_run_stops_at_the_step_boundary(
    make_store: Callable[[], RunStore],
) -> None:
    async def scenario() -> None:
        trace: dict[str, Any] = {}
        async with engine_on(make_store()) as engine:
            engine.register(build_cooperative(trace))
            await engine.start("cooperative", {}, instance_id="r1")
            await until(lambda: trace.get("entered", False), "the handler to start")
            await engine.cancel("r1", "stop please")
            status = await engine.wait("r1", timeout=BOUND)
            assert status.status == "cancelled", status
            assert "second_ran" not in trace
            assert "second" not in [r["node"] for r in await engine.history("r1")]

    run(scenario())


def test_terminate_a_running_async_run(make_store: Callable[[], RunStore]) -> None:
    async def scenario() -> None:
        trace: dict[str, Any] = {}
        async with engine_on(make_store()) as engine:
            engine.register(build_async_sleeper(trace))
            await engine.start("async_sleeper", {}, instance_id="r1")
            await until(lambda: trace.get("entered", False), "the handler to start")
            status = await engine.terminate("r1", "hard stop")
            assert status.status == "cancelled"
            assert status.error is None
            assert status.current_nodes == [] and status.waiting_for == []
            # The abandoned handler's await is cancelled (perhaps just after terminate returns).
            await until(lambda: trace.get("cancelled", False), "the handler to be cancelled")
            assert (await engine.wait("r1", timeout=BOUND)).status == "cancelled"
            assert (await engine.get_status("r1")).error is None
            assert "second_ran" not in trace
            assert await engine.history("r1") == []

    run(scenario())


def test_terminate_a_running_sync_run_discards_the_late_result(
    make_store: Callable[[], RunStore],
) -> None:
    async def scenario() -> None:
        trace: dict[str, Any] = {}
        entered, release = threading.Event(), threading.Event()
        async with engine_on(make_store()) as engine:
            engine.register(build_blocking("blocking", entered, release, trace))
            await engine.start("blocking", {}, instance_id="r1")
            await until(entered.is_set, "the sync handler to start")
            status = await engine.terminate("r1")
            assert status.status == "cancelled" and status.error is None
            release.set()  # the thread now returns a result nobody may apply
            await until(lambda: trace.get("block_returned", False), "the thread to return")
            await asyncio.sleep(0.05)  # give a (wrongly) applied result a chance to show
            after = await engine.get_status("r1")
            assert after.status == "cancelled" and after.error is None
            assert "second_ran" not in trace
            assert all(r["node"] != "second" for r in await engine.history("r1"))

    run(scenario())


def test_terminate_a_waiting_run(make_store: Callable[[], RunStore]) -> None:
    async def scenario() -> None:
        async with engine_on(make_store()) as engine:
            engine.register(build_wait_event())
            await engine.start("wait_event", {}, instance_id="r1")
            assert (await finished(engine, "r1")).status == "waiting"
            assert engine.store.next_timer_at() == START + 3600
            status = await engine.terminate("r1", "gone")
            assert status.status == "cancelled" and status.error is None
            assert status.waiting_for == []
            assert engine.store.next_timer_at() is None
            assert (await engine.wait("r1", timeout=BOUND)).status == "cancelled"

    run(scenario())


def test_cancel_during_retry_backoff(make_store: Callable[[], RunStore]) -> None:
    async def scenario() -> None:
        async with engine_on(make_store()) as engine:
            engine.register(build_retry_third_attempt())
            await engine.start("retry_third_attempt", {}, instance_id="r1")
            await until(lambda: bool(engine.store.get_run("r1").snapshot["timers"]),
                        "the retry timer")
            await engine.cancel("r1")
            status = await engine.wait("r1", timeout=BOUND)
            assert status.status == "cancelled"
            assert engine.store.next_timer_at() is None
            flaky = [r["attempt"] for r in await engine.history("r1") if r["node"] == "flaky"]
            assert flaky == [1]  # no retry after the cancel

    run(scenario())


def test_a_run_in_retry_backoff_does_not_hold_a_concurrency_slot(
    make_store: Callable[[], RunStore],
) -> None:
    async def scenario() -> None:
        async with engine_on(make_store(), concurrency=1, workers=1) as engine:
            engine.register(build_retry_third_attempt())
            engine.register(build_quick_example())
            await engine.start("retry_third_attempt", {}, instance_id="backing-off")
            await until(lambda: bool(engine.store.get_run("backing-off").snapshot["timers"]),
                        "the retry timer")
            await engine.start("my_graph", {"message": "hi"}, instance_id="other")
            status = await engine.wait("other", timeout=1)
            assert status.status == "completed"

    run(scenario())


def test_the_timer_loop_fires_a_deadline_when_the_clock_moves(
    make_store: Callable[[], RunStore],
) -> None:
    async def scenario() -> None:
        clock = ManualClock(START, auto_advance=False)
        async with engine_on(make_store(), clock) as engine:
            engine.register(build_wait_timeout_route())
            await engine.start("wait_timeout_route", {}, instance_id="r1")
            assert (await finished(engine, "r1")).status == "waiting"
            clock.advance(59)
            assert (await engine.wait("r1", timeout=0.05)).status == "waiting"
            clock.advance(2)  # no wake_due_runs: the engine's own timer loop notices
            await until(lambda: engine.store.get_run("r1").status == "completed", "the deadline")
            status = await engine.get_status("r1")
            assert status.output is not None and status.output["state"]["log"] == ["ask", "late"]

    run(scenario())


# --- sync handlers run off the loop ---------------------------------------------------------------


def test_a_blocked_sync_handler_does_not_block_the_engine(
    make_store: Callable[[], RunStore],
) -> None:
    async def scenario() -> None:
        trace: dict[str, Any] = {}
        entered, release = threading.Event(), threading.Event()
        async with engine_on(make_store()) as engine:
            engine.register(build_blocking("blocking", entered, release, trace))
            engine.register(build_quick_example())
            await engine.start("blocking", {}, instance_id="blocked")
            await until(entered.is_set, "the sync handler to start")
            # While the handler blocks in its thread, the loop still serves the API.
            assert (await engine.get_status("blocked")).status == "running"
            other = await engine.start("my_graph", {"message": "meanwhile"})
            done = await finished(engine, other.instance_id)
            assert done.status == "completed"
            assert not release.is_set() and "block_returned" not in trace
            assert (await engine.get_status("blocked")).current_nodes == ["block"]
            release.set()
            status = await finished(engine, "blocked")
            assert status.status == "completed" and trace["released"] is True
            assert status.output is not None
            assert status.output["state"]["log"] == ["block", "second"]

    run(scenario())


def test_terminating_a_run_queued_for_a_slot_wakes_its_waiters(
    make_store: Callable[[], RunStore],
) -> None:
    async def scenario() -> None:
        trace: dict[str, Any] = {}
        entered, release = threading.Event(), threading.Event()
        async with engine_on(make_store(), concurrency=1, workers=1) as engine:
            engine.register(build_blocking("blocking", entered, release, trace))
            engine.register(build_quick_example())
            await engine.start("blocking", {}, instance_id="holder")
            await until(entered.is_set, "the sync handler to hold the only slot")
            await engine.start("my_graph", {"message": "queued"}, instance_id="queued")
            waiter = asyncio.ensure_future(engine.wait("queued"))  # no timeout of its own
            await asyncio.sleep(0)
            assert (await engine.terminate("queued")).status == "cancelled"
            # The queued drive never began, so only terminate itself can wake the waiter.
            status = await asyncio.wait_for(waiter, BOUND)
            assert status.status == "cancelled"
            release.set()
            assert (await finished(engine, "holder")).status == "completed"

    run(scenario())


# --- many runs, timeouts --------------------------------------------------------------------------


def test_many_runs_with_bounded_concurrency(make_store: Callable[[], RunStore]) -> None:
    async def scenario() -> None:
        gauge = Gauge()
        async with engine_on(make_store(), concurrency=8) as engine:
            engine.register(build_counting(gauge))
            ids = [(await engine.start("counting", {})).instance_id for _ in range(200)]
            statuses = [await finished(engine, i) for i in ids]
            assert all(s.status == "completed" for s in statuses), {s.status for s in statuses}
            assert all(s.output is not None and s.output["state"]["log"] == ["a", "b", "c"]
                       for s in statuses)
            assert 1 <= gauge.max <= 8
            completed, cursor = await engine.list_runs(status="completed", limit=500)
            assert len(completed) == 200 and cursor is None

    run(scenario(), timeout=60)


@pytest.mark.parametrize("concurrency", [1, 3])
def test_concurrency_bounds_the_runs_driven_at_once(concurrency: int) -> None:
    async def scenario() -> None:
        gauge = Gauge()
        async with engine_on(MemoryRunStore(), concurrency=concurrency) as engine:
            engine.register(build_counting(gauge, pause=0.005))
            ids = [(await engine.start("counting", {})).instance_id for _ in range(24)]
            statuses = [await finished(engine, i) for i in ids]
            assert {s.status for s in statuses} == {"completed"}
        assert gauge.max <= concurrency, f"{gauge.max} runs were driven at once"

    run(scenario())


def test_events_raised_back_to_back_keep_their_order(make_store: Callable[[], RunStore]) -> None:
    async def scenario() -> None:
        async with engine_on(make_store()) as engine:
            engine.register(build_two_waits_fifo())
            ids = []
            for i in range(25):
                status = await engine.start("two_waits_fifo", {}, instance_id=f"r{i}")
                # Raised at once, while the run may still be starting, parking or resuming.
                await engine.raise_event(status.instance_id, "vote", {"v": "a"})
                await engine.raise_event(status.instance_id, "vote", {"v": "b"})
                ids.append(status.instance_id)
            for instance_id in ids:
                done = await finished(engine, instance_id)
                assert done.status == "completed", (instance_id, done.status)
                assert done.output is not None
                assert done.output["state"]["decision"] == "a,b", instance_id

    run(scenario())


def test_node_timeout_fails_the_run(make_store: Callable[[], RunStore]) -> None:
    async def scenario() -> None:
        async with engine_on(make_store()) as engine:
            engine.register(build_node_timeout())
            await engine.start("node_timeout", {}, instance_id="r1")
            status = await finished(engine, "r1")
            assert status.status == "failed"
            assert status.error is not None and status.error["code"] == "NODE_TIMEOUT"
            rows = await engine.history("r1")
            assert [r["node"] for r in rows if r["ok"]] == ["start"]
            assert rows[-1]["node"] == "slow" and rows[-1]["ok"] is False
            assert rows[-1]["error"]["code"] == "NODE_TIMEOUT"

    run(scenario())


# --- durability across restarts (one SQLite file) ------------------------------------------------


def test_waiting_run_resumes_in_a_new_engine(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"

    async def scenario() -> None:
        async with engine_on(db) as engine:
            engine.register(build_wait_event())
            await engine.start("wait_event", {}, instance_id="r1")
            assert (await finished(engine, "r1")).status == "waiting"
        async with engine_on(db) as engine:
            engine.register(build_wait_event())
            assert (await engine.get_status("r1")).status == "waiting"
            await engine.raise_event("r1", "go", {"x": 7})
            status = await finished(engine, "r1")
            assert status.status == "completed"
            assert status.output is not None
            assert status.output["state"]["log"] == ["ask", "resume:7"]
            assert [r["node"] for r in await engine.history("r1")] == ["ask", "event:go", "resume"]

    run(scenario())


def test_event_stored_by_an_engine_that_is_not_open_is_delivered_on_open(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"

    async def scenario() -> None:
        async with engine_on(db) as engine:
            engine.register(build_wait_event())
            await engine.start("wait_event", {}, instance_id="r1")
            assert (await finished(engine, "r1")).status == "waiting"
        idle = engine_on(db)  # never opened: it only stores the event
        idle.register(build_wait_event())
        await idle.raise_event("r1", "go", {"x": 9})
        assert (await idle.get_status("r1")).status == "waiting"
        assert [e.name for e in idle.store.pending_events("r1")] == ["go"]
        await idle.close()
        async with engine_on(db) as engine:
            engine.register(build_wait_event())
            status = await finished(engine, "r1")
            assert status.status == "completed"
            assert status.output is not None
            assert status.output["state"]["log"] == ["ask", "resume:9"]
            assert engine.store.pending_events("r1") == []

    run(scenario())


def test_a_wait_deadline_survives_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"

    async def scenario() -> None:
        async with engine_on(db, ManualClock(START, auto_advance=False)) as engine:
            engine.register(build_wait_timeout_route())
            await engine.start("wait_timeout_route", {}, instance_id="r1")
            status = await finished(engine, "r1")
            assert status.status == "waiting"
            assert status.waiting_for[0]["deadline"] == START + 60
        # Restarted after the deadline passed: the timer fires as the engine opens.
        async with engine_on(db, ManualClock(START + 61, auto_advance=False)) as engine:
            engine.register(build_wait_timeout_route())
            await until(lambda: engine.store.get_run("r1").status != "waiting", "the deadline")
            status = await finished(engine, "r1")
            assert status.status == "completed", status.error
            assert status.output is not None
            assert status.output["state"]["decision"] == "timed out"
            assert status.output["state"]["log"] == ["ask", "late"]

    run(scenario())


def test_a_wait_deadline_fires_after_a_restart_when_the_clock_moves(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"

    async def scenario() -> None:
        async with engine_on(db, ManualClock(START, auto_advance=False)) as engine:
            engine.register(build_wait_timeout_route())
            await engine.start("wait_timeout_route", {}, instance_id="r1")
            assert (await finished(engine, "r1")).status == "waiting"
        clock = ManualClock(START + 30, auto_advance=False)
        async with engine_on(db, clock) as engine:
            engine.register(build_wait_timeout_route())
            assert engine.wake_due_runs() == 0
            assert (await engine.wait("r1", timeout=0.05)).status == "waiting"
            clock.advance(31)
            engine.wake_due_runs()
            status = await finished(engine, "r1")
            assert status.status == "completed"
            assert status.output is not None and status.output["state"]["log"] == ["ask", "late"]

    run(scenario())


def test_a_retry_timer_survives_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"

    def retry_timers(engine: LocalEngine) -> list[float]:
        snapshot = engine.store.get_run("r1").snapshot
        return [t["fire_at"] for t in snapshot["timers"] if t["kind"] == "retry"]

    async def scenario() -> None:
        async with engine_on(db, ManualClock(START, auto_advance=False)) as engine:
            engine.register(build_retry_third_attempt())
            await engine.start("retry_third_attempt", {}, instance_id="r1")
            await until(lambda: bool(retry_timers(engine)), "the first retry timer")
            fire_at = retry_timers(engine)[0]
            assert fire_at > START
            assert engine.store.get_run("r1").status == "running"
        with SqliteRunStore(db) as store:
            assert store.next_timer_at() == fire_at
        clock = ManualClock(fire_at + 1, auto_advance=False)
        async with engine_on(db, clock) as engine:
            engine.register(build_retry_third_attempt())
            # The timer was due when the engine opened: attempt 2 runs without advancing time.
            await until(
                lambda: any(r.node == "flaky" and r.attempt == 2
                            for r in engine.store.history("r1")),
                "the second attempt",
            )
            status = await settle(engine, clock, "r1")
            assert status.status == "completed", status.error
            assert status.output is not None and status.output["state"]["attempts"] == 3
            flaky = [(r["attempt"], r["ok"]) for r in await engine.history("r1")
                     if r["node"] == "flaky"]
            assert flaky == [(1, False), (2, False), (3, True)]

    run(scenario())


def build_interruptible(release: threading.Event, trace: dict[str, Any]) -> GraphRegistration:
    """'work' is async and polls ``release`` (at most ~5 s); then 'second'."""
    b = ManifestBuilder(graph_name="interruptible", state_model=TraceState)

    async def work(state: TraceState) -> dict[str, Any]:
        trace["runs"] = trace.get("runs", 0) + 1
        for _ in range(500):
            if release.is_set():
                break
            await asyncio.sleep(0.01)
        return {"log": "work"}

    def second(state: TraceState) -> dict[str, Any]:
        trace["second_runs"] = trace.get("second_runs", 0) + 1
        return {"log": "second"}

    b.set_entrypoint("work")
    b.add_node("work", work, next_node="second")
    b.add_node("second", second, terminal=True)
    return b.build()


def test_a_step_interrupted_by_close_runs_again_after_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"

    async def scenario() -> None:
        trace: dict[str, Any] = {}
        release = threading.Event()
        async with engine_on(db) as engine:
            engine.register(build_interruptible(release, trace))
            await engine.start("interruptible", {}, instance_id="r1")
            await until(lambda: trace.get("runs") == 1, "the step to start")
        # Closed while the step was in flight: no result was committed, the run is unfinished.
        with SqliteRunStore(db) as store:
            assert store.get_run("r1").status == "running"
            assert store.history("r1") == []
        release.set()
        async with engine_on(db) as engine:
            engine.register(build_interruptible(release, trace))
            status = await finished(engine, "r1")
            assert status.status == "completed", status.error
            assert trace == {"runs": 2, "second_runs": 1}
            assert [r["node"] for r in await engine.history("r1")] == ["work", "second"]

    run(scenario())


def test_a_run_closed_mid_step_finishes_after_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"

    async def scenario() -> None:
        trace: dict[str, Any] = {}
        entered, release = threading.Event(), threading.Event()
        async with engine_on(db) as engine:
            engine.register(build_blocking("blocking", entered, release, trace))
            await engine.start("blocking", {}, instance_id="r1")
            await until(entered.is_set, "the sync handler to start")
            release.set()  # the step ends around the close: committed or not, nothing is lost
        async with engine_on(db) as engine:
            engine.register(build_blocking("blocking", entered, release, trace))
            status = await finished(engine, "r1")
            assert status.status == "completed", status.error
            assert [r["node"] for r in await engine.history("r1")] == ["block", "second"]
            assert status.output is not None
            assert status.output["state"]["log"] == ["block", "second"]

    run(scenario())


# --- refusing files that are not ours -------------------------------------------------------------


def test_engine_refuses_a_foreign_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO customers (name) VALUES ('ann')")
    conn.commit()
    conn.close()
    before = digest(path)
    with pytest.raises(StoreError) as info:
        LocalEngine(path)
    assert info.value.code == "STORE_ERROR"
    assert str(path) in info.value.message
    assert digest(path) == before


def test_engine_refuses_a_file_that_is_not_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    content = b"name,age\nann,3\n"
    path.write_bytes(content)
    with pytest.raises(StoreError) as info:
        LocalEngine(str(path))
    assert str(path) in info.value.message
    assert path.read_bytes() == content


def test_engine_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    newer = write_newer_schema(path)
    before = digest(path)
    with pytest.raises(StoreError) as info:
        LocalEngine(path)
    assert str(path) in info.value.message and str(newer) in info.value.message
    assert digest(path) == before


# --- listeners ------------------------------------------------------------------------------------


def test_listeners_see_every_transition_in_order(make_store: Callable[[], RunStore]) -> None:
    async def scenario() -> None:
        seen: list[tuple[str, int, str]] = []
        async with engine_on(make_store()) as engine:
            engine.register(build_sequential())
            engine.add_listener(lambda run_id, seq, events: seen.extend(
                (run_id, seq, e["type"]) for e in events))
            await engine.start("sequential", {}, instance_id="r1")
            assert (await finished(engine, "r1")).status == "completed"
        seqs = [s for _, s, _ in seen]
        assert seqs == sorted(seqs)
        assert {r for r, _, _ in seen} == {"r1"}
        kinds = [k for _, _, k in seen]
        assert kinds[0] == "run_started" and kinds[-1] == "run_completed"
        assert kinds.count("task_completed") == 3

    run(scenario())

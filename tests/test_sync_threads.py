"""Sync handlers of parallel branches run in threads, overlapping, results in task order.

Overlap is proven with ``threading.Barrier``: a branch waits at it until every party arrived,
so branches run one after another would break the barrier (its timeout is only a bound; no
test sleeps on real time to succeed). Every test runs on ``invoke`` and on ``LocalEngine``
with the memory and the SQLite store.
"""

from __future__ import annotations

import asyncio
import contextvars
import operator
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel

from azure_functions_durable_graph import ManifestBuilder
from azure_functions_durable_graph.execution import ManualClock
from azure_functions_durable_graph.graph.errors import InvalidInputError
from azure_functions_durable_graph.graph.registration import GraphRegistration
from azure_functions_durable_graph.local.engine import LocalEngine
from azure_functions_durable_graph.local.store.memory import MemoryRunStore

BOUND = 10.0  # real seconds a barrier or a wait may take before the test fails
START = 1_700_000_000.0
REQUEST = contextvars.ContextVar("REQUEST", default="unset")


class FanState(BaseModel):
    """Branch results in a list reducer; where each branch and router ran."""

    results: Annotated[list[int], operator.add] = []
    seen: Annotated[list[str], operator.add] = []


def fan_graph(width: int, branch: Callable[[int], Callable[..., Any]], *,
              route: Callable[[int], Callable[..., Any]] | None = None,
              timeouts: dict[int, float] | None = None, name: str = "fan") -> GraphRegistration:
    """``start`` fans out to ``width`` branches ``b0``.. that meet in a join."""
    builder = ManifestBuilder(graph_name=name, state_model=FanState)
    names = [f"b{i}" for i in range(width)]
    builder.set_entrypoint("start")
    builder.add_node("start", lambda s: {"seen": [threading.current_thread().name]}, next_node=names)
    for i, node in enumerate(names):
        builder.add_node(node, branch(i), next_node="join", route=None if route is None else route(i),
                         timeout=(timeouts or {}).get(i))
    builder.add_node("join", lambda s: None, join=True, terminal=True)
    return builder.build()


async def on_engine(kind: str, tmp_path: Path, registration: GraphRegistration,
                    **options: Any) -> dict[str, Any]:
    """Start one run on a LocalEngine and wait for its end; status, state and history."""
    store = MemoryRunStore() if kind == "memory" else tmp_path / "runs.db"
    async with LocalEngine(store, clock=ManualClock(START, auto_advance=False), **options) as engine:
        engine.register(registration)
        status = await engine.start(registration.graph_name, {})
        status = await engine.wait(status.instance_id, timeout=BOUND)
        record = engine.store.get_run(status.instance_id)
        history = await engine.history(status.instance_id)
    return {"status": status.status, "state": record.snapshot["state"], "error": status.error,
            "nodes": [row["node"] for row in history]}


def run_on(runner: str, tmp_path: Path, registration: GraphRegistration, *,
           per_run: int | None = None, pool: int | None = None) -> dict[str, Any]:
    """The run's outcome on ``invoke`` or a LocalEngine (``memory``/``sqlite``)."""
    options: dict[str, Any] = {} if per_run is None else {"sync_threads_per_run": per_run}
    if runner == "invoke":
        result = registration.invoke({}, **options)
        return {"status": result.status, "state": result.snapshot["state"], "error": result.error,
                "nodes": [step.node for step in result.steps]}
    if pool is not None:
        options["sync_threads"] = pool
    return asyncio.run(asyncio.wait_for(on_engine(runner, tmp_path, registration, **options), 30))


RUNNERS = ["invoke", "memory", "sqlite"]


@pytest.mark.parametrize("runner", RUNNERS)
def test_parallel_sync_branches_overlap_and_apply_in_task_order(runner: str, tmp_path: Path) -> None:
    width = 8
    handlers = threading.Barrier(width, timeout=BOUND)
    routers = threading.Barrier(width, timeout=BOUND)
    # Branches finish in reverse order: b7 first, then each one once the next has returned.
    finished = [threading.Event() for _ in range(width + 1)]
    finished[width].set()

    def branch(i: int) -> Callable[[FanState], dict[str, Any]]:
        def handler(state: FanState) -> dict[str, Any]:
            handlers.wait()
            return {"results": [i]}
        return handler

    def route(i: int) -> Callable[[FanState], None]:
        def router(state: FanState) -> None:
            routers.wait()  # routers of the superstep overlap too
            assert finished[i + 1].wait(BOUND)
            finished[i].set()
        return router

    outcome = run_on(runner, tmp_path, fan_graph(width, branch, route=route))
    assert outcome["status"] == "completed", outcome["error"]
    # Task order, not finishing order: in the state and in the recorded steps.
    assert outcome["state"]["results"] == list(range(width))
    assert outcome["nodes"] == ["start", *(f"b{i}" for i in range(width)), "join"]


@pytest.mark.parametrize("runner", RUNNERS)
def test_per_run_cap_bounds_the_branches_in_threads(runner: str, tmp_path: Path) -> None:
    width, cap = 12, 3
    groups = threading.Barrier(cap, timeout=BOUND)  # each group of `cap` meets: they overlap
    lock = threading.Lock()
    active = [0]
    peak = [0]

    def branch(i: int) -> Callable[[FanState], dict[str, Any]]:
        def handler(state: FanState) -> dict[str, Any]:
            with lock:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
            groups.wait()
            with lock:
                active[0] -= 1
            return {"results": [i]}
        return handler

    outcome = run_on(runner, tmp_path, fan_graph(width, branch), per_run=cap)
    assert outcome["status"] == "completed", outcome["error"]
    assert outcome["state"]["results"] == list(range(width))
    assert peak[0] == cap


@pytest.mark.parametrize("runner", ["memory", "sqlite"])
def test_engine_pool_bounds_the_threads_of_its_runs(runner: str, tmp_path: Path) -> None:
    lock = threading.Lock()
    active = [0]
    peak = [0]
    pairs = threading.Barrier(2, timeout=BOUND)

    def branch(i: int) -> Callable[[FanState], dict[str, Any]]:
        def handler(state: FanState) -> dict[str, Any]:
            with lock:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
            pairs.wait()
            with lock:
                active[0] -= 1
            return {"results": [i]}
        return handler

    outcome = run_on(runner, tmp_path, fan_graph(6, branch), per_run=6, pool=2)
    assert outcome["status"] == "completed", outcome["error"]
    assert peak[0] == 2


@pytest.mark.parametrize("runner", RUNNERS)
def test_context_variables_reach_the_threads(runner: str, tmp_path: Path) -> None:
    width = 3
    met = threading.Barrier(width, timeout=BOUND)

    def branch(i: int) -> Callable[[FanState], dict[str, Any]]:
        def handler(state: FanState) -> dict[str, Any]:
            met.wait()
            return {"seen": [f"{REQUEST.get()} {threading.current_thread().name}"]}
        return handler

    registration = fan_graph(width, branch)
    token = REQUEST.set("req-42")
    try:
        if runner == "invoke":
            outcome = run_on(runner, tmp_path, registration)
        else:
            async def started_here() -> dict[str, Any]:
                return await on_engine(runner, tmp_path, registration)

            outcome = asyncio.run(asyncio.wait_for(started_here(), 30))
    finally:
        REQUEST.reset(token)
    assert outcome["status"] == "completed", outcome["error"]
    lone, *branches = outcome["state"]["seen"]
    # The lone start node ran inline on the driving thread; the branches on pool threads.
    assert not lone.startswith("durable-graph-sync")
    assert len(branches) == width
    for seen in branches:
        value, thread = seen.split(" ", 1)
        assert value == "req-42" and thread.startswith("durable-graph-sync"), seen


@pytest.mark.parametrize("runner", RUNNERS)
def test_timeout_counts_from_the_start_of_the_handler(runner: str, tmp_path: Path) -> None:
    # One thread for the run: b1 queues while b0 holds the thread past b1's timeout; b1
    # itself returns at once, so only a timeout counted while queueing could fail it.
    hold = threading.Event()  # never set

    def branch(i: int) -> Callable[[FanState], dict[str, Any]]:
        def handler(state: FanState) -> dict[str, Any]:
            if i == 0:
                hold.wait(0.3)  # real time: node timeouts run on the event loop's clock
            return {"results": [i]}
        return handler

    outcome = run_on(runner, tmp_path, fan_graph(2, branch, timeouts={1: 0.2}), per_run=1)
    assert outcome["status"] == "completed", outcome["error"]
    assert outcome["state"]["results"] == [0, 1]


@pytest.mark.parametrize("runner", RUNNERS)
def test_a_sync_branch_past_its_timeout_fails_it(runner: str, tmp_path: Path) -> None:
    release = threading.Event()

    def branch(i: int) -> Callable[[FanState], dict[str, Any]]:
        def handler(state: FanState) -> dict[str, Any]:
            if i == 1:
                release.wait(BOUND)  # until the test has seen the timeout
            return {"results": [i]}
        return handler

    try:
        outcome = run_on(runner, tmp_path, fan_graph(2, branch, timeouts={1: 0.05}))
    finally:
        release.set()
    assert outcome["status"] == "failed"
    assert outcome["error"]["code"] == "NODE_TIMEOUT" and outcome["error"]["node"] == "b1"


@pytest.mark.parametrize("runner", RUNNERS)
def test_stop_iteration_in_a_thread_fails_the_branch(runner: str, tmp_path: Path) -> None:
    def branch(i: int) -> Callable[[FanState], dict[str, Any]]:
        def handler(state: FanState) -> dict[str, Any]:
            if i == 1:
                next(iter(()))
            return {"results": [i]}
        return handler

    outcome = run_on(runner, tmp_path, fan_graph(2, branch))
    assert outcome["status"] == "failed"
    assert outcome["error"]["type"] == "RuntimeError" and outcome["error"]["node"] == "b1"
    assert "StopIteration" in outcome["error"]["message"]


def test_emits_from_threads_reach_the_stream() -> None:
    width = 4
    met = threading.Barrier(width, timeout=BOUND)

    def branch(i: int) -> Callable[..., dict[str, Any]]:
        def handler(state: FanState, ctx: Any) -> dict[str, Any]:
            ctx.emit({"branch": i})
            met.wait()
            ctx.emit({"branch": i, "after": True})
            return {"results": [i]}
        return handler

    async def collect() -> list[dict[str, Any]]:
        return [event async for event in fan_graph(width, branch).stream({})]

    events = asyncio.run(asyncio.wait_for(collect(), 30))
    emits = [e for e in events if e["type"] == "emit"]
    assert sorted((e["node"], e["data"].get("after", False)) for e in emits) == sorted(
        (f"b{i}", after) for i in range(width) for after in (False, True))
    for i in range(width):  # a node's emits precede its step
        step = next(e["seq"] for e in events if e["type"] == "task_completed" and e["node"] == f"b{i}")
        assert all(e["seq"] < step for e in emits if e["node"] == f"b{i}")
    assert events[-1]["type"] == "end" and events[-1]["output"] is not None


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_cancel_while_sync_branches_run_in_threads(kind: str, tmp_path: Path) -> None:
    width = 3
    entered = threading.Barrier(width + 1, timeout=BOUND)  # the branches and the test
    release = threading.Event()

    def branch(i: int) -> Callable[..., dict[str, Any]]:
        def handler(state: FanState, ctx: Any) -> dict[str, Any]:
            entered.wait()
            release.wait(BOUND)
            return {"results": [i], "seen": [f"cancel seen: {ctx.cancel_requested}"]}
        return handler

    async def scenario() -> tuple[str, dict[str, Any], list[str]]:
        store = MemoryRunStore() if kind == "memory" else tmp_path / "runs.db"
        async with LocalEngine(store, clock=ManualClock(START, auto_advance=False)) as engine:
            engine.register(fan_graph(width, branch))
            status = await engine.start("fan", {})
            await asyncio.to_thread(entered.wait)  # every branch is inside its handler
            await engine.cancel(status.instance_id, "enough")
            release.set()
            status = await engine.wait(status.instance_id, timeout=BOUND)
            record = engine.store.get_run(status.instance_id)
            history = await engine.history(status.instance_id)
        return status.status, record.snapshot["state"], sorted(r["node"] for r in history if r["ok"])

    try:
        status, state, done = asyncio.run(asyncio.wait_for(scenario(), 30))
    finally:
        release.set()
    assert status == "cancelled"
    assert done == ["b0", "b1", "b2", "start"]  # recorded in the history...
    assert state["results"] == []  # ...but not applied


def test_thread_limits_must_be_positive_integers(tmp_path: Path) -> None:
    registration = fan_graph(2, lambda i: lambda s: None)
    for bad in (0, -1, 1.5, True, "4"):
        with pytest.raises(InvalidInputError, match="sync_threads_per_run must be a positive integer"):
            registration.invoke({}, sync_threads_per_run=bad)
        with pytest.raises(InvalidInputError, match="LocalEngine: sync_threads must be a positive integer"):
            LocalEngine(MemoryRunStore(), sync_threads=bad)
        with pytest.raises(InvalidInputError, match="LocalEngine: sync_threads_per_run must be"):
            LocalEngine(MemoryRunStore(), sync_threads_per_run=bad)

"""The Python client (``azure_functions_durable_graph.client``) against both engines on loopback.

Every conformance scenario runs through :class:`DurableGraphClient` on the local engine and the
Durable emulator and must give the table's outcome. A tally graph (a node that emits tokens,
then events that add to a total) checks the rest: typed answers, errors as the package's
classes, paging, a send whose answer is lost and that is retried once (counted once), and a
progress stream cut mid-frame by a proxy and resumed without losing or repeating an event.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Annotated, Any

import httpx
import pytest
from pydantic import BaseModel

from azure_functions_durable_graph import (
    END,
    DurableGraphError,
    GraphNotFoundError,
    GraphRegistration,
    InvalidInputError,
    ManifestBuilder,
    RouteDecision,
    RunConflictError,
    RunNotFoundError,
    reducers,
)
from azure_functions_durable_graph.api import stream
from azure_functions_durable_graph.client import (
    AsyncDurableGraphClient,
    DurableGraphClient,
    RetryPolicy,
    Run,
    ServerUnreachableError,
)
from azure_functions_durable_graph.execution.context import NodeContext
from client_servers import LOOPBACK_ENGINES, Cut, CuttingProxy, local_loopback
from scenarios import SCENARIOS, Scenario, assert_outcome, run_id_for

FAST = RetryPolicy(attempts=4, initial_delay=0.0, max_delay=0.0)  # retries without pauses
TOKENS = 40


class Tally(BaseModel):
    """``talk`` writes ``text``; each ``add`` event adds to ``total``; ``last`` ends the run."""

    text: str = ""
    total: Annotated[int, reducers.add] = 0
    last: bool = False


class Add(BaseModel):
    """The ``add`` event's payload."""

    n: int
    last: bool = False


def talk(state: Tally, ctx: NodeContext) -> dict[str, Any]:
    words = [f"w{i} " for i in range(TOKENS)]
    for word in words:
        ctx.emit(word, kind="token")
    return {"text": "".join(words)}


WAIT = RouteDecision.wait_for_event("add", "apply", timeout=3600)


def build_tally() -> GraphRegistration:
    b = ManifestBuilder(graph_name="tally", state_model=Tally)
    b.set_entrypoint("talk")
    b.add_node("talk", talk, route=lambda s: WAIT, route_targets=[WAIT])
    b.add_node("apply", lambda s: None, route=lambda s: RouteDecision.complete() if s.last else WAIT,
               route_targets=[WAIT, END])
    b.add_event_handler("add", lambda state, payload: {"total": payload.n, "last": payload.last},
                        payload_model=Add)
    return b.build()


@pytest.fixture
def quick_keep_alive(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep-alives every 0.2 s: an Azure stream answer ends at its first one (Functions buffer
    answers), so the client's next connection comes sooner."""
    monkeypatch.setattr(stream, "KEEP_ALIVE_SECONDS", 0.2)


def _run_scenario(scenario: Scenario, engine: Any, client: DurableGraphClient) -> dict[str, Any]:
    graph = scenario.build().graph_name
    run = client.start(graph, scenario.input, instance_id=run_id_for(scenario), metadata=scenario.metadata)
    assert isinstance(run, Run) and run.graph_name == graph
    for name, payload in scenario.start_events:
        client.send_event(run.instance_id, name, payload)
    for action in scenario.actions:
        engine.settle(run.instance_id)
        if action.kind == "advance":
            engine.advance(action.seconds)
            continue
        try:
            if action.kind == "event":
                client.send_event(run.instance_id, str(action.name), action.payload)
            else:
                client.cancel(run.instance_id, action.reason)
        except DurableGraphError as refused:
            assert refused.code == action.expected_rejection, f"{action}: {refused}"
        else:
            assert action.expected_rejection is None, f"{action} was accepted"
    engine.settle(run.instance_id)
    final = client.get(run.instance_id)
    history = client.history(run.instance_id)
    nodes = [s.node for s in history.steps if s.ok and s.node != "__reduce__"]
    expected = scenario if final.status == "completed" else dataclasses.replace(scenario, expected_state=None)
    assert_outcome(expected, status=final.status, state=final.state, nodes=nodes, error=final.error)
    return {"status": final.status, "state": final.state, "nodes": nodes}


@pytest.mark.parametrize("engine_name", sorted(LOOPBACK_ENGINES))
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_conformance_scenarios_through_the_client(engine_name: str, scenario: Scenario) -> None:
    with LOOPBACK_ENGINES[engine_name](scenario.build()) as engine, \
            DurableGraphClient(engine.base_url, retry=FAST) as client:
        _run_scenario(scenario, engine, client)


@pytest.mark.parametrize("engine_name", sorted(LOOPBACK_ENGINES))
def test_typed_answers_errors_and_paging(engine_name: str) -> None:
    with LOOPBACK_ENGINES[engine_name](build_tally()) as engine, \
            DurableGraphClient(engine.base_url, retry=FAST) as client:
        [graph] = client.graphs()
        assert (graph.name, graph.events) == ("tally", ["add"])
        run = client.wait(client.start("tally", {}, instance_id="t-1", metadata={"who": "me"}).instance_id,
                          timeout=30)
        assert (run.status, [w.event for w in run.waiting_for], run.metadata) == ("waiting", ["add"], {"who": "me"})
        assert run.created_at is not None and run.created_at.tzinfo is not None
        accepted = client.send_event("t-1", "add", {"n": 2, "last": True}, event_id="e-1")
        assert (accepted.accepted, accepted.event_id, accepted.event_name) == (True, "e-1", "add")
        done = client.wait("t-1", timeout=30, until_finished=True)
        assert (done.status, done.state and done.state["total"]) == ("completed", 2)
        assert [s.node for s in client.history("t-1").steps if s.ok and ":" not in s.node] == ["talk", "apply"]

        with pytest.raises(RunNotFoundError) as missing:
            client.get("nope")
        assert missing.value.code == "RUN_NOT_FOUND" and "nope" in missing.value.message
        with pytest.raises(GraphNotFoundError):
            client.start("no_such_graph", {})
        with pytest.raises(RunConflictError):
            client.cancel("t-1")

        for i in range(4):
            client.start("tally", {}, instance_id=f"p-{i}")
        assert sorted(r.instance_id for r in client.list_runs(page_size=2)) == ["p-0", "p-1", "p-2", "p-3", "t-1"]
        assert client.list_page(limit=2).next_cursor is not None
        client.wait("p-1", timeout=30)
        with pytest.raises(InvalidInputError) as invalid:
            client.send_event("p-1", "add", {"n": "many"})
        assert invalid.value.http_status == 400
        cancelled = client.cancel("p-0", reason="enough", force=True)
        assert cancelled.status == "cancelled" and cancelled.cancel["reason"] == "enough"
        assert client.purge("p-0").purged is True
        with pytest.raises(RunNotFoundError):
            client.get("p-0")


def test_an_unknown_code_is_the_root_class_and_the_api_key_is_sent() -> None:
    with local_loopback(build_tally(), api_key="s3cret") as engine:
        with DurableGraphClient(engine.base_url, retry=FAST) as anonymous:
            with pytest.raises(DurableGraphError) as refused:
                anonymous.graphs()
        assert type(refused.value) is DurableGraphError and refused.value.code == "UNAUTHORIZED"
        assert refused.value.http_status == 401
        with DurableGraphClient(engine.base_url + "/api", api_key="s3cret", retry=FAST) as client:
            assert [g.name for g in client.graphs()] == ["tally"]


@pytest.mark.parametrize("engine_name", sorted(LOOPBACK_ENGINES))
def test_a_send_whose_answer_is_lost_is_retried_and_counted_once(engine_name: str) -> None:
    with LOOPBACK_ENGINES[engine_name](build_tally()) as engine:
        proxy = CuttingProxy(engine.base_url, cuts=[Cut(b"/events/add", after_bytes=0)])
        no_reuse = httpx.Client(timeout=30, limits=httpx.Limits(max_keepalive_connections=0))
        try:
            with DurableGraphClient(proxy.base_url, retry=FAST, http_client=no_reuse) as client:
                client.wait(client.start("tally", {}, instance_id="r-1").instance_id, timeout=30)
                client.send_event("r-1", "add", {"n": 1})  # delivered, its answer dropped, sent again
                assert proxy.cut_count == 1
                sends = [r for r in proxy.requests if b"/events/add" in r]
                ids = {line for r in sends for line in r.split(b"\r\n") if line.lower().startswith(b"x-event-id")}
                assert len(sends) == 2 and len(ids) == 1  # the retry carried the same event id
                client.send_event("r-1", "add", {"n": 10, "last": True})
                done = client.wait("r-1", timeout=30, until_finished=True)
                assert done.state is not None and done.state["total"] == 11  # not 12: counted once
                proxy.cuts.append(Cut(b"/cancel", after_bytes=0))
                client.start("tally", {}, instance_id="r-2")
                with pytest.raises(ServerUnreachableError):  # a cancel is not retried
                    client.cancel("r-2")
        finally:
            no_reuse.close()
            proxy.close()


def _shape(events: list[Any]) -> list[tuple[Any, ...]]:
    return [(e.type, e.seq, e.data.get("data")) for e in events]


@pytest.mark.parametrize("engine_name", sorted(LOOPBACK_ENGINES))
def test_a_stream_cut_mid_frame_resumes_without_losing_or_repeating(engine_name: str, quick_keep_alive: None) -> None:
    with LOOPBACK_ENGINES[engine_name](build_tally()) as engine:
        proxy = CuttingProxy(engine.base_url, cuts=[Cut(b"/stream", after_bytes=1500)])
        no_reuse = httpx.Client(timeout=30, limits=httpx.Limits(max_keepalive_connections=0))
        try:
            with DurableGraphClient(proxy.base_url, retry=FAST, http_client=no_reuse) as client, \
                    DurableGraphClient(engine.base_url, retry=FAST) as direct:
                client.start("tally", {}, instance_id="s-1")
                seen = []
                for event in client.stream("s-1"):  # live: the event is sent once talk is done
                    seen.append(event)
                    if event.type == "task_completed" and event.data.get("node") == "talk":
                        direct.send_event("s-1", "add", {"n": 1, "last": True})
                reference = list(direct.stream("s-1"))  # the run finished: one uncut read
        finally:
            no_reuse.close()
            proxy.close()
    assert proxy.cut_count == 1
    streams = [r for r in proxy.requests if b"/stream" in r]
    # Each reconnect resumes after the last event seen (on Azure answers also end at idle moments).
    assert len(streams) >= 2 and all(b"last-event-id:" in r.lower() for r in streams[1:])
    assert _shape(seen) == _shape(reference)
    numbers = [e.seq for e in seen if e.seq is not None]
    assert numbers == sorted(set(numbers))
    tokens = [e.data["data"] for e in seen if e.type == "emit"]
    assert tokens == [f"w{i} " for i in range(TOKENS)]
    assert seen[-1].is_end and seen[-1].data["status"] == "completed"


def test_the_async_client_runs_a_graph_and_follows_its_stream(quick_keep_alive: None) -> None:
    async def main(base_url: str) -> tuple[Run, list[str]]:
        async with AsyncDurableGraphClient(base_url, retry=FAST) as client:
            await client.start("tally", {}, instance_id="a-1")
            assert (await client.wait("a-1", timeout=30)).status == "waiting"
            await client.send_event("a-1", "add", {"n": 5, "last": True})
            kinds = [e.type async for e in client.stream("a-1")]
            ids = [r.instance_id async for r in client.list_runs(page_size=1)]
            assert ids == ["a-1"] and [g.name for g in await client.graphs()] == ["tally"]
            return await client.get("a-1"), kinds

    with local_loopback(build_tally()) as engine:
        run, kinds = asyncio.run(main(engine.base_url))
    assert run.state is not None and run.state["total"] == 5
    assert kinds[0] == "run_started" and kinds[-1] == "end" and "emit" in kinds

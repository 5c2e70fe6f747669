"""``ManifestBuilder(hidden_fields=[...])``: bookkeeping state fields no view of a run shows.

The run's input in its status, its step updates (history), its progress events, its listing and
its output leave them out, on the embedded engine (memory and SQLite stores, the CLI) and on the
Durable emulator over HTTP. ``from_langgraph`` hides the adapter's ``lg_*`` fields this way, so
a LangGraph run parked on ``interrupt()`` shows only the graph's own keys. Graphs without the
setting keep their hash.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from pydantic import BaseModel

from azure_functions_durable_graph import (
    GraphValidationError,
    ManifestBuilder,
    RouteDecision,
    WaitSpec,
)
from azure_functions_durable_graph.local.engine import LocalEngine
from azure_functions_durable_graph.local.store import MemoryRunStore, RunStore
from azure_functions_durable_graph.local.store.sqlite import SqliteRunStore
from cli_helpers import run_cli


class Ticket(BaseModel):
    text: str = ""
    notes: list[str] = []  # bookkeeping: hidden
    answer: str = ""


def ticket_graph(hidden: list[str] | None) -> ManifestBuilder:
    def triage(state: Ticket) -> dict[str, Any]:
        return {"notes": ["triaged"], "text": state.text.strip()}

    def park(state: Ticket) -> RouteDecision:
        return RouteDecision.wait_for_event(event_name="reply", resume_node="close")

    builder = ManifestBuilder(graph_name="tickets", state_model=Ticket, hidden_fields=hidden)
    builder.set_entrypoint("triage")
    builder.add_node("triage", triage, route=park,
                     route_targets=[WaitSpec(event="reply", resume_node="close")])
    builder.add_node("close", lambda s: {"notes": ["closed"], "answer": f"re: {s.text}"}, terminal=True)
    builder.add_event_handler("reply", lambda s, p: {"notes": ["replied"]})
    return builder


def stores(tmp_path: Path) -> dict[str, RunStore]:
    return {"memory": MemoryRunStore(), "sqlite": SqliteRunStore(tmp_path / "runs.db")}


def test_hidden_fields_are_in_the_manifest_and_hash_only_when_given() -> None:
    plain, empty, hidden = (ticket_graph(h).build() for h in (None, [], ["notes"]))
    assert "hidden_fields" not in plain.manifest.model_dump(mode="json")
    assert empty.manifest.graph_hash == plain.manifest.graph_hash
    assert hidden.manifest.hidden_fields == ["notes"]
    assert hidden.manifest.graph_hash != plain.manifest.graph_hash


def test_an_unknown_hidden_field_is_refused_at_build_naming_it() -> None:
    with pytest.raises(GraphValidationError, match=r"hidden_fields names unknown state field\(s\) \['nope'\]"):
        ticket_graph(["notes", "nope"]).build()


@pytest.mark.parametrize("store_name", ["memory", "sqlite"])
def test_no_view_of_a_run_on_the_local_engine_shows_a_hidden_field(tmp_path: Path, store_name: str) -> None:
    registration = ticket_graph(["notes"]).build()

    async def main() -> dict[str, Any]:
        async with LocalEngine(stores(tmp_path)[store_name]) as engine:
            engine.register(registration)
            started = await engine.start("tickets", {"text": " down "}, instance_id="t-1")
            parked = await engine.wait("t-1")
            again = await engine.start("tickets", {"text": " down "}, instance_id="t-1")  # idempotent
            listed, _ = await engine.list_runs()
            waiting = {"started": started.to_dict(), "parked": parked.to_dict(), "again": again.to_dict(),
                       "listed": [r.to_dict() for r in listed], "history": await engine.history("t-1"),
                       "events": await engine.run_events("t-1")}
            await engine.raise_event("t-1", "reply", {})
            done = await engine.wait("t-1")
            return {**waiting, "done": done.to_dict(), "final_history": await engine.history("t-1")}

    seen = asyncio.run(main())
    assert seen["parked"]["status"] == "waiting"
    assert seen["again"]["instance_id"] == "t-1"
    assert seen["parked"]["input"] == {"text": " down ", "answer": ""}
    assert [s["update"] for s in seen["history"]] == [{"text": "down"}]
    completed = [e for _, e in seen["events"] if e["type"] == "task_completed"]
    assert [e["update"] for e in completed] == [{"text": "down"}]
    assert seen["done"]["output"]["state"] == {"text": "down", "answer": "re: down"}
    assert [s["update"] for s in seen["final_history"]][-1] == {"answer": "re: down"}
    assert "notes" not in json.dumps(seen)


def test_without_hidden_fields_every_view_shows_the_field() -> None:
    registration = ticket_graph(None).build()

    async def main() -> dict[str, Any]:
        async with LocalEngine(MemoryRunStore()) as engine:
            engine.register(registration)
            await engine.start("tickets", {"text": "x"}, instance_id="t-2")
            parked = await engine.wait("t-2")
            return {"input": parked.input, "history": await engine.history("t-2")}

    seen = asyncio.run(main())
    assert seen["input"]["notes"] == []
    assert seen["history"][0]["update"]["notes"] == ["triaged"]


# -- a LangGraph graph parked on interrupt(): the adapter's lg_* fields stay out of sight ------


def approval_registration() -> Any:
    pytest.importorskip("langgraph")
    from langgraph.graph import START, StateGraph
    from langgraph.types import interrupt
    from typing_extensions import TypedDict

    from azure_functions_durable_graph.langgraph import from_langgraph

    class Draft(TypedDict):
        draft: str
        verdict: str

    def write(state: Draft) -> dict[str, Any]:
        return {"draft": f"post about {state['draft']}"}

    def review(state: Draft) -> dict[str, Any]:
        return {"verdict": interrupt({"approve": state["draft"]})}

    graph = StateGraph(Draft)
    graph.add_node("write", write)
    graph.add_node("review", review)
    graph.add_edge(START, "write")
    graph.add_edge("write", "review")
    return from_langgraph(graph.compile(), name="approval")


def assert_nothing_hidden(value: Any) -> None:
    text = json.dumps(value, default=str)
    assert "lg_" not in text, text


@pytest.mark.parametrize("store_name", ["memory", "sqlite"])
def test_a_langgraph_run_waiting_on_interrupt_shows_only_the_graphs_keys_locally(
        tmp_path: Path, store_name: str) -> None:
    registration = approval_registration()
    assert registration.manifest.hidden_fields  # the adapter declares its fields hidden

    async def main() -> dict[str, Any]:
        async with LocalEngine(stores(tmp_path)[store_name]) as engine:
            engine.register(registration)
            started = await engine.start("approval", {"draft": "otters"}, instance_id="a-1")
            parked = await engine.wait("a-1")
            again = await engine.start("approval", {"draft": "otters"}, instance_id="a-1")
            listed, _ = await engine.list_runs(status="waiting")
            streamed = []
            async for event in engine.stream("a-1"):
                streamed.append(event)
                if event["type"] == "waiting":
                    break
            seen = {"started": started.to_dict(), "parked": parked.to_dict(), "again": again.to_dict(),
                    "listed": [r.to_dict() for r in listed], "history": await engine.history("a-1"),
                    "stream": streamed}
            await engine.raise_event("a-1", "resume", {"resume": "approved"})
            seen["done"] = (await engine.wait("a-1")).to_dict()
            return seen

    seen = asyncio.run(main())
    assert seen["parked"]["status"] == "waiting" and seen["again"]["instance_id"] == "a-1"
    assert seen["parked"]["input"] == {"draft": "otters", "verdict": None}
    review = [s for s in seen["history"] if s["node"] == "review"]
    assert review and review[0]["update"] == {} and review[0]["route"]["action"] == "wait_for_event"
    assert any(e["type"] == "task_completed" for e in seen["stream"])
    assert seen["done"]["output"]["state"] == {"draft": "post about otters", "verdict": "approved"}
    assert_nothing_hidden(seen)


def test_cli_runs_show_of_a_waiting_langgraph_run_shows_no_hidden_field(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    registration = approval_registration()
    db = tmp_path / "runs.db"

    async def main() -> None:
        async with LocalEngine(db) as engine:
            engine.register(registration)
            await engine.start("approval", {"draft": "otters"}, instance_id="a-2")
            await engine.wait("a-2")

    asyncio.run(main())
    code, out, _ = run_cli(capsys, "runs", "show", "a-2", "--db", str(db), "--json")
    assert code == 0
    shown = json.loads(out)
    assert shown["run"]["status"] == "waiting" and shown["run"]["input"] == {"draft": "otters", "verdict": None}
    assert [s["node"] for s in shown["history"]] == ["write", "review"]
    assert_nothing_hidden(shown)
    code, out, _ = run_cli(capsys, "runs", "list", "--db", str(db), "--json")
    assert code == 0 and "a-2" in out
    assert_nothing_hidden(out)


@pytest.mark.parametrize("engine_name", ["local", "emulator"])
def test_a_langgraph_run_waiting_on_interrupt_shows_only_the_graphs_keys_over_http(engine_name: str) -> None:
    from http_conformance import ENGINES

    registration = approval_registration()
    with ENGINES[engine_name](registration) as engine:
        body = {"input": {"draft": "otters"}, "instance_id": "a-3"}
        started = engine.client.post("/api/graphs/approval/runs", json=body)
        assert started.status_code == 202, started.text
        url = f"/api/runs/{quote('a-3', safe='')}"
        parked = engine.settle("a-3")
        again = engine.client.post("/api/graphs/approval/runs", json=body)  # the same run
        assert again.status_code in (200, 202), again.text
        seen: dict[str, Any] = {
            "started": started.json(), "parked": parked, "again": again.json(),
            "listed": engine.client.get("/api/runs").json(),
            "history": engine.client.get(f"{url}/history").json(),
        }
        if engine_name == "emulator":  # the Azure stream ends at its first idle moment
            seen["stream"] = engine.client.get(f"{url}/stream").text
            assert "task_completed" in seen["stream"]
        resumed = engine.client.post(f"{url}/events/resume", json={"resume": "approved"})
        assert resumed.status_code == 202, resumed.text
        seen["done"] = engine.settle("a-3")
    assert parked["status"] == "waiting" and seen["again"]["instance_id"] == "a-3"
    assert parked["input"] == {"draft": "otters", "verdict": None}
    assert [s["node"] for s in seen["history"]["steps"]] == ["write", "review"]
    assert seen["done"]["output"]["state"] == {"draft": "post about otters", "verdict": "approved"}
    assert_nothing_hidden(seen)

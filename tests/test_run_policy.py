"""One run policy (execution/run_policy.py), the same answers on every engine.

Each row of these tables was a difference between the engines before the policy had one home:
the Azure backend compared a repeated start's input with ``==`` (so ``1``, ``1.0`` and ``true``
were the same input there and different ones locally), worded finished-run and undeclared-event
refusals its own way, and made run ids in another layout. Now both HTTP engines (the embedded
engine and the generated Functions app on the Durable emulator) give the same status, code and
message for every row, and the in-process runner words an undeclared event the same way.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import BaseModel

from azure_functions_durable_graph import GraphRegistration, ManifestBuilder, RouteDecision
from azure_functions_durable_graph.errors import EventNotDeclaredError, RunConflictError
from azure_functions_durable_graph.execution.backend import RunStatus
from azure_functions_durable_graph.execution.registry import GraphRegistry
from azure_functions_durable_graph.execution.run_policy import (
    EventTarget,
    FirstSend,
    admit_event,
    refuse_if_finished,
    repeated_start,
)
from http_conformance import ENGINES, HttpEngine

GRAPH = "policy"


class Box(BaseModel):
    """Any JSON in ``data``; ``seen`` records the review event."""

    data: Any = None
    seen: bool = False


class Review(BaseModel):
    ok: bool


def _graph() -> GraphRegistration:
    builder = ManifestBuilder(graph_name=GRAPH, state_model=Box)
    wait = RouteDecision.wait_for_event("review", "done")
    builder.set_entrypoint("ask")
    builder.add_node("ask", lambda s: None, route=lambda s: wait if s.data != "skip" else RouteDecision.next("done"),
                     route_targets=[wait, "done"])
    builder.add_node("done", lambda s: None, terminal=True)
    builder.add_event_handler("review", lambda s, p: {"seen": True}, payload_model=Review)
    return builder.build()


def _start(engine: HttpEngine, instance_id: str | None, data: Any) -> Any:
    body: dict[str, Any] = {"input": {"data": data}}
    if instance_id is not None:
        body["instance_id"] = instance_id
    return engine.client.post(f"/api/graphs/{GRAPH}/runs", json=body)


def _answer(response: Any) -> tuple[int, str, str]:
    error = response.json()["error"]
    return response.status_code, error["code"], error["message"]


def _refusals(engine: HttpEngine) -> dict[str, tuple[int, str, str]]:
    """Every refusal of the table, as (HTTP status, code, message)."""
    first = _start(engine, "same", 1)
    again = _start(engine, "same", 1)  # the same start: the same run, answered as the first
    assert (first.status_code, again.status_code) == (202, 202), again.text
    assert again.json()["instance_id"] == first.json()["instance_id"] == "same"
    assert _start(engine, "done", "skip").status_code == 202
    assert engine.settle("done")["status"] == "completed"
    assert engine.settle("same")["status"] == "waiting"
    return {
        "start 1.0 after 1": _answer(_start(engine, "same", 1.0)),
        "start true after 1": _answer(_start(engine, "same", True)),
        "event to a finished run": _answer(engine.client.post("/api/runs/done/events/review", json={"ok": True})),
        "cancel a finished run": _answer(engine.client.post("/api/runs/done/cancel")),
        "purge an unfinished run": _answer(engine.client.delete("/api/runs/same")),
        "undeclared event": _answer(engine.client.post("/api/runs/same/events/nope", json={})),
        "undeclared event, finished run": _answer(engine.client.post("/api/runs/done/events/nope", json={})),
    }


EXPECTED = {
    "start 1.0 after 1": (409, "RUN_CONFLICT", "run 'same' already exists with a different graph or input"),
    "start true after 1": (409, "RUN_CONFLICT", "run 'same' already exists with a different graph or input"),
    "event to a finished run": (409, "RUN_CONFLICT", "cannot raise event 'review': run 'done' is already completed"),
    "cancel a finished run": (409, "RUN_CONFLICT", "cannot cancel: run 'done' is already completed"),
    "purge an unfinished run": (409, "RUN_CONFLICT", "cannot purge run 'same': it is waiting"),
    "undeclared event": (404, "EVENT_NOT_DECLARED",
                         "graph 'policy' does not declare event 'nope' (run 'same'); declared: review"),
    "undeclared event, finished run": (404, "EVENT_NOT_DECLARED",
                                       "graph 'policy' does not declare event 'nope' (run 'done'); declared: review"),
}


@pytest.mark.parametrize("engine_name", list(ENGINES))
def test_every_engine_refuses_with_the_same_code_and_message(engine_name: str) -> None:
    with ENGINES[engine_name](_graph()) as engine:
        assert _refusals(engine) == EXPECTED


@pytest.mark.parametrize("engine_name", list(ENGINES))
def test_generated_run_ids_have_one_layout_on_every_engine(engine_name: str) -> None:
    with ENGINES[engine_name](_graph()) as engine:
        ids = [_start(engine, None, n).json()["instance_id"] for n in range(3)]
    # 32 hex digits in the UUID version 7 layout: version nibble 7, variant bits 10.
    assert all(re.fullmatch(r"[0-9a-f]{12}7[0-9a-f]{3}[89ab][0-9a-f]{15}", i) for i in ids), ids
    assert len(set(ids)) == 3


def test_the_in_process_runner_words_an_undeclared_event_as_the_engines() -> None:
    with pytest.raises(EventNotDeclaredError) as caught:
        _graph().invoke({"data": 1}, events=[("nope", {})], run_id="same")
    assert caught.value.message == EXPECTED["undeclared event"][2]


def _status(instance_id: str, status: str, data: Any) -> RunStatus:
    return RunStatus(instance_id=instance_id, graph_name=GRAPH, graph_version="0.1.0", graph_hash="h",
                     status=status, step=1, current_nodes=[], waiting_for=[], input={"data": data, "seen": False},
                     output=None, error=None, created_at=0.0, updated_at=0.0, metadata={})


@pytest.mark.parametrize(("first", "again", "same"), [
    (1, 1, True), ({"a": 1, "b": 2}, {"b": 2, "a": 1}, True), (1, 1.0, False), (1, True, False),
    ([1, 2], [2, 1], False), (None, None, True),
])
def test_a_repeated_start_is_the_same_only_for_equal_json(first: Any, again: Any, same: bool) -> None:
    existing = _status("r", "waiting", first)
    state = {"data": again, "seen": False}
    if same:
        assert repeated_start(existing, GRAPH, state) is existing
    else:
        with pytest.raises(RunConflictError):
            repeated_start(existing, GRAPH, state)
    with pytest.raises(RunConflictError):  # another graph with an equal input is another run
        repeated_start(existing, "other", {"data": first, "seen": False})


def test_event_checks_run_in_the_policys_order() -> None:
    registry = GraphRegistry()
    registration = registry.add(_graph())
    finished = EventTarget("r", GRAPH, registration.graph_hash, "completed", ("review",))
    # A repeated id is answered as the first send even once the run finished...
    repeat = admit_event(registry, finished, "review", {"ok": True}, event_id="e1",
                         first=FirstSend("review", {"ok": True}))
    assert (repeat.event_id, repeat.repeat) == ("e1", True)
    # ...but only with the same payload, as the run's event model reads it.
    with pytest.raises(RunConflictError) as caught:
        admit_event(registry, finished, "review", {"ok": False}, event_id="e1", first=FirstSend("review", {"ok": True}))
    assert caught.value.code == "EVENT_ID_CONFLICT"
    # A new event for a finished run is refused before its payload is looked at.
    with pytest.raises(RunConflictError, match="already completed"):
        admit_event(registry, finished, "review", {"ok": "not a bool"}, event_id=None, first=None)
    waiting = EventTarget("r", GRAPH, "a hash no code has", "waiting", ("review",))
    admitted = admit_event(registry, waiting, "review", {"ok": "yes"}, event_id=None, first=None)
    assert (admitted.repeat, admitted.payload) == (False, {"ok": True})  # the latest code reads it


def test_refuse_if_finished_lets_unfinished_runs_through() -> None:
    for status in ("pending", "running", "waiting"):
        refuse_if_finished("r", status, "cancel")
    for status in ("completed", "failed", "cancelled"):
        with pytest.raises(RunConflictError, match=f"cannot cancel: run 'r' is already {status}"):
            refuse_if_finished("r", status, "cancel")


STATUS_WORDS = {"pending", "running", "waiting", "completed", "failed", "cancelled"}
# Where the words are defined (core's snapshot statuses, the API's extra "pending"), and the
# "waiting" progress event, whose type is spelt like a status: written once, read once.
STATUS_DEFINITIONS = {"core/snapshot.py", "core/records.py", "execution/backend.py"}
NOT_A_STATUS = {("core/boundary.py", '"type": "waiting",'), ("cli/run_output.py", 'elif kind == "waiting":')}


def test_run_statuses_are_spelt_out_only_where_they_are_defined() -> None:
    import io
    import tokenize
    from pathlib import Path

    import azure_functions_durable_graph

    package = Path(azure_functions_durable_graph.__file__).parent
    found = []
    for path in sorted(package.rglob("*.py")):
        name = path.relative_to(package).as_posix()
        if name in STATUS_DEFINITIONS:
            continue
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.STRING and token.string.strip("\"'") in STATUS_WORDS:
                line = lines[token.start[0] - 1].strip()
                if (name, line) not in NOT_A_STATUS:
                    found.append(f"{name}:{token.start[0]}: {line}")
    assert found == []

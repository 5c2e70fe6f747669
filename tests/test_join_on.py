"""``join_on=[...]``: a node that runs once all of the named predecessors finished since it last ran.

LangGraph's ``add_edge([b, d], e)``: the arrivals are kept per joined node in the snapshot
(``join_arrivals``, present only while some are pending); the manifest field ``join_on`` is
present only when set, so every existing graph keeps its ``graph_hash``.
"""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Annotated, Any

import pytest
from pydantic import BaseModel

from azure_functions_durable_graph import GraphManifest, ManifestBuilder, reducers
from azure_functions_durable_graph.core import apply_task_result, decide, start_run
from azure_functions_durable_graph.execution.executor import execute_task
from azure_functions_durable_graph.local.store.memory import MemoryRunStore
from engine_harness import run_on_engine
from graph_helpers import load_example
from http_conformance import ENGINES, run_over_http
from scenarios import SCENARIOS, SCENARIOS_BY_NAME, assert_outcome, assert_result, run_in_memory

JOIN = SCENARIOS_BY_NAME["join_on_named_predecessors"]

# graph_hash values computed before join_on existed (the quick example's is also in docs/cli.md).
GOLDEN_HASHES = {
    "examples/quick_example": "c5e1a5b6261c0c933e1bee65aa0f088b1743a05c2842e710eae6df013dd54078",
    "examples/content_classifier": "fd7d9247654e13133acd2c77fffa8d30cf5fcbf344d64b97f73f282fce8033ae",
    "fan_out_join": "2bcf51acb7a120dca4fbf41df7452f0c4f2244f4b22894ab75df8ddadf1ade30",
    "subgraph": "91b08fad6dd8cec79785f4f22c4a65e0e026af75ff6bcf7309ec953954c8a7d9",
    "join_after_wait_branch": "a8270f5b336fb5c5eb17205b80adcaccaffd4972ef0914a062239beaf91b6b88",
    "retry_succeeds_third_attempt": "e1b83990a05fe77d83fa24ea330f7c41db74be69ce5e45cdce200490c875b45f",
}

# The snapshot keys every run had before join_on existed.
SNAPSHOT_KEYS = {
    "format", "run_id", "graph_name", "graph_hash", "status", "state", "step", "tasks", "frontier", "ready",
    "pending_joins", "waits", "inbox", "consumed_events", "timers", "next_event_id", "next_wait_id", "cancel",
    "error", "final_nodes", "last_nodes", "steps_since_compaction", "metadata",
}


@pytest.mark.parametrize("name", sorted(GOLDEN_HASHES))
def test_existing_graphs_keep_their_hash(name: str) -> None:
    if name.startswith("examples/"):
        (registration,) = load_example(name.removeprefix("examples/")).runtime.registrations()
    else:
        registration = SCENARIOS_BY_NAME[name].build()
    assert registration.graph_hash == GOLDEN_HASHES[name]
    assert all("join_on" not in node for node in registration.manifest.model_dump(mode="json")["nodes"])


def test_the_manifest_carries_join_on_only_when_set() -> None:
    manifest = JOIN.build().manifest
    nodes = {n["name"]: n for n in json.loads(manifest.model_dump_json())["nodes"]}
    assert nodes["e"]["join_on"] == ["b", "d"]
    assert "join_on" not in nodes["b"]
    again = GraphManifest.model_validate_json(manifest.model_dump_json())
    assert again.graph_hash == manifest.graph_hash and again.node("e").join_on == ["b", "d"]
    # join_on is part of the graph's identity.
    changed = json.loads(manifest.model_dump_json())
    changed["nodes"][-1]["join_on"] = ["b"]
    changed.pop("graph_hash")
    assert GraphManifest.model_validate(changed).graph_hash != manifest.graph_hash


def test_a_set_is_given_in_a_stable_order() -> None:
    b = ManifestBuilder("g", JOIN.build().state_model)
    b.set_entrypoint("a").add_node("a", lambda s: None, next_node=["x", "y"])
    b.add_node("x", lambda s: None, next_node="j").add_node("y", lambda s: None, next_node="j")
    b.add_node("j", lambda s: None, terminal=True, join_on={"y", "x"})
    assert b.build().manifest.node("j").join_on == ["x", "y"]


# --- on every engine --------------------------------------------------------------------------


def test_in_process() -> None:
    assert_result(JOIN, run_in_memory(JOIN))


def test_on_the_local_engine() -> None:
    outcome = asyncio.run(asyncio.wait_for(run_on_engine(JOIN, MemoryRunStore()), 60))
    assert_outcome(JOIN, status=outcome["status"], state=outcome["state"], nodes=outcome["nodes"],
                   error=outcome["error"])


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_over_http_on_the_local_engine_and_the_durable_emulator(engine: str) -> None:
    with ENGINES[engine](JOIN.build()) as running:
        outcome = run_over_http(JOIN, running)
    assert_outcome(JOIN, status=outcome["status"], state=outcome["state"], nodes=outcome["nodes"],
                   error=outcome["error"])


# --- the interpreter ----------------------------------------------------------------------------


def _drive(registration: Any, snapshot: dict[str, Any], seen: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Run tasks with the real executor until the run finishes or only timers are left."""
    manifest = registration.manifest
    for _ in range(100):
        commands = decide(manifest, snapshot)  # type: ignore[arg-type]
        if commands.finished or not commands.tasks:
            return snapshot
        for command in commands.tasks:
            result = asyncio.run(execute_task(registration, command))
            apply_task_result(manifest, snapshot, command["task_id"], result, now=0.0)  # type: ignore[arg-type]
            if seen is not None:
                seen.append(copy.deepcopy(snapshot))
    raise AssertionError("run did not finish")


def test_arrivals_are_kept_while_pending_and_cleared_on_release() -> None:
    registration = JOIN.build()
    snapshot, _ = start_run(registration.manifest, {"log": []}, run_id="r")
    seen: list[dict[str, Any]] = []
    _drive(registration, snapshot, seen)  # type: ignore[arg-type]
    assert snapshot["status"] == "completed"
    arrivals = [s.get("join_arrivals") for s in seen]
    assert {"e": ["b"]} in arrivals  # b finished in step 2, d not yet
    assert "join_arrivals" not in snapshot  # released in step 4, then cleared
    assert json.loads(json.dumps(seen)) == seen  # plain JSON throughout


def test_a_snapshot_written_before_join_arrivals_existed_loads_unchanged() -> None:
    # A graph without join_on: its snapshots have exactly the keys they always had.
    for scenario in SCENARIOS:
        if scenario.name.startswith("join_on") or scenario.expected_error_code == "NODE_TIMEOUT":
            continue
        registration = scenario.build()
        if any(n.join_on for n in registration.manifest.nodes) or registration.subgraphs:
            continue
        snapshot, _ = start_run(registration.manifest, registration.state_model.model_validate(
            scenario.input).model_dump(mode="json"), run_id="r")
        seen: list[dict[str, Any]] = []
        _drive(registration, snapshot, seen)  # type: ignore[arg-type]
        assert all(set(s) == SNAPSHOT_KEYS for s in seen), scenario.name
    # A join_on graph's snapshot without the key (as an older writer left it) runs on.
    registration = JOIN.build()
    snapshot, _ = start_run(registration.manifest, {"log": []}, run_id="r")
    old = json.loads(json.dumps(snapshot))
    assert set(old) == SNAPSHOT_KEYS
    _drive(registration, old)
    assert old["state"]["log"] == JOIN.expected_state["log"]  # type: ignore[index]


class Loop(BaseModel):
    rounds: int = 0
    b_runs: int = 0
    log: Annotated[list[str], reducers.append] = []


def test_the_join_fires_once_per_complete_set_and_again_after_it() -> None:
    b = ManifestBuilder("loop", Loop)
    b.set_entrypoint("a")
    b.add_node("a", lambda s: {"log": "a"}, next_node=["b", "c"])
    # b reaches e twice before c's branch is done: one arrival, e runs once.
    b.add_node("b", lambda s: {"log": "b", "b_runs": s.b_runs + 1},
               route=lambda s: ["e", "b"] if s.b_runs % 2 == 1 else ["e"], route_targets=["b", "e"])
    b.add_node("c", lambda s: {"log": "c"}, next_node="c2")
    b.add_node("c2", lambda s: {"log": "c2"}, next_node="c3")
    b.add_node("c3", lambda s: {"log": "c3"}, next_node="e")

    def e(state: Loop) -> dict[str, Any]:
        return {"log": f"e{state.rounds}", "rounds": state.rounds + 1}

    b.add_node("e", e, route=lambda s: "a" if s.rounds < 2 else "__complete__", route_targets=["a"],
               join_on=["b", "c3"])
    result = b.build().invoke({})
    assert result.status == "completed", result.error
    assert [s.node for s in result.steps] == [
        "a", "b", "c", "b", "c2", "c3", "e",
        "a", "b", "c", "b", "c2", "c3", "e",
    ]
    assert result.state.log[-1] == "e1" and result.state.rounds == 2


def test_an_edge_from_a_node_outside_join_on_runs_the_node_at_once() -> None:
    b = ManifestBuilder("direct", Loop)
    b.set_entrypoint("a")
    b.add_node("a", lambda s: {"log": "a"}, next_node=["x", "c", "d"])
    b.add_node("x", lambda s: {"log": "x"}, next_node="e")  # not in join_on: runs e at once
    b.add_node("c", lambda s: {"log": "c"}, next_node="e")
    b.add_node("d", lambda s: {"log": "d"}, next_node="d2")
    b.add_node("d2", lambda s: {"log": "d2"}, next_node="e")
    b.add_node("e", lambda s: {"log": "e"}, terminal=True, join_on=["c", "d2"])
    result = b.build().invoke({})
    assert [s.node for s in result.steps] == ["a", "x", "c", "d", "e", "d2", "e"]

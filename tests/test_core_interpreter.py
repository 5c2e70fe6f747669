"""Unit tests of the pure interpreter, fed synthetic task results (no user code runs)."""

from __future__ import annotations

import copy
import json
from typing import Annotated, Any

import pytest
from pydantic import BaseModel

from azure_functions_durable_graph import (
    EventNotDeclaredError,
    ManifestBuilder,
    RetryPolicy,
    RouteDecision,
    SnapshotError,
    reducers,
)
from azure_functions_durable_graph.core import (
    CANCELLED,
    COMPLETED,
    FAILED,
    RUNNING,
    SNAPSHOT_FORMAT,
    WAITING,
    CompiledGraph,
    apply_cancel,
    apply_event,
    apply_task_result,
    apply_timer_fired,
    build_output,
    check_snapshot,
    compile_manifest,
    decide,
    start_run,
)


def _concat(current: str | None, update: str) -> str:
    return update if not current else f"{current}|{update}"


class S(BaseModel):
    x: int = 0
    name: str = ""
    log: Annotated[list[str], reducers.append] = []
    joined: Annotated[str, _concat] = ""


def noop(state: Any) -> None:
    return None


WAIT_GO = RouteDecision.wait_for_event("go", "after", timeout=60, on_timeout="late")


def _graph(**options: Any) -> CompiledGraph:
    """start -> [a, b]; a -> wait go (60 s, late) -> after; b terminal."""
    builder = ManifestBuilder(graph_name="core_unit", state_model=S, **options)
    builder.set_entrypoint("start")
    builder.add_node("start", noop, next_node=["a", "b"])
    builder.add_node("a", noop, route=noop, route_targets=[WAIT_GO])
    builder.add_node("b", noop, terminal=True, retry=RetryPolicy(max_attempts=2, initial_interval=5))
    builder.add_node("after", noop, terminal=True)
    builder.add_node("late", noop, terminal=True)
    builder.add_event_handler("go")
    return compile_manifest(builder.build().manifest)


def _chain(length: int = 3, **options: Any) -> CompiledGraph:
    builder = ManifestBuilder(graph_name="core_chain", state_model=S, **options)
    builder.set_entrypoint("c0")
    for i in range(length):
        nxt = f"c{i + 1}" if i + 1 < length else None
        builder.add_node(f"c{i}", noop, next_node=nxt, terminal=nxt is None)
    return compile_manifest(builder.build().manifest)


def ok(update: dict[str, Any] | None = None, route: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"ok": True, "update": update or {}, "route": route}


def failed(message: str = "boom", **extra: Any) -> dict[str, Any]:
    return {"ok": False, "error": {"type": "RuntimeError", "message": message, **extra}}


def _ids(graph: CompiledGraph, snapshot: dict[str, Any]) -> list[str]:
    return [t["task_id"] for t in decide(graph, snapshot).tasks]


def _start(graph: CompiledGraph, **kw: Any) -> dict[str, Any]:
    snapshot, _ = start_run(graph, {"x": 0, "name": "", "log": [], "joined": ""}, run_id="r1", **kw)
    return snapshot


def _to_wait(graph: CompiledGraph, now: float = 100.0) -> dict[str, Any]:
    """Run start, a (which waits for go) and b: the run is left waiting."""
    snapshot = _start(graph, now=now)
    apply_task_result(graph, snapshot, "1:0:start", ok({"log": "start"}), now=now)
    apply_task_result(graph, snapshot, "2:0:a", ok({"log": "a"}, WAIT_GO.to_json()), now=now)
    apply_task_result(graph, snapshot, "2:1:b", ok({"log": "b"}), now=now)
    return snapshot


# --- start and task ids --------------------------------------------------------------------------


def test_start_run_prepares_the_entrypoint() -> None:
    graph = _graph()
    snapshot, events = start_run(graph, {"x": 1}, run_id="r1", metadata={"k": "v"}, now=5.0)
    assert snapshot["format"] == SNAPSHOT_FORMAT
    assert snapshot["status"] == RUNNING and snapshot["step"] == 1
    assert [e["type"] for e in events] == ["run_started", "step_started"]
    assert events[1]["tasks"] == [{"task_id": "1:0:start", "node": "start"}]
    (command,) = decide(graph, snapshot).tasks
    assert command["task_id"] == "1:0:start"
    assert command["idempotency_key"] == "r1:1:0:start"
    assert command["metadata"] == {"k": "v"}
    assert command["state"] == {"x": 1}
    assert command["graph"] == "core_unit" and command["graph_hash"] == graph.manifest.graph_hash


def test_task_ids_are_step_index_node() -> None:
    graph = _graph()
    snapshot = _start(graph)
    apply_task_result(graph, snapshot, "1:0:start", ok(), now=0)
    assert _ids(graph, snapshot) == ["2:0:a", "2:1:b"]
    apply_task_result(graph, snapshot, "2:1:b", ok(), now=0)
    apply_task_result(graph, snapshot, "2:0:a", ok(route=WAIT_GO.to_json()), now=0)
    apply_event(graph, snapshot, "go", {"x": 1}, now=0)
    assert _ids(graph, snapshot) == ["3:0:event:go"]
    apply_task_result(graph, snapshot, "3:0:event:go", ok({"x": 1}), now=0)
    assert _ids(graph, snapshot) == ["4:0:after"]


def test_two_runs_of_the_same_inputs_name_tasks_alike() -> None:
    graph = _graph()
    first, second = _to_wait(graph), _to_wait(graph)
    assert first == second


# --- events ---------------------------------------------------------------------------------------


def test_event_raised_early_is_buffered_then_consumed_by_the_wait() -> None:
    graph = _graph()
    snapshot = _start(graph)
    events = apply_event(graph, snapshot, "go", {"x": 7}, now=0)
    assert [e["type"] for e in events] == ["event_received"]
    assert snapshot["inbox"] == [{"id": "e1", "name": "go", "payload": {"x": 7}}]
    assert snapshot["status"] == RUNNING and _ids(graph, snapshot) == ["1:0:start"]
    apply_task_result(graph, snapshot, "1:0:start", ok(), now=0)
    apply_task_result(graph, snapshot, "2:1:b", ok(), now=0)
    assert snapshot["inbox"]  # still buffered while a runs
    apply_task_result(graph, snapshot, "2:0:a", ok(route=WAIT_GO.to_json()), now=0)
    # The wait took the buffered event at the boundary: no wait, no timer is left.
    assert snapshot["inbox"] == [] and snapshot["consumed_events"] == ["e1"]
    assert snapshot["waits"] == [] and snapshot["timers"] == []
    (command,) = decide(graph, snapshot).tasks
    assert command["kind"] == "event" and command["node"] == "event:go"
    assert command["event"] == {"id": "e1", "name": "go", "payload": {"x": 7}}
    assert command["resume"] == "after"


def test_event_while_waiting_resumes_at_once() -> None:
    graph = _graph()
    snapshot = _to_wait(graph)
    assert snapshot["status"] == WAITING
    assert [w["event"] for w in decide(graph, snapshot).waits] == ["go"]
    apply_event(graph, snapshot, "go", {"x": 2}, now=101)
    assert snapshot["status"] == RUNNING
    apply_task_result(graph, snapshot, "3:0:event:go", ok({"x": 2}), now=101)
    apply_task_result(graph, snapshot, "4:0:after", ok({"log": "after"}), now=101)
    assert snapshot["status"] == COMPLETED
    assert snapshot["state"]["x"] == 2
    assert snapshot["state"]["log"] == ["start", "a", "b", "after"]
    assert snapshot["final_nodes"] == ["b", "after"]


def test_events_are_consumed_fifo_one_per_wait() -> None:
    graph = _graph()
    snapshot = _start(graph)
    apply_event(graph, snapshot, "go", {"n": 1}, now=0)
    apply_event(graph, snapshot, "go", {"n": 2}, now=0)
    apply_task_result(graph, snapshot, "1:0:start", ok(), now=0)
    apply_task_result(graph, snapshot, "2:1:b", ok(), now=0)
    apply_task_result(graph, snapshot, "2:0:a", ok(route=WAIT_GO.to_json()), now=0)
    (command,) = decide(graph, snapshot).tasks
    assert command["event"]["payload"] == {"n": 1}
    assert [e["payload"] for e in snapshot["inbox"]] == [{"n": 2}]


def test_the_same_event_id_counts_once() -> None:
    graph = _graph()
    snapshot = _start(graph)
    assert apply_event(graph, snapshot, "go", {}, now=0, event_id="evt-1")
    before = copy.deepcopy(snapshot)
    assert apply_event(graph, snapshot, "go", {}, now=0, event_id="evt-1") == []
    assert snapshot == before


def test_undeclared_event_is_refused() -> None:
    graph = _graph()
    snapshot = _start(graph)
    with pytest.raises(EventNotDeclaredError) as info:
        apply_event(graph, snapshot, "nope", {}, now=0)
    assert info.value.code == "EVENT_NOT_DECLARED"


# --- timers ---------------------------------------------------------------------------------------


def test_wait_timeout_runs_on_timeout() -> None:
    graph = _graph()
    snapshot = _to_wait(graph, now=100.0)
    (timer,) = decide(graph, snapshot).timers
    assert timer == {"id": "timeout:w1", "fire_at": 160.0, "kind": "wait_timeout", "wait": "w1"}
    events = apply_timer_fired(graph, snapshot, "timeout:w1", now=160.0)
    assert [e["type"] for e in events][:2] == ["wait_timed_out", "step_started"]
    assert _ids(graph, snapshot) == ["3:0:late"]


def test_wait_timeout_without_on_timeout_fails_the_run() -> None:
    graph = _graph()
    snapshot = _start(graph)
    wait = RouteDecision.wait_for_event("go", "after", timeout=1).to_json()
    apply_task_result(graph, snapshot, "1:0:start", ok(), now=0)
    apply_task_result(graph, snapshot, "2:1:b", ok(), now=0)
    apply_task_result(graph, snapshot, "2:0:a", ok(route=wait), now=0)
    apply_timer_fired(graph, snapshot, "timeout:w1", now=1)
    assert snapshot["status"] == FAILED
    assert snapshot["error"]["code"] == "WAIT_TIMEOUT" and snapshot["error"]["node"] == "a"
    assert snapshot["waits"] == [] and snapshot["timers"] == []


def test_stale_timers_are_ignored() -> None:
    graph = _graph()
    snapshot = _to_wait(graph)
    apply_event(graph, snapshot, "go", {}, now=101)  # consumed: its timeout timer is gone
    before = copy.deepcopy(snapshot)
    assert apply_timer_fired(graph, snapshot, "timeout:w1", now=500) == []
    assert apply_timer_fired(graph, snapshot, "retry:2:1:b:2", now=500) == []
    assert apply_timer_fired(graph, snapshot, "no-such-timer", now=500) == []
    assert snapshot == before


def test_retry_timer_reruns_the_same_task_with_the_next_attempt() -> None:
    graph = _graph()
    snapshot = _start(graph)
    apply_task_result(graph, snapshot, "1:0:start", ok(), now=10)
    events = apply_task_result(graph, snapshot, "2:1:b", failed(), now=10)
    assert events[0]["type"] == "task_failed" and events[0]["will_retry"] is True
    commands = decide(graph, snapshot)
    assert [t["task_id"] for t in commands.tasks] == ["2:0:a"]
    assert commands.timers == [
        {"id": "retry:2:1:b:2", "fire_at": 15.0, "kind": "retry", "task": "2:1:b"}
    ]
    apply_task_result(graph, snapshot, "2:0:a", ok(route=WAIT_GO.to_json()), now=11)
    assert snapshot["status"] == RUNNING  # the boundary waits for b's retry
    apply_timer_fired(graph, snapshot, "retry:2:1:b:2", now=15)
    (command,) = decide(graph, snapshot).tasks
    assert (command["task_id"], command["attempt"]) == ("2:1:b", 2)
    assert command["idempotency_key"] == "r1:2:1:b"  # the same on every attempt
    # A second firing of the same retry timer is stale.
    before = copy.deepcopy(snapshot)
    assert apply_timer_fired(graph, snapshot, "retry:2:1:b:2", now=16) == []
    assert snapshot == before
    apply_task_result(graph, snapshot, "2:1:b", failed("again"), now=16)
    assert snapshot["status"] == FAILED
    assert snapshot["error"]["code"] == "NODE_FAILED"
    assert snapshot["error"]["attempt"] == 2 and snapshot["error"]["node"] == "b"


def test_non_retryable_error_fails_at_once() -> None:
    graph = _graph()
    snapshot = _start(graph)
    apply_task_result(graph, snapshot, "1:0:start", ok(), now=0)
    apply_task_result(graph, snapshot, "2:1:b", failed(retryable=False), now=0)
    assert snapshot["status"] == FAILED and snapshot["timers"] == []


# --- cancel ---------------------------------------------------------------------------------------


def test_cancel_while_running_applies_at_the_superstep_boundary() -> None:
    graph = _graph()
    snapshot = _start(graph)
    apply_task_result(graph, snapshot, "1:0:start", ok({"log": "start"}), now=0)
    events = apply_cancel(graph, snapshot, "enough", now=0)
    assert [e["type"] for e in events] == ["cancel_requested"]
    assert snapshot["status"] == RUNNING and snapshot["cancel"] == {"reason": "enough"}
    assert _ids(graph, snapshot) == ["2:0:a", "2:1:b"]  # in-flight tasks finish
    apply_task_result(graph, snapshot, "2:0:a", ok({"log": "a"}), now=0)
    assert snapshot["status"] == RUNNING
    events = apply_task_result(graph, snapshot, "2:1:b", ok({"log": "b"}), now=0)
    assert events[-1] == {"type": "run_cancelled", "reason": "enough"}
    assert snapshot["status"] == CANCELLED
    assert snapshot["step"] == 2  # no new superstep started
    assert snapshot["tasks"] == [] and snapshot["waits"] == [] and snapshot["timers"] == []
    commands = decide(graph, snapshot)
    assert commands.finished and commands.tasks == [] and commands.output is None
    assert apply_cancel(graph, snapshot, "again", now=0) == []


def test_cancel_while_waiting_is_immediate() -> None:
    graph = _graph()
    snapshot = _to_wait(graph)
    apply_cancel(graph, snapshot, None, now=101)
    assert snapshot["status"] == CANCELLED and snapshot["waits"] == []
    assert apply_event(graph, snapshot, "go", {}, now=102) == []


def test_cancel_while_a_retry_is_pending_does_not_wait_for_it() -> None:
    graph = _graph()
    snapshot = _start(graph)
    apply_task_result(graph, snapshot, "1:0:start", ok(), now=0)
    apply_task_result(graph, snapshot, "2:0:a", ok(), now=0)
    apply_task_result(graph, snapshot, "2:1:b", failed(), now=0)
    apply_cancel(graph, snapshot, "stop", now=1)
    assert snapshot["status"] == CANCELLED and snapshot["timers"] == []


# --- boundaries: reducers, conflicts, limits -----------------------------------------------------


def test_custom_reducers_run_as_a_reduce_task_in_task_order() -> None:
    graph = _graph()
    snapshot = _start(graph)
    apply_task_result(graph, snapshot, "1:0:start", ok(), now=0)
    # b finishes first; the reduce task still lists a's value first (task-creation order).
    apply_task_result(graph, snapshot, "2:1:b", ok({"joined": "B"}), now=0)
    apply_task_result(graph, snapshot, "2:0:a", ok({"joined": "A"}), now=0)
    (command,) = decide(graph, snapshot).tasks
    assert command["task_id"] == "2:reduce" and command["kind"] == "reduce"
    assert command["updates"] == {"joined": ["A", "B"]} and command["base"] == {"joined": ""}
    apply_task_result(graph, snapshot, "2:reduce", ok({"joined": "A|B"}), now=0)
    assert snapshot["state"]["joined"] == "A|B"
    assert snapshot["status"] == COMPLETED  # a had no route: its branch ended


def test_conflicting_parallel_writes_fail_the_run() -> None:
    graph = _graph()
    snapshot = _start(graph)
    apply_task_result(graph, snapshot, "1:0:start", ok(), now=0)
    apply_task_result(graph, snapshot, "2:0:a", ok({"x": 1}), now=0)
    apply_task_result(graph, snapshot, "2:1:b", ok({"x": 2}), now=0)
    assert snapshot["status"] == FAILED
    assert snapshot["error"]["code"] == "INVALID_UPDATE" and snapshot["error"]["field"] == "x"


def test_updates_apply_in_task_order_not_arrival_order() -> None:
    graph = _graph()
    snapshot = _start(graph)
    apply_task_result(graph, snapshot, "1:0:start", ok({"log": "start"}), now=0)
    apply_task_result(graph, snapshot, "2:1:b", ok({"log": "b"}), now=0)
    apply_task_result(graph, snapshot, "2:0:a", ok({"log": "a"}), now=0)
    assert snapshot["state"]["log"] == ["start", "a", "b"]


def test_unknown_route_target_fails_the_run() -> None:
    graph = _graph()
    snapshot = _start(graph)
    apply_task_result(
        graph, snapshot, "1:0:start", ok(route={"action": "next", "targets": ["ghost"]}), now=0
    )
    assert snapshot["status"] == FAILED and snapshot["error"]["code"] == "INVALID_ROUTE"


def test_max_steps() -> None:
    graph = _chain(4, max_steps=3)
    snapshot = _start(graph)
    for task_id in ("1:0:c0", "2:0:c1", "3:0:c2"):
        apply_task_result(graph, snapshot, task_id, ok(), now=0)
    assert snapshot["status"] == FAILED
    assert snapshot["error"]["code"] == "MAX_STEPS_EXCEEDED" and snapshot["step"] == 3


def test_results_after_the_end_are_ignored_and_output_is_built() -> None:
    graph = _chain(2)
    snapshot = _start(graph)
    apply_task_result(graph, snapshot, "1:0:c0", ok({"x": 1}), now=0)
    events = apply_task_result(graph, snapshot, "2:0:c1", ok({"name": "done"}), now=0)
    assert events[-1] == {"type": "run_completed", "final_nodes": ["c1"]}
    before = copy.deepcopy(snapshot)
    assert apply_task_result(graph, snapshot, "2:0:c1", ok({"x": 9}), now=0) == []
    assert snapshot == before
    output = decide(graph, snapshot).output
    assert output == build_output(graph, snapshot)
    assert output is not None
    assert output["state"]["x"] == 1 and output["state"]["name"] == "done"
    assert output["final_nodes"] == ["c1"] and output["steps"] == 2
    assert output["graph_name"] == "core_chain"


# --- snapshots ------------------------------------------------------------------------------------


def test_snapshot_survives_json_at_every_stage() -> None:
    graph = _graph()
    snapshot = _start(graph, now=0)
    stages = [copy.deepcopy(snapshot)]
    apply_event(graph, snapshot, "go", {"x": 3}, now=0)
    stages.append(copy.deepcopy(snapshot))
    apply_task_result(graph, snapshot, "1:0:start", ok({"log": "s"}), now=0)
    stages.append(copy.deepcopy(snapshot))
    apply_task_result(graph, snapshot, "2:1:b", failed(), now=0)
    stages.append(copy.deepcopy(snapshot))
    for stage in stages:
        assert json.loads(json.dumps(stage)) == stage
    # Continuing from a JSON copy is the same as continuing from the original.
    restored = json.loads(json.dumps(snapshot))
    for snap in (snapshot, restored):
        apply_task_result(graph, snap, "2:0:a", ok(route=WAIT_GO.to_json()), now=1)
        apply_timer_fired(graph, snap, "retry:2:1:b:2", now=5)
        apply_task_result(graph, snap, "2:1:b", ok({"log": "b"}), now=5)
    assert restored == snapshot


def test_decide_does_not_change_the_snapshot() -> None:
    graph = _graph()
    snapshot = _to_wait(graph)
    before = copy.deepcopy(snapshot)
    decide(graph, snapshot, compact_after_steps=0)
    assert snapshot == before


@pytest.mark.parametrize(
    "bad",
    [None, [], "snapshot", {}, {"run_id": "r"}, {"format": SNAPSHOT_FORMAT + 1, "run_id": "r9"}],
    ids=["none", "list", "str", "empty", "no-format", "newer-format"],
)
def test_check_snapshot_rejects_what_it_cannot_read(bad: Any) -> None:
    with pytest.raises(SnapshotError) as info:
        check_snapshot(bad)
    assert info.value.code == "SNAPSHOT_INVALID"


def test_wrong_format_is_refused_by_apply_and_names_the_run() -> None:
    graph = _graph()
    snapshot = _start(graph)
    snapshot["format"] = SNAPSHOT_FORMAT + 1
    with pytest.raises(SnapshotError, match="r1"):
        apply_task_result(graph, snapshot, "1:0:start", ok(), now=0)


def test_check_snapshot_accepts_a_real_snapshot() -> None:
    snapshot = _start(_graph())
    assert check_snapshot(snapshot) is snapshot


def test_compile_manifest_accepts_the_manifest_json() -> None:
    graph = _graph()
    data = graph.manifest.model_dump(mode="json")
    again = compile_manifest(data)
    assert again.manifest.graph_hash == graph.manifest.graph_hash
    assert again.events == frozenset({"go"})
    assert again.reducers["log"] == "append" and again.reducers["joined"] == "custom"

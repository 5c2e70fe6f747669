"""Properties of the pure interpreter over random DAG-shaped graphs.

(a) through the in-process runner: every task's update is applied exactly once, every node runs,
joins run in a superstep of their own; (b)-(e) driving ``core`` directly with synthetic task
results (a pure function of the task command): determinism, JSON round-trips at any point,
idempotent result application, and independence from the order results arrive in.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from dataclasses import dataclass
from typing import Annotated, Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from azure_functions_durable_graph import GraphRegistration, ManifestBuilder, RetryPolicy, reducers
from azure_functions_durable_graph.core import (
    CompiledGraph,
    apply_task_result,
    apply_timer_fired,
    compile_manifest,
    decide,
    start_run,
)
from azure_functions_durable_graph.execution import ManualClock

PROPERTY_SETTINGS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class LogState(BaseModel):
    """Every node appends its name."""

    log: Annotated[list[str], reducers.append] = []


@dataclass(frozen=True)
class Dag:
    """Nodes ``n0..n{size-1}``; edges only go to later nodes; some nodes are joins."""

    size: int
    edges: tuple[tuple[int, ...], ...]
    joins: frozenset[int]
    flaky: tuple[tuple[int, int], ...] = ()  # (node, failures before success)

    def name(self, index: int) -> str:
        return f"n{index}"


@st.composite
def dags(draw: st.DrawFn, *, with_flaky: bool = False) -> Dag:
    size = draw(st.integers(min_value=2, max_value=8))
    edges: list[set[int]] = [set() for _ in range(size)]
    for child in range(1, size):  # every node has a parent: all are reachable
        edges[draw(st.integers(0, child - 1))].add(child)
    for node in range(size - 1):
        edges[node] |= draw(st.sets(st.integers(node + 1, size - 1), max_size=3))
    joins = draw(st.sets(st.integers(1, size - 1), max_size=2))
    flaky: tuple[tuple[int, int], ...] = ()
    if with_flaky:
        failing = draw(st.sets(st.integers(0, size - 1), max_size=3))
        # 1 or 2 failures recover within 3 attempts; 3 exhausts the retries and fails the run.
        flaky = tuple(sorted((n, draw(st.integers(1, 3))) for n in failing))
    return Dag(size, tuple(tuple(sorted(e)) for e in edges), frozenset(joins), flaky)


def _append_name(name: str) -> Any:
    def handler(state: LogState) -> dict[str, Any]:
        return {"log": name}

    return handler


def build_dag(dag: Dag) -> GraphRegistration:
    builder = ManifestBuilder(graph_name="dag", state_model=LogState)
    builder.set_entrypoint("n0")
    flaky = dict(dag.flaky)
    for index in range(dag.size):
        targets = [dag.name(t) for t in dag.edges[index]]
        builder.add_node(
            dag.name(index),
            _append_name(dag.name(index)),
            next_node=targets or None,
            terminal=not targets,
            join=index in dag.joins,
            retry=RetryPolicy(max_attempts=3, initial_interval=1.0) if index in flaky else None,
        )
    return builder.build()


# --- (a) every update applied exactly once, through the runner ------------------------------------


@PROPERTY_SETTINGS
@given(dags())
def test_every_update_is_applied_exactly_once(dag: Dag) -> None:
    result = build_dag(dag).invoke({}, clock=ManualClock())
    assert result.status == "completed", result.error
    assert result.state is not None
    log = result.state.log
    completed = [s for s in result.steps if s.error is None]
    assert len(log) == len(completed)
    assert Counter(log) == Counter(s.node for s in completed)
    # Every node is reachable, so every node runs at least once.
    assert set(log) == {dag.name(i) for i in range(dag.size)}
    # Within a superstep the log follows task-creation order (task ids carry the index).
    by_step: dict[int, list[tuple[int, str]]] = {}
    for record in completed:
        step, index, node = record.task_id.split(":", 2)
        assert int(step) == record.step and node == record.node
        by_step.setdefault(record.step, []).append((int(index), record.node))
    expected_log = [node for step in sorted(by_step) for _, node in sorted(by_step[step])]
    assert log == expected_log
    # A join is released only when nothing else is left: its superstep holds joins alone.
    join_names = {dag.name(j) for j in dag.joins}
    for nodes in by_step.values():
        names = {node for _, node in nodes}
        if names & join_names:
            assert names <= join_names
    # Plain activations of one node in one superstep are merged.
    for nodes in by_step.values():
        names = [node for _, node in nodes]
        assert len(names) == len(set(names))


# --- a core-only driver with synthetic results ---------------------------------------------------


def synthetic_result(command: dict[str, Any], flaky: dict[str, int]) -> dict[str, Any]:
    """A pure function of the task command: flaky nodes fail their first attempts."""
    node = command["node"]
    if command["attempt"] <= flaky.get(node, 0):
        return {
            "ok": False,
            "error": {
                "type": "Flaky",
                "message": f"{node} failed attempt {command['attempt']}",
                "retryable": True,
            },
        }
    return {"ok": True, "update": {"log": node}, "route": None}


@dataclass
class Trace:
    """Everything the driver saw and did."""

    steps: list[Any]
    snapshot: dict[str, Any]


def drive(
    graph: CompiledGraph,
    flaky: dict[str, int],
    choices: list[int],
    *,
    roundtrip_at: int | None = None,
    reapply_at: int | None = None,
) -> Trace:
    """Run to the end: each move applies one ready task's result (picked by ``choices``) or
    fires the earliest due timer. Optionally JSON round-trip the snapshot, or re-apply a
    result, after move number ``roundtrip_at`` / ``reapply_at``."""
    snapshot, events = start_run(graph, {"log": []}, run_id="run-1", now=0.0)
    steps: list[Any] = [copy.deepcopy(("start", events))]
    now = 0.0
    move = 0
    while True:
        commands = decide(graph, snapshot)
        # Commands share the snapshot's state object; record a copy of what was seen.
        steps.append(
            copy.deepcopy(
                ("decide", commands.status, commands.tasks, commands.timers, commands.waits)
            )
        )
        if commands.finished:
            steps.append(copy.deepcopy(("end", commands.output, commands.error)))
            break
        assert json.loads(json.dumps(snapshot)) == snapshot
        if commands.tasks:
            pick = choices[move % len(choices)] % len(commands.tasks) if choices else 0
            command = commands.tasks[pick]
            result = synthetic_result(command, flaky)
            events = apply_task_result(graph, snapshot, command["task_id"], result, now=now)
            steps.append(copy.deepcopy(("result", command["task_id"], events)))
            if reapply_at == move:
                before = copy.deepcopy(snapshot)
                again = apply_task_result(graph, snapshot, command["task_id"], result, now=now)
                assert again == []
                assert snapshot == before
        elif commands.timers:
            timer = min(commands.timers, key=lambda t: (t["fire_at"], t["id"]))
            now = max(now, timer["fire_at"])
            events = apply_timer_fired(graph, snapshot, timer["id"], now=now)
            steps.append(copy.deepcopy(("timer", timer["id"], events)))
        else:
            raise AssertionError(f"run stuck in status {commands.status}")
        if roundtrip_at == move:
            snapshot = json.loads(json.dumps(snapshot))
        move += 1
        assert move < 500
    return Trace(steps, snapshot)


choice_lists = st.lists(st.integers(min_value=0, max_value=7), max_size=12)


# --- (b) determinism -------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(dags(with_flaky=True), choice_lists)
def test_driving_twice_gives_identical_commands_and_snapshots(dag: Dag, choices: list[int]) -> None:
    graph = compile_manifest(build_dag(dag).manifest)
    flaky = {dag.name(n): f for n, f in dag.flaky}
    first = drive(graph, flaky, choices)
    # A freshly compiled graph from the manifest's JSON behaves the same.
    second = drive(compile_manifest(graph.manifest.model_dump(mode="json")), flaky, choices)
    assert first.steps == second.steps
    assert first.snapshot == second.snapshot
    exhausted = any(f >= 3 for _, f in dag.flaky)
    assert first.snapshot["status"] == ("failed" if exhausted else "completed")


# --- (c) JSON round-trip at any point --------------------------------------------------------------


@PROPERTY_SETTINGS
@given(dags(with_flaky=True), choice_lists, st.integers(min_value=0, max_value=60))
def test_json_round_trip_at_any_point_changes_nothing(
    dag: Dag, choices: list[int], at: int
) -> None:
    graph = compile_manifest(build_dag(dag).manifest)
    flaky = {dag.name(n): f for n, f in dag.flaky}
    plain = drive(graph, flaky, choices)
    round_tripped = drive(graph, flaky, choices, roundtrip_at=at)
    assert round_tripped.steps == plain.steps
    assert round_tripped.snapshot == plain.snapshot


# --- (d) applying a result twice -------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(dags(with_flaky=True), choice_lists, st.integers(min_value=0, max_value=60))
def test_applying_a_result_twice_changes_nothing(dag: Dag, choices: list[int], at: int) -> None:
    graph = compile_manifest(build_dag(dag).manifest)
    flaky = {dag.name(n): f for n, f in dag.flaky}
    plain = drive(graph, flaky, choices)
    doubled = drive(graph, flaky, choices, reapply_at=at)
    assert doubled.steps == plain.steps
    assert doubled.snapshot == plain.snapshot


@PROPERTY_SETTINGS
@given(dags(with_flaky=True), choice_lists)
def test_results_of_finished_or_unknown_tasks_are_ignored(dag: Dag, choices: list[int]) -> None:
    graph = compile_manifest(build_dag(dag).manifest)
    flaky = {dag.name(n): f for n, f in dag.flaky}
    trace = drive(graph, flaky, choices)
    applied = [step[1] for step in trace.steps if step[0] == "result"]
    final = copy.deepcopy(trace.snapshot)
    for task_id in applied + ["99:0:nope"]:
        ok = {"ok": True, "update": {"log": "again"}, "route": None}
        assert apply_task_result(graph, trace.snapshot, task_id, ok, now=1e9) == []
    assert trace.snapshot == final


# --- (e) arrival order does not matter -------------------------------------------------------------


@PROPERTY_SETTINGS
@given(dags(with_flaky=True), choice_lists, choice_lists)
def test_outcome_does_not_depend_on_result_arrival_order(
    dag: Dag, first_choices: list[int], second_choices: list[int]
) -> None:
    graph = compile_manifest(build_dag(dag).manifest)
    flaky = {dag.name(n): f for n, f in dag.flaky}
    one = drive(graph, flaky, first_choices).snapshot
    two = drive(graph, flaky, second_choices).snapshot
    for key in ("status", "state", "step", "final_nodes", "error"):
        assert one[key] == two[key], key

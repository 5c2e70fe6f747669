"""Write-behind snapshots: a step that only applies task results leaves the snapshot out, and
every read replays the results committed since onto the last snapshot written.

- the pure replay (``core.replay_deferred``) gives the snapshot the eager path would have
  written, for chains, fan-out with joins and retries (a property over random graphs, and a table);
- the run store contract on the memory and the SQLite store: reads see every committed step, a
  written snapshot drops the log, ``flush_deferred`` writes it;
- the engine: deferred steps within the limits, every read current, the snapshot written at
  shutdown; and a SIGKILL with deferred steps committed, then the same state and each committed
  update applied once after reopening.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from azure_functions_durable_graph.core import (
    RUNNING,
    CompiledGraph,
    DeferredResult,
    apply_task_result,
    apply_timer_fired,
    compile_manifest,
    decide,
    replay_deferred,
    start_run,
)
from azure_functions_durable_graph.graph.errors import InvalidInputError
from azure_functions_durable_graph.local.engine import LocalEngine
from azure_functions_durable_graph.local.records import new_run_record
from azure_functions_durable_graph.local.store import MemoryRunStore, RunStore, SqliteRunStore
from azure_functions_durable_graph.local.store.base import ResultRow, Transition
from test_core_properties import PROPERTY_SETTINGS, Dag, build_dag, dags, synthetic_result
from test_store_conformance import store as store  # noqa: F401 - the parametrized fixture
from write_behind_worker import loop_graph

WORKER = Path(__file__).with_name("write_behind_worker.py")


def plain(value: Any) -> Any:
    return json.loads(json.dumps(value))


class Step:
    """One transition of a core-only drive: the results it applied (or the timer it fired)."""

    def __init__(self, snapshot: dict[str, Any], events: list[dict[str, Any]],
                 results: list[ResultRow], now: float, timers_changed: bool) -> None:
        self.snapshot = snapshot
        self.events = events
        self.results = results
        self.now = now
        self.timers_changed = timers_changed

    @property
    def result_only(self) -> bool:
        """What the engine defers: results applied, still running, no timer change."""
        return bool(self.results) and self.snapshot["status"] == RUNNING and not self.timers_changed


def drive(graph: CompiledGraph, flaky: dict[str, int], choices: list[int]) -> Any:
    """Run to the end with synthetic results; yields every transition. A move applies one or
    two ready results together (as tasks finishing at once do), or fires the earliest timer."""
    snapshot, _ = start_run(graph, {"log": []}, run_id="run-1", now=0.0)
    yield snapshot
    now, move = 0.0, 0
    while True:
        commands = decide(graph, snapshot)
        if commands.finished:
            return
        timers_before = copy.deepcopy(snapshot["timers"])
        results: list[ResultRow] = []
        events: list[dict[str, Any]] = []
        now += 0.5
        if commands.tasks:
            choice = choices[move % len(choices)] if choices else 0
            picked = commands.tasks[choice % len(commands.tasks):][:1 + choice % 2]
            for command in picked:
                result = synthetic_result(command, flaky)
                results.append(ResultRow(command["step"], command["task_id"], command["node"],
                                         command["attempt"], result, now, now))
                events += apply_task_result(graph, snapshot, command["task_id"], result, now=now)
        else:
            timer = min(commands.timers, key=lambda t: (t["fire_at"], t["id"]))
            now = max(now, timer["fire_at"])
            events = apply_timer_fired(graph, snapshot, timer["id"], now=now)
        yield Step(snapshot, events, results, now, snapshot["timers"] != timers_before)
        move += 1
        assert move < 500


def check_replay(dag: Dag, choices: list[int], limit: int) -> int:
    """Drive with write-behind bookkeeping: after every transition the replay of the deferred
    results onto the last written snapshot equals the snapshot held in memory. Returns how
    many transitions were deferred."""
    graph = compile_manifest(build_dag(dag).manifest)
    steps = drive(graph, dict(dag.flaky), choices)
    written = plain(next(steps))
    deferred: list[DeferredResult] = []
    count = behind = 0
    for step in steps:
        if step.result_only and behind < limit:
            deferred += [DeferredResult(r.task_id, plain(r.result), step.now) for r in step.results]
            behind += 1
            count += 1
        else:
            written, deferred, behind = plain(step.snapshot), [], 0
        before = copy.deepcopy(written)
        assert plain(replay_deferred(graph, written, deferred)) == plain(step.snapshot)
        assert written == before  # the written snapshot itself is left alone
    return count


@PROPERTY_SETTINGS
@given(dags(with_flaky=True), st.lists(st.integers(0, 7), max_size=12), st.integers(1, 6))
def test_replay_equals_the_eagerly_written_snapshot(dag: Dag, choices: list[int], limit: int) -> None:
    check_replay(dag, choices, limit)


TABLE = {
    "chain": Dag(5, ((1,), (2,), (3,), (4,), ()), frozenset()),
    "fan-out with a join": Dag(5, ((1, 2, 3), (4,), (4,), (4,), ()), frozenset({4})),
    "retries": Dag(4, ((1, 2), (3,), (3,), ()), frozenset(), flaky=((1, 2), (2, 1))),
    "a retry that fails the run": Dag(3, ((1,), (2,), ()), frozenset(), flaky=((1, 3),)),
}


@pytest.mark.parametrize("name", list(TABLE))
@pytest.mark.parametrize("choices", [[0], [1, 3, 2], [5, 0, 7, 1]])
def test_replay_table(name: str, choices: list[int]) -> None:
    deferred = check_replay(TABLE[name], choices, limit=64)
    assert deferred > 0  # each shape had steps that only applied results


def test_replay_of_the_loop_is_the_state_the_loop_reached() -> None:
    registration = loop_graph(12)
    graph = compile_manifest(registration.manifest)
    snapshot, _ = start_run(graph, {"log": [], "pad": []}, run_id="loop", now=0.0)
    written = plain(snapshot)
    deferred = []
    for number in range(5):
        [command] = decide(graph, snapshot).tasks
        result = {"ok": True, "update": {"log": number}, "route": {"action": "next", "targets": ["tick"]}}
        apply_task_result(graph, snapshot, command["task_id"], result, now=float(number))
        deferred.append(DeferredResult(command["task_id"], result, float(number)))
    replayed = replay_deferred(graph, written, deferred)
    assert replayed["state"]["log"] == [0, 1, 2, 3, 4] and replayed == plain(snapshot)
    assert replay_deferred(graph, written, []) == written


# --- the store contract (memory and SQLite) -------------------------------------------------------


def stored_run(store: RunStore, dag: Dag) -> tuple[CompiledGraph, Any]:
    registration = build_dag(dag)
    store.put_manifest(registration.graph_hash, "dag", registration.manifest.model_dump_json())
    graph = compile_manifest(registration.manifest)
    steps = drive(graph, dict(dag.flaky), [1, 3, 0, 2])
    first = next(steps)
    store.create_run(new_run_record(registration, first, {"log": []}, None, 0.0))
    return graph, steps


def commit(store: RunStore, step: Step, *, defer: bool) -> int:
    return store.commit_transition("run-1", Transition(
        snapshot=step.snapshot, status=step.snapshot["status"], updated_at=step.now, events=step.events,
        results=step.results, timers=step.snapshot["timers"] if step.timers_changed else None,
        deferred_at=step.now if defer else None,
    ))  # fmt: skip


def test_reads_see_every_committed_step_and_a_written_snapshot_drops_the_log(store: RunStore) -> None:
    _graph, steps = stored_run(store, TABLE["retries"])
    deferred_steps = eager_after_deferred = 0
    results = 0
    for step in steps:
        defer = step.result_only
        had = len(store.deferred_results("run-1"))
        commit(store, step, defer=defer)
        results += len(step.results)
        record = store.get_run("run-1")
        assert record.snapshot == plain(step.snapshot)  # replayed: the step is seen
        assert record.status == step.snapshot["status"] and record.updated_at == step.now
        listed = store.list_runs()[0][0]
        assert listed.snapshot == record.snapshot
        log = store.deferred_results("run-1")
        if defer:
            deferred_steps += 1
            assert len(log) == had + len(step.results)
            assert log[-1].applied_at == step.now and log[-1].task_id == step.results[-1].task_id
        else:
            eager_after_deferred += had > 0
            assert log == []
    assert deferred_steps > 0 and eager_after_deferred > 0
    assert store.get_run("run-1").status == "completed"
    assert len(store.history("run-1")) == results  # every result committed once


def test_flush_writes_the_replayed_snapshot_once(store: RunStore) -> None:
    _graph, steps = stored_run(store, TABLE["chain"])
    commit(store, next(steps), defer=False)  # n0's result, with its snapshot
    for _ in range(2):
        step = next(steps)
        assert step.result_only
        commit(store, step, defer=True)
    seq = store.last_seq("run-1")
    assert len(store.deferred_results("run-1")) == 2
    assert store.flush_deferred("run-1") is True
    assert store.deferred_results("run-1") == []
    assert store.get_run("run-1").snapshot == plain(step.snapshot)
    assert store.last_seq("run-1") == seq  # events and progress were left alone
    assert store.flush_deferred("run-1") is False and store.flush_deferred("nope") is False


def test_a_deferred_step_of_an_unstored_manifest_fails_its_read_and_is_listed_as_written(
    store: RunStore,
) -> None:
    registration = loop_graph(3)
    graph = compile_manifest(registration.manifest)
    snapshot, _ = start_run(graph, {"log": [], "pad": []}, run_id="run-1", now=0.0)
    store.create_run(new_run_record(registration, snapshot, {}, None, 0.0))
    [command] = decide(graph, snapshot).tasks
    result = {"ok": True, "update": {"log": 0}, "route": {"action": "next", "targets": ["tick"]}}
    apply_task_result(graph, snapshot, command["task_id"], result, now=1.0)
    row = ResultRow(command["step"], command["task_id"], "tick", 1, result, 1.0, 1.0)
    store.commit_transition("run-1", Transition(snapshot=snapshot, status="running", updated_at=1.0,
                                                results=[row], deferred_at=1.0))
    with pytest.raises(Exception) as failed:
        store.get_run("run-1")
    assert getattr(failed.value, "code", None) == "STORE_ERROR" and "is not stored" in str(failed.value)
    [listed] = store.list_runs()[0]
    assert listed.snapshot["state"]["log"] == []  # as last written
    store.put_manifest(registration.graph_hash, "loop", registration.manifest.model_dump_json())
    assert store.get_run("run-1").snapshot["state"]["log"] == [0]


def test_another_sqlite_store_on_the_file_replays_the_log(tmp_path: Path) -> None:
    with SqliteRunStore(tmp_path / "runs.db") as writer:
        _graph, steps = stored_run(writer, TABLE["chain"])
        step = next(steps)
        commit(writer, step, defer=True)
        with SqliteRunStore(tmp_path / "runs.db", read_only=True) as reader:
            assert reader.get_run("run-1").snapshot == plain(step.snapshot)
            assert len(reader.deferred_results("run-1")) == 1


# --- the engine -----------------------------------------------------------------------------------


def engine_store(kind: str, tmp_path: Path) -> RunStore:
    return MemoryRunStore() if kind == "memory" else SqliteRunStore(tmp_path / "runs.db")


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 120))


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_the_engine_defers_within_its_limits_and_every_read_is_current(kind: str, tmp_path: Path) -> None:
    store = engine_store(kind, tmp_path)
    seen: list[tuple[int, int]] = []  # (log length read back, deferred results) after each step

    async def scenario() -> None:
        async with LocalEngine(store, write_behind_steps=8) as engine:
            def listener(run_id: str, seq: int, events: list[dict[str, Any]]) -> None:
                seen.append((len(store.get_run(run_id).snapshot["state"]["log"]),
                             len(store.deferred_results(run_id))))

            engine.add_listener(listener)
            engine.register(loop_graph(40))
            await engine.start("loop", {}, instance_id="loop")
            status = await engine.wait("loop", timeout=60)
            assert status.status == "completed", status
            assert store.get_run("loop").snapshot["state"]["log"] == list(range(40))
            assert [row["update"] for row in await engine.history("loop")] == [
                {"log": i} for i in range(40)]

    run(scenario())
    lengths = [length for length, _ in seen]
    assert lengths == sorted(lengths) and lengths[-1] == 40  # each read saw every committed step
    assert lengths[1:] == list(range(1, 41))
    behind = [count for _, count in seen]
    assert max(behind) == 8 and behind[-1] == 0  # never more than the limit; none at the end
    assert behind.count(0) >= 40 // 9  # the snapshot was written every 9th step


def test_write_behind_settings_are_checked() -> None:
    for bad in ({"write_behind_steps": -1}, {"write_behind_bytes": 1.5}, {"write_behind_steps": True}):
        with pytest.raises(InvalidInputError, match="write_behind_"):
            LocalEngine(MemoryRunStore(), **bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_the_byte_limit_writes_the_snapshot_and_zero_turns_it_off(kind: str, tmp_path: Path) -> None:
    store = engine_store(kind, tmp_path)
    seen: list[int] = []

    async def scenario() -> None:
        async with LocalEngine(store, write_behind_bytes=3000) as engine:
            engine.add_listener(lambda run_id, seq, events: seen.append(len(store.deferred_results(run_id))))
            engine.register(loop_graph(12, pad_bytes=1000))
            await engine.start("loop", {}, instance_id="loop")
            assert (await engine.wait("loop", timeout=60)).status == "completed"

    run(scenario())
    assert max(seen) == 2  # a third 1 KB result would pass 3,000 bytes: written instead


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_shutdown_writes_the_snapshot_of_a_run_that_is_behind(kind: str, tmp_path: Path) -> None:
    store = engine_store(kind, tmp_path)

    async def scenario() -> None:
        engine = LocalEngine(store, write_behind_steps=100)
        await engine.open()
        engine.register(loop_graph(20, block_at=6))
        await engine.start("loop", {}, instance_id="loop")
        for _ in range(2000):  # until the blocked node's run has committed 6 steps
            if len(store.deferred_results("loop")) == 6:
                break
            await asyncio.sleep(0.005)
        assert len(store.deferred_results("loop")) == 6
        assert store.get_run("loop").snapshot["state"]["log"] == list(range(6))
        await engine.close(close_store=False)

    run(scenario())
    assert store.deferred_results("loop") == []
    record = store.get_run("loop")
    assert record.status == "running" and record.snapshot["state"]["log"] == list(range(6))
    store.close()


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_a_crash_with_deferred_steps_keeps_them_and_applies_each_once(tmp_path: Path) -> None:
    db, executions = tmp_path / "runs.db", tmp_path / "executions.log"
    steps, block_at = 30, 17
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    worker = subprocess.Popen([sys.executable, str(WORKER), str(db), str(executions), str(steps), str(block_at)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and worker.poll() is None:
            if executions.exists() and executions.read_text().count("\n") > block_at:
                break
            time.sleep(0.01)  # waiting on another process: no clock to inject
        assert worker.poll() is None, worker.communicate()[1]
        with SqliteRunStore(db, read_only=True) as reader:  # another process reading the file
            assert len(reader.deferred_results("loop")) == block_at  # no snapshot written since the start
            assert reader.get_run("loop").snapshot["state"]["log"] == list(range(block_at))
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)

    async def reopen() -> dict[str, Any]:
        async with LocalEngine(db) as engine:
            engine.register(loop_graph(steps, executions=executions))
            status = await engine.wait("loop", timeout=60)
            assert status.status == "completed", status
            return dict(engine.store.get_run("loop").snapshot["state"])

    state = run(reopen())
    assert state["log"] == list(range(steps))  # every committed update applied exactly once
    ran = Counter(int(line) for line in executions.read_text().split())
    assert all(ran[i] == 1 for i in range(steps) if i != block_at), ran  # committed: never re-run
    assert ran[block_at] == 2  # killed before its result was committed: run again

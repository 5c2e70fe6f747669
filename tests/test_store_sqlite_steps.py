"""The SQLite store's step writes: the guarded update of a run it wrote last, and its fallback.

A store remembers the status and last event sequence it wrote for each unfinished run and
writes the next step with one guarded statement. These tests make the guard miss in every way
another writer can make it miss, and check that nothing is lost, numbered twice or rewritten.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from azure_functions_durable_graph.execution.instance_ids import new_instance_id
from azure_functions_durable_graph.graph.errors import RunConflictError, StoreError
from azure_functions_durable_graph.local.store import RunRecord, SqliteRunStore
from azure_functions_durable_graph.local.store.base import ResultRow, Transition
from azure_functions_durable_graph.local.store.sqlite_runs import MAX_REMEMBERED


def record(instance_id: str) -> RunRecord:
    return RunRecord(
        instance_id=instance_id, graph_name="orders", graph_version="1", graph_hash="h" * 64,
        status="running", snapshot={"format": 1, "step": 0}, input={}, metadata={},
        created_at=1.0, updated_at=1.0,
    )  # fmt: skip


def step(number: int, *events: dict[str, Any], status: str = "running", result: Any = None) -> Transition:
    results = [] if result is None else [ResultRow(
        step=number, task_id=f"{number}:0:n", node="n", attempt=1, result=result,
        started_at=float(number), finished_at=float(number),
    )]  # fmt: skip
    return Transition(snapshot={"format": 1, "step": number}, status=status,
                      updated_at=float(number), events=list(events), results=results)


def sequences(store: SqliteRunStore, instance_id: str) -> list[tuple[int, Any]]:
    return [(seq, event.get("n")) for seq, event in store.list_events(instance_id)]


def test_steps_of_one_store_number_events_in_order(tmp_path: Path) -> None:
    with SqliteRunStore(tmp_path / "runs.db") as store:
        store.create_run(record("r1"), [{"n": 0}])
        for number in range(1, 4):
            last = store.commit_transition("r1", step(number, {"n": number}, {"n": number}))
            assert last == 1 + 2 * number
        assert sequences(store, "r1") == [(1, 0), (2, 1), (3, 1), (4, 2), (5, 2), (6, 3), (7, 3)]
        assert store.get_run("r1").snapshot["step"] == 3


def test_two_stores_writing_one_run_keep_one_event_sequence(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    with SqliteRunStore(path) as first, SqliteRunStore(path) as second:
        first.create_run(record("r1"))
        assert first.commit_transition("r1", step(1, {"n": 1}, {"n": 1})) == 2
        assert second.commit_transition("r1", step(2, {"n": 2})) == 3  # second knows nothing
        # first remembers sequence 2: its guard misses and the general update numbers on
        assert first.commit_transition("r1", step(3, {"n": 3}, {"n": 3})) == 5
        assert first.commit_transition("r1", step(4, {"n": 4})) == 6  # and remembers 5 now
        assert sequences(second, "r1") == [(1, 1), (2, 1), (3, 2), (4, 3), (5, 3), (6, 4)]
        assert second.get_run("r1").snapshot["step"] == 4


def test_a_run_finished_by_another_store_is_never_written_again(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    with SqliteRunStore(path) as first, SqliteRunStore(path) as second:
        first.create_run(record("r1"))
        first.commit_transition("r1", step(1, {"n": 1}))
        second.commit_transition("r1", step(2, {"n": 2}, status="cancelled"))
        with pytest.raises(RunConflictError, match="already cancelled"):
            first.commit_transition("r1", step(3, {"n": 3}, result={"ok": True, "update": {}}))
        stored = second.get_run("r1")
        assert (stored.status, stored.snapshot["step"]) == ("cancelled", 2)
        assert sequences(second, "r1") == [(1, 1), (2, 2)]
        assert second.history("r1") == []  # the late result was rolled back with the step


def test_status_changes_are_written_and_found_by_status(tmp_path: Path) -> None:
    with SqliteRunStore(tmp_path / "runs.db") as store:
        store.create_run(record("r1"))
        for number, status in enumerate(["running", "waiting", "waiting", "running", "completed"], 1):
            store.commit_transition("r1", step(number, {"n": number}, status=status))
            assert store.get_run("r1").status == status
            for other in ("running", "waiting", "completed"):
                found = [r.instance_id for r in store.list_runs(status=other)[0]]
                assert found == (["r1"] if other == status else []), (number, other)
        with pytest.raises(RunConflictError):
            store.commit_transition("r1", step(6, {"n": 6}))


def test_a_failed_step_leaves_the_remembered_sequence_as_stored(tmp_path: Path) -> None:
    with SqliteRunStore(tmp_path / "runs.db") as store:
        store.create_run(record("r1"))
        store.commit_transition("r1", step(1, {"n": 1}))
        with pytest.raises(StoreError, match="not JSON-serializable"):
            store.commit_transition("r1", step(2, {"n": 2}, {"n": object()}))
        assert store.commit_transition("r1", step(2, {"n": 2})) == 2
        assert sequences(store, "r1") == [(1, 1), (2, 2)]


def test_a_purged_run_started_again_numbers_from_one(tmp_path: Path) -> None:
    with SqliteRunStore(tmp_path / "runs.db") as store:
        store.create_run(record("r1"), [{"n": 0}])
        store.commit_transition("r1", step(1, {"n": 1}, status="completed"))
        store.purge("r1")
        store.create_run(record("r1"))
        assert store.commit_transition("r1", step(1, {"n": 1})) == 1
        assert sequences(store, "r1") == [(1, 1)]


def test_more_runs_than_remembered_still_write_correctly(tmp_path: Path) -> None:
    with SqliteRunStore(tmp_path / "runs.db") as store:
        store.create_run(record("first"))
        for index in range(MAX_REMEMBERED):  # fills the memory: it is emptied once, at the next
            store._rows.remember(f"ghost{index}", "running", 0, 0)
        store.create_run(record("second"))
        assert store.commit_transition("first", step(1, {"n": 1})) == 1  # forgotten: fallback
        assert store.commit_transition("second", step(1, {"n": 1})) == 1


def test_generated_instance_ids_are_uuid7_ordered_by_time() -> None:
    import uuid

    ids = [new_instance_id(1_700_000_000.0 + i / 1000) for i in range(50)]
    assert ids == sorted(ids) and len(set(ids)) == 50
    parsed = uuid.UUID(ids[0])
    assert (len(ids[0]), parsed.version, parsed.variant) == (32, 7, uuid.RFC_4122)
    assert int(ids[0][:12], 16) == 1_700_000_000_000  # Unix milliseconds first
    same_instant = {new_instance_id(5.0) for _ in range(100)}
    assert len(same_instant) == 100  # random bits keep ids of one instant apart


def test_a_version_2_database_keeps_its_events_through_the_migration(tmp_path: Path) -> None:
    import sqlite3

    from azure_functions_durable_graph.local.store.migrations import (
        LATEST_VERSION,
        MIGRATIONS,
        split_statements,
    )

    path = tmp_path / "runs.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for version, sql in MIGRATIONS[:2]:
        for statement in split_statements(sql):
            conn.execute(statement)
        conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
    conn.execute("PRAGMA user_version = 2")
    for name in ("a", "b"):
        conn.execute(
            "INSERT INTO runs (instance_id, graph_name, graph_version, graph_hash, status, "
            "snapshot, input, metadata, created_at, updated_at, last_seq) VALUES "
            "(?, 'g', '1', 'h', 'running', '{\"step\": 1}', '{}', '{}', 1.0, 1.0, 2)", (name,)
        )
        for seq in (1, 2):
            conn.execute(
                "INSERT INTO run_events (instance_id, seq, step, created_at, event) "
                "VALUES (?, ?, 1, 1.0, ?)", (name, seq, f'{{"n": "{name}{seq}"}}')
            )
    conn.close()
    with SqliteRunStore(path) as store:
        assert store.schema_version == LATEST_VERSION == 6
        assert sequences(store, "a") == [(1, "a1"), (2, "a2")]
        assert sequences(store, "b") == [(1, "b1"), (2, "b2")]
        assert store.commit_transition("a", step(2, {"n": "a3"})) == 3
        store.create_run(record("c"), [{"n": "c1"}])  # numbered after the migrated runs
        assert sequences(store, "a") == [(1, "a1"), (2, "a2"), (3, "a3")]
        assert sequences(store, "b")[-1] == (2, "b2")
        assert sequences(store, "c") == [(1, "c1")]
        numbers = store._connection().execute(
            "SELECT instance_id, run_number FROM runs ORDER BY run_number").fetchall()
        assert [(r[0], r[1]) for r in numbers] == [("a", 1), ("b", 2), ("c", 3)]


def test_reading_a_runs_events_seeks_its_key_range(tmp_path: Path) -> None:
    from azure_functions_durable_graph.local.store.sqlite_emits import SELECT_STREAM
    from azure_functions_durable_graph.local.store.sqlite_runs import SEQ_LIMIT

    with SqliteRunStore(tmp_path / "runs.db") as store:
        plan = " ".join(str(row[-1]) for row in store._connection().execute(
            "EXPLAIN QUERY PLAN " + SELECT_STREAM, (SEQ_LIMIT, 0, SEQ_LIMIT, 10)))
        # Both tables (events and emits) are sought by key range, never scanned.
        assert plan.count("USING INTEGER PRIMARY KEY") == 2, plan
        assert "SCAN run_events" not in plan and "SCAN run_emits" not in plan, plan


def test_a_run_at_its_event_limit_is_refused_and_left_as_stored(tmp_path: Path) -> None:
    from azure_functions_durable_graph.local.store.sqlite_runs import SEQ_LIMIT

    with SqliteRunStore(tmp_path / "runs.db") as store, SqliteRunStore(tmp_path / "runs.db") as other:
        store.create_run(record("r1"))
        store.create_run(record("r2"), [{"n": 1}])
        other._connection().execute(
            "UPDATE runs SET last_seq = ? WHERE instance_id = 'r1'", (SEQ_LIMIT - 1,))
        with pytest.raises(StoreError, match="more progress events than a run can keep"):
            store.commit_transition("r1", step(1, {"n": 1}))
        assert store.get_run("r1").snapshot["step"] == 0
        assert sequences(store, "r2") == [(1, 1)]  # the next run's key range is untouched


def test_a_run_purged_and_started_again_elsewhere_gets_its_events_in_its_own_range(
    tmp_path: Path,
) -> None:
    path = tmp_path / "runs.db"
    with SqliteRunStore(path) as first, SqliteRunStore(path) as second:
        first.create_run(record("r1"))  # run number 1, remembered by first as (running, 0, 1)
        first.create_run(record("later"))  # run number 2
        second.commit_transition("r1", step(1, status="completed"))
        second.purge("r1")
        second.create_run(record("r1"))  # same id, same status and sequence, run number 3
        assert first.commit_transition("r1", step(1, {"n": 1})) == 1
        assert sequences(second, "r1") == [(1, 1)]
        assert sequences(second, "later") == []

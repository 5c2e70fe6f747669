"""The SQLite run store: file settings, schema versions, refusing foreign files, concurrency."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from azure_functions_durable_graph.graph.errors import StoreError
from azure_functions_durable_graph.local.store import RunRecord, SqliteRunStore
from azure_functions_durable_graph.local.store.migrations import (
    LATEST_VERSION,
    MIGRATIONS,
    split_statements,
)
from store_files import digest, write_newer_schema


def record(instance_id: str, *, created_at: float = 1000.0) -> RunRecord:
    return RunRecord(
        instance_id=instance_id, graph_name="orders", graph_version="1", graph_hash="h" * 64,
        status="running", snapshot={"format": 1, "step": 0}, input={}, metadata={},
        created_at=created_at, updated_at=created_at,
    )  # fmt: skip


def test_database_settings(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "folder" / "runs.db"
    with SqliteRunStore(path) as store:
        assert path.is_file()
        conn = store._connection()
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert store.schema_version == LATEST_VERSION


def test_schema_version_is_recorded(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    SqliteRunStore(path).close()
    conn = sqlite3.connect(path)
    try:
        versions = [
            r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY version")
        ]
        assert versions == [v for v, _ in MIGRATIONS]
        assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"runs", "run_events", "task_results", "inbox", "timers", "manifests"} <= tables
    finally:
        conn.close()


def test_migrations_are_numbered_in_order() -> None:
    versions = [v for v, _ in MIGRATIONS]
    assert versions == list(range(1, len(versions) + 1))
    for _version, sql in MIGRATIONS:
        assert all(sqlite3.complete_statement(s) for s in split_statements(sql))


def test_default_path_is_under_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with SqliteRunStore() as store:
        store.create_run(record("r1"))
    assert (tmp_path / ".durable-graph" / "runs.db").is_file()


def test_an_in_memory_database_works() -> None:
    with SqliteRunStore(":memory:") as store:
        store.create_run(record("r1"))
        assert store.get_run("r1").instance_id == "r1"


def test_reopening_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    with SqliteRunStore(path) as store:
        store.create_run(record("r1"))
        store.save_snapshot("r1", {"step": 2}, status="waiting", updated_at=5.0, events=[{"e": 1}])
        store.commit_task_result(
            "r1", 1, "1:a", "a", 1, {"ok": True}, started_at=1.0, finished_at=2.0
        )
        store.enqueue_event("r1", "go", {"x": 1}, event_id="e1", created_at=3.0)
        store.upsert_timers("r1", [{"id": "t", "fire_at": 9.0, "kind": "wait_timeout"}])
        store.put_manifest("hash", "orders", "{}")
    with SqliteRunStore(path) as store:
        assert store.get_run("r1").snapshot == {"step": 2}
        assert store.list_events("r1") == [(1, {"e": 1})]
        assert store.get_task_result("r1", "1:a", 1) == {"ok": True}
        assert [e.event_id for e in store.pending_events("r1")] == ["e1"]
        assert store.next_timer_at() == 9.0
        assert store.get_manifest("hash") == "{}"
        assert store.unfinished_runs() == ["r1"]
        assert (
            store.save_snapshot("r1", {"step": 3}, status="waiting", updated_at=6.0, events=[{}])
            == 2
        )


def test_a_newer_schema_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    newer = write_newer_schema(path, 7)
    before = digest(path)
    with pytest.raises(StoreError) as info:
        SqliteRunStore(path)
    message = info.value.message
    assert str(path) in message and str(newer) in message and str(LATEST_VERSION) in message
    assert "\n" not in message
    assert info.value.code == "STORE_ERROR"
    assert digest(path) == before


@pytest.mark.parametrize(
    "content",
    [bytes(range(256)) * 16, b"name,age\nann,3\n", b"SQLite format 2\x00" + b"\x00" * 200],
    ids=["random-bytes", "text", "almost-sqlite"],
)
def test_a_file_that_is_not_sqlite_is_refused_untouched(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "runs.db"
    path.write_bytes(content)
    with pytest.raises(StoreError, match="not a SQLite database") as info:
        SqliteRunStore(path)
    assert str(path) in info.value.message
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.db"]


def test_a_damaged_sqlite_file_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    content = b"SQLite format 3\x00" + b"\xff" * 4080
    path.write_bytes(content)
    with pytest.raises(StoreError) as info:
        SqliteRunStore(path)
    assert str(path) in info.value.message
    assert path.read_bytes() == content


def test_a_database_of_another_application_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO customers (name) VALUES ('ann')")
    conn.commit()
    conn.close()
    before = digest(path)
    with pytest.raises(StoreError, match="not a durable-graph database") as info:
        SqliteRunStore(path)
    assert str(path) in info.value.message
    assert digest(path) == before


def test_an_empty_file_becomes_a_store(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    path.write_bytes(b"")
    with SqliteRunStore(path) as store:
        assert store.schema_version == LATEST_VERSION


def test_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="not a file"):
        SqliteRunStore(tmp_path)


@pytest.mark.parametrize("shared", [True, False], ids=["one-store", "store-per-thread"])
def test_concurrent_writers_lose_nothing(tmp_path: Path, shared: bool) -> None:
    path = tmp_path / "runs.db"
    main = SqliteRunStore(path)
    main.create_run(record("r1"))
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        store = main if shared else SqliteRunStore(path)
        try:
            for i in range(200):
                result = {"ok": True, "update": {"n": n, "i": i}}
                assert store.commit_task_result(
                    "r1", i, f"{n}:{i}", "a", 1, result, started_at=0.0, finished_at=0.0
                )
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)
        finally:
            if not shared:
                store.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    rows = main.history("r1")
    assert len(rows) == 800
    assert {r.task_id for r in rows} == {f"{n}:{i}" for n in range(4) for i in range(200)}
    main.close()


def test_concurrent_openers_of_a_new_file_migrate_it_once(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def opener() -> None:
        try:
            barrier.wait()
            SqliteRunStore(path).close()
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    conn = sqlite3.connect(path)
    recorded = [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY version")]
    assert recorded == [v for v, _ in MIGRATIONS]  # each migration applied exactly once
    conn.close()


def test_a_second_store_on_the_file_sees_committed_data(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    with SqliteRunStore(path) as writer, SqliteRunStore(path) as reader:
        writer.create_run(record("r1"))
        assert reader.get_run("r1").status == "running"
        writer.save_snapshot("r1", {"step": 1}, status="waiting", updated_at=2.0, events=[{"e": 1}])
        assert reader.get_run("r1").status == "waiting"
        assert reader.list_events("r1") == [(1, {"e": 1})]
        reader.enqueue_event("r1", "go", None, event_id="e1", created_at=3.0)
        assert [e.event_id for e in writer.pending_events("r1")] == ["e1"]
        # sequence numbers stay consistent across writers
        assert (
            reader.save_snapshot("r1", {"step": 2}, status="running", updated_at=4.0, events=[{}])
            == 2
        )
        assert (
            writer.save_snapshot("r1", {"step": 3}, status="running", updated_at=5.0, events=[{}])
            == 3
        )


def test_a_rejected_write_changes_nothing(tmp_path: Path) -> None:
    with SqliteRunStore(tmp_path / "runs.db") as store:
        store.create_run(record("r1"))
        with pytest.raises(StoreError):
            store.save_snapshot(
                "r1",
                {"step": 1},
                status="running",
                updated_at=1.0,
                events=[{"ok": 1}, {"bad": object()}],
            )
        assert store.list_events("r1") == []
        assert store.get_run("r1").snapshot == {"format": 1, "step": 0}
        store.create_run(record("r2"))  # the connection is usable afterwards


def test_a_version_1_database_is_migrated_with_its_history_order_kept(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in split_statements(MIGRATIONS[0][1]):
        conn.execute(statement)
    conn.execute("INSERT INTO schema_version (version) VALUES (1)")
    conn.execute("PRAGMA user_version = 1")
    conn.execute(
        "INSERT INTO runs (instance_id, graph_name, graph_version, graph_hash, status, snapshot, "
        "input, metadata, created_at, updated_at) VALUES ('r1', 'g', '1', 'h', 'running', "
        "'{\"step\": 2}', '{}', '{}', 1.0, 1.0)"
    )
    # Step 2's tasks committed in the order b, a (not their key order), then step 1 late.
    for task_id, step in (("2:1:b", 2), ("2:0:a", 2), ("1:0:x", 1)):
        conn.execute(
            "INSERT INTO task_results (instance_id, task_id, attempt, step, node, ok, result, "
            "started_at, finished_at) VALUES ('r1', ?, 1, ?, ?, 1, "
            "'{\"ok\": true, \"update\": {}}', 1.0, 2.0)",
            (task_id, step, task_id[-1]),
        )
    conn.close()
    with SqliteRunStore(path) as store:
        assert store.schema_version == LATEST_VERSION
        assert [row.task_id for row in store.history("r1")] == ["1:0:x", "2:1:b", "2:0:a"]
        assert store.get_task_result("r1", "2:0:a", 1) == {"ok": True, "update": {}}
        # A result committed after the migration comes after the migrated ones of its step.
        store.commit_task_result("r1", 2, "2:2:c", "c", 1, {"ok": True, "update": {}},
                                 started_at=3.0, finished_at=4.0)
        assert [row.task_id for row in store.history("r1")][-1] == "2:2:c"


def test_a_row_the_schema_refuses_is_a_store_error_not_a_conflict(tmp_path: Path) -> None:
    with SqliteRunStore(tmp_path / "runs.db") as store:
        bad = record("r1")
        bad.graph_version = None  # type: ignore[assignment]  # NOT NULL in the schema
        with pytest.raises(StoreError, match="NOT NULL"):
            store.create_run(bad, [{"type": "run_started"}])
        assert store.find_run("r1") is None and store.list_events("r1") == []
        store.create_run(record("r1"))  # nothing of the refused write was kept

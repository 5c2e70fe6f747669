"""Group commit in the SQLite store: a lone step commits at once, steps that arrive while a commit
is in flight share the next transaction, and a write that fails fails only its own writer.

A commit is held in flight by a write handed to the queue that waits on a threading event inside
the transaction, so the batching is deterministic (no timing).
"""

from __future__ import annotations

import concurrent.futures
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from azure_functions_durable_graph.graph.errors import (
    RunConflictError,
    RunNotFoundError,
    StoreError,
)
from azure_functions_durable_graph.local.store import RunRecord, SqliteRunStore
from azure_functions_durable_graph.local.store.base import ResultRow, Transition


def record(instance_id: str) -> RunRecord:
    return RunRecord(
        instance_id=instance_id, graph_name="orders", graph_version="1", graph_hash="h" * 64,
        status="running", snapshot={"format": 1, "step": 0}, input={}, metadata={},
        created_at=1.0, updated_at=1.0,
    )  # fmt: skip


def step(number: int, *events: dict[str, Any], status: str = "running", update: Any = None) -> Transition:
    result = {"ok": True, "update": {"n": number} if update is None else update}
    return Transition(
        snapshot={"format": 1, "step": number}, status=status, updated_at=float(number),
        events=list(events), results=[ResultRow(step=number, task_id=f"{number}:0:n", node="n", attempt=1,
                                                result=result, started_at=1.0, finished_at=2.0)],
    )  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteRunStore]:
    with SqliteRunStore(tmp_path / "runs.db") as opened:
        yield opened


class InFlight:
    """A commit held open on a thread of its own until :meth:`release`."""

    def __init__(self, store: SqliteRunStore) -> None:
        self.entered = threading.Event()
        self.go = threading.Event()

        def hold(conn: sqlite3.Connection) -> str:
            self.entered.set()
            assert self.go.wait(10)
            return "held"

        self.thread_future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self.thread = threading.Thread(target=lambda: self.thread_future.set_result(store.commits.submit(hold)))
        self.thread.start()
        assert self.entered.wait(10)

    def release(self) -> None:
        self.go.set()
        self.thread.join(10)
        assert self.thread_future.result().result() == "held"


def test_a_lone_step_commits_at_once_in_its_own_transaction(store: SqliteRunStore) -> None:
    store.create_run(record("r1"))
    before = store.commits.transactions
    committed = store.submit_transition("r1", step(1, {"n": 1}))
    assert committed.done() and committed.result() == 1  # on return: nobody was waited for
    assert store.commits.transactions == before + 1
    assert store.commit_transition("r1", step(2, {"n": 2})) == 2
    assert store.get_task_result("r1", "2:0:n", 1) == {"ok": True, "update": {"n": 2}}


def test_steps_arriving_during_a_commit_share_the_next_transaction(store: SqliteRunStore) -> None:
    ids = [f"r{i}" for i in range(5)]
    for instance_id in ids:
        store.create_run(record(instance_id), [{"n": 0}])
    held = InFlight(store)
    before = store.commits.transactions
    waiting = [store.submit_transition(i, step(1, {"n": 1}, {"n": 2})) for i in ids]
    assert not any(f.done() for f in waiting)  # queued behind the commit in flight
    held.release()
    assert [f.result(10) for f in waiting] == [3] * len(ids)
    assert store.commits.transactions == before + 2  # the held one, then all five together
    for instance_id in ids:
        assert [seq for seq, _ in store.list_events(instance_id)] == [1, 2, 3]
        assert store.get_run(instance_id).snapshot["step"] == 1
    # What the batch wrote is remembered: the next steps number on from it.
    assert store.commit_transition("r0", step(2, {"n": 3})) == 4


def test_a_failing_write_fails_only_its_writer(store: SqliteRunStore) -> None:
    for instance_id in ("good1", "good2", "done"):
        store.create_run(record(instance_id))
    store.commit_transition("done", step(1, status="completed"))
    held = InFlight(store)
    good1 = store.submit_transition("good1", step(1, {"n": 1}))
    unknown = store.submit_transition("nobody", Transition({"format": 1, "step": 1}, "running", 1.0))
    finished = store.submit_transition("done", step(2, {"n": 1}))
    not_json = store.submit_transition("good2", step(1, {"n": 1}, update={"x": object()}))
    broken_sql = store.commits.submit(lambda conn: conn.execute("INSERT INTO no_such_table VALUES (1)"))
    good2 = store.submit_transition("good1", step(2, {"n": 2}))  # after the failures, same batch
    held.release()
    assert good1.result(10) == 1 and good2.result(10) == 2
    with pytest.raises(RunNotFoundError):
        unknown.result(10)
    with pytest.raises(RunConflictError):
        finished.result(10)
    with pytest.raises(StoreError, match="run 'good2' task '1:0:n' result"):
        not_json.result(10)
    with pytest.raises(StoreError, match="no such table") as caught:
        broken_sql.result(10)
    assert isinstance(caught.value.__cause__, sqlite3.OperationalError)  # transient errors stay retried
    # The failed writes left nothing behind; the others are stored.
    assert store.get_task_result("good2", "1:0:n", 1) is None
    assert store.get_run("good2").snapshot["step"] == 0 and store.list_events("good2") == []
    assert store.get_run("done").snapshot["step"] == 1
    assert [seq for seq, _ in store.list_events("good1")] == [1, 2]
    # good2 was rolled back to its savepoint: its next step numbers from what is stored.
    assert store.commit_transition("good2", step(1, {"n": 1})) == 1


def test_a_writer_that_stopped_waiting_is_left_out(store: SqliteRunStore) -> None:
    store.create_run(record("r1"))
    store.create_run(record("r2"))
    held = InFlight(store)
    gone = store.submit_transition("r1", step(1, {"n": 1}))
    kept = store.submit_transition("r2", step(1, {"n": 1}))
    assert gone.cancel()  # its drive was cancelled while it waited
    held.release()
    assert kept.result(10) == 1
    assert store.get_run("r1").snapshot["step"] == 0 and store.list_events("r1") == []


def test_closing_commits_what_is_queued_then_refuses(tmp_path: Path) -> None:
    store = SqliteRunStore(tmp_path / "runs.db")
    store.create_run(record("r1"))
    held = InFlight(store)
    queued = store.submit_transition("r1", step(1, {"n": 1}))
    closer = threading.Thread(target=store.close)
    held.release()
    closer.start()
    closer.join(10)
    assert queued.result(10) == 1
    with pytest.raises(StoreError, match="is closed"):
        store.commit_transition("r1", step(2))
    with SqliteRunStore(tmp_path / "runs.db") as again:
        assert again.get_run("r1").snapshot["step"] == 1


def test_threads_committing_at_once_number_every_run_in_order(store: SqliteRunStore) -> None:
    runs, steps = 8, 40
    for index in range(runs):
        store.create_run(record(f"r{index}"))

    def drive(index: int) -> list[int]:
        return [store.commit_transition(f"r{index}", step(n, {"n": n})) for n in range(1, steps + 1)]

    with concurrent.futures.ThreadPoolExecutor(runs) as pool:
        answers = list(pool.map(drive, range(runs)))
    assert answers == [list(range(1, steps + 1))] * runs
    assert store.commits.writes >= runs * steps
    for index in range(runs):
        assert [e["n"] for _, e in store.list_events(f"r{index}")] == list(range(1, steps + 1))
        assert len(store.history(f"r{index}")) == steps

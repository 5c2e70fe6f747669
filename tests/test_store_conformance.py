"""The run store contract: every behaviour checked against the memory and the SQLite store."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from azure_functions_durable_graph.graph.errors import (
    InvalidInputError,
    RunConflictError,
    RunNotFoundError,
    StoreError,
)
from azure_functions_durable_graph.local.store import (
    MemoryRunStore,
    RunRecord,
    RunStore,
    SqliteRunStore,
    StepRow,
)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunStore]:
    opened: RunStore = (
        MemoryRunStore() if request.param == "memory" else SqliteRunStore(tmp_path / "runs.db")
    )
    with opened:
        yield opened


def record(
    instance_id: str,
    *,
    graph: str = "orders",
    status: str = "running",
    created_at: float = 1000.0,
    **extra: Any,
) -> RunRecord:
    fields: dict[str, Any] = {
        "instance_id": instance_id,
        "graph_name": graph,
        "graph_version": "1",
        "graph_hash": "h" * 64,
        "status": status,
        "snapshot": {"format": 1, "run_id": instance_id, "step": 0, "state": {"n": 0}},
        "input": {"n": 0},
        "metadata": {},
        "created_at": created_at,
        "updated_at": created_at,
    }
    fields.update(extra)
    return RunRecord(**fields)


def finish(
    store: RunStore, instance_id: str, *, status: str = "completed", at: float = 2000.0
) -> None:
    snapshot = store.get_run(instance_id).snapshot
    store.save_snapshot(instance_id, snapshot, status=status, updated_at=at)


# -- runs -----------------------------------------------------------------------------------------


def test_create_then_get_round_trips_every_field(store: RunStore) -> None:
    run = record(
        "r1",
        snapshot={
            "format": 1,
            "run_id": "r1",
            "step": 3,
            "state": {"text": "héllo ✓", "xs": [1, 2.5, None]},
        },
        input={"text": "héllo"},
        metadata={"tenant": "t1", "tags": ["a"]},
        error={"code": "X", "message": "boom"},
        output={"answer": 42},
        parent_id="p1",
        updated_at=1001.5,
    )
    created = store.create_run(run)
    assert created == run
    assert store.get_run("r1") == run
    assert store.find_run("r1") == run
    assert store.find_run("nope") is None


def test_create_existing_id_conflicts_and_keeps_the_first(store: RunStore) -> None:
    store.create_run(record("r1", input={"n": 1}))
    with pytest.raises(RunConflictError) as info:
        store.create_run(record("r1", input={"n": 2}))
    assert info.value.code == "RUN_CONFLICT"
    assert "r1" in info.value.message
    assert store.get_run("r1").input == {"n": 1}


def test_get_unknown_run_names_it(store: RunStore) -> None:
    with pytest.raises(RunNotFoundError) as info:
        store.get_run("missing-run")
    assert "missing-run" in str(info.value)
    assert info.value.code == "RUN_NOT_FOUND"


def test_returned_records_are_copies(store: RunStore) -> None:
    run = record("r1")
    store.create_run(run)
    run.snapshot["state"]["n"] = 99
    got = store.get_run("r1")
    got.snapshot["state"]["n"] = 7
    got.metadata["x"] = 1
    again = store.get_run("r1")
    assert again.snapshot["state"]["n"] == 0
    assert again.metadata == {}


def test_values_that_are_not_json_are_rejected(store: RunStore) -> None:
    with pytest.raises(StoreError, match="r1"):
        store.create_run(record("r1", input={"x": object()}))
    assert store.find_run("r1") is None
    store.create_run(record("r2"))
    with pytest.raises(StoreError):
        store.save_snapshot("r2", {"step": 1, "bad": object()}, status="running", updated_at=1.0)
    assert store.get_run("r2").snapshot["step"] == 0


def test_python_values_are_stored_as_pydantic_json_mode_writes_them(store: RunStore) -> None:
    # The store serializes with pydantic-core, the serializer of the state models themselves.
    store.create_run(record("r1"))
    store.save_snapshot(
        "r1", {"step": 1, "tags": {"a"}, "pair": (1, 2), "ratio": float("inf")},
        status="running", updated_at=1.0,
    )
    snapshot = store.get_run("r1").snapshot
    assert (snapshot["tags"], snapshot["pair"], snapshot["ratio"]) == (["a"], [1, 2], float("inf"))


# -- snapshots and progress events -----------------------------------------------------------


def test_save_snapshot_updates_the_row_and_numbers_events(store: RunStore) -> None:
    store.create_run(record("r1"))
    events: list[dict[str, Any]] = [
        {"type": "run_started"},
        {"type": "step_started", "step": 1},
        {"type": "x"},
    ]
    last = store.save_snapshot(
        "r1", {"step": 1, "v": "a"}, status="running", updated_at=1010.0, events=events
    )
    assert last == 3
    assert (
        store.save_snapshot("r1", {"step": 1, "v": "b"}, status="waiting", updated_at=1020.0) == 3
    )
    last = store.save_snapshot(
        "r1", {"step": 2, "v": "c"}, status="completed", updated_at=1030.0,
        output={"ok": 1}, events=[{"type": "a"}, {"type": "run_completed"}],
    )  # fmt: skip
    assert last == 5
    run = store.get_run("r1")
    assert (run.status, run.snapshot, run.output, run.error, run.updated_at) == (
        "completed", {"step": 2, "v": "c"}, {"ok": 1}, None, 1030.0,
    )  # fmt: skip
    assert run.created_at == 1000.0
    listed = store.list_events("r1")
    assert [seq for seq, _ in listed] == [1, 2, 3, 4, 5]
    assert listed[1] == (2, {"type": "step_started", "step": 1})
    assert [seq for seq, _ in store.list_events("r1", after_seq=3)] == [4, 5]
    assert [seq for seq, _ in store.list_events("r1", after_seq=1, limit=2)] == [2, 3]
    assert store.list_events("r1", after_seq=5) == []


def test_save_snapshot_sets_and_clears_error(store: RunStore) -> None:
    store.create_run(record("r1"))
    store.save_snapshot("r1", {"step": 1}, status="running", updated_at=2.0, error={"code": "E"})
    assert store.get_run("r1").error == {"code": "E"}
    store.save_snapshot("r1", {"step": 1}, status="running", updated_at=3.0)
    assert store.get_run("r1").error is None
    store.save_snapshot("r1", {"step": 2}, status="failed", updated_at=4.0, error={"code": "F"})
    with pytest.raises(RunConflictError):
        store.save_snapshot("r1", {"step": 3}, status="running", updated_at=5.0)
    assert store.get_run("r1").error == {"code": "F"} and store.get_run("r1").status == "failed"


def test_event_sequences_are_per_run(store: RunStore) -> None:
    store.create_run(record("a"))
    store.create_run(record("b"))
    assert store.save_snapshot("a", {}, status="running", updated_at=1.0, events=[{"e": 1}]) == 1
    assert (
        store.save_snapshot("b", {}, status="running", updated_at=1.0, events=[{"e": 1}] * 2) == 2
    )
    assert store.save_snapshot("a", {}, status="running", updated_at=1.0, events=[{"e": 2}]) == 2
    assert store.list_events("a") == [(1, {"e": 1}), (2, {"e": 2})]


def test_snapshot_of_unknown_run_is_not_found(store: RunStore) -> None:
    with pytest.raises(RunNotFoundError, match="ghost"):
        store.save_snapshot("ghost", {}, status="running", updated_at=1.0, events=[{"e": 1}])
    assert store.list_events("ghost") == []


# -- task results and history ----------------------------------------------------------------


def test_a_task_result_is_committed_once(store: RunStore) -> None:
    store.create_run(record("r1"))
    first = {"ok": True, "update": {"n": 1}, "route": None}
    assert store.commit_task_result("r1", 1, "1:a", "a", 1, first, started_at=1.0, finished_at=2.0)
    second = {"ok": True, "update": {"n": 2}, "route": None}
    assert not store.commit_task_result(
        "r1", 1, "1:a", "a", 1, second, started_at=3.0, finished_at=4.0
    )
    assert store.get_task_result("r1", "1:a", 1) == first
    assert len(store.history("r1")) == 1
    assert store.history("r1")[0].finished_at == 2.0


def test_attempts_are_committed_separately(store: RunStore) -> None:
    store.create_run(record("r1"))
    failed = {"ok": False, "error": {"type": "ValueError", "message": "no"}}
    assert store.commit_task_result("r1", 1, "1:a", "a", 1, failed, started_at=1.0, finished_at=2.0)
    ok = {"ok": True, "update": {}, "route": "b"}
    assert store.commit_task_result("r1", 1, "1:a", "a", 2, ok, started_at=3.0, finished_at=4.0)
    assert store.get_task_result("r1", "1:a", 1) == failed
    assert store.get_task_result("r1", "1:a", 2) == ok
    assert store.get_task_result("r1", "1:a", 3) is None
    assert store.get_task_result("other", "1:a", 1) is None


def test_commit_for_unknown_run_is_not_found(store: RunStore) -> None:
    with pytest.raises(RunNotFoundError):
        store.commit_task_result(
            "ghost", 1, "1:a", "a", 1, {"ok": True}, started_at=1.0, finished_at=1.0
        )


def test_history_is_ordered_by_step_then_commit(store: RunStore) -> None:
    store.create_run(record("r1"))
    rows = [
        (2, "2:c", "c", {"ok": True, "update": {"c": 1}, "route": ["d"]}),
        (1, "1:b", "b", {"ok": False, "error": {"code": "E", "message": "bad"}}),
        (1, "1:a", "a", {"ok": True, "update": {"a": 1}, "route": None}),
        (3, "3:d", "d", {"ok": True, "update": {}}),
    ]
    for i, (step, task_id, node, result) in enumerate(rows):
        store.commit_task_result(
            "r1", step, task_id, node, 1, result, started_at=i, finished_at=i + 0.5
        )
    history = store.history("r1")
    assert [r.task_id for r in history] == ["1:b", "1:a", "2:c", "3:d"]
    failed = history[0]
    assert isinstance(failed, StepRow)
    assert (failed.ok, failed.update, failed.route, failed.error) == (
        False,
        None,
        None,
        {"code": "E", "message": "bad"},
    )
    assert history[2].to_dict() == {
        "instance_id": "r1", "step": 2, "task_id": "2:c", "node": "c", "attempt": 1, "ok": True,
        "update": {"c": 1}, "route": ["d"], "error": None, "started_at": 0.0, "finished_at": 0.5,
    }  # fmt: skip
    assert [r.task_id for r in store.history("r1", limit=2)] == ["1:b", "1:a"]
    assert [r.task_id for r in store.history("r1", after=1)] == ["2:c", "3:d"]
    assert [r.task_id for r in store.history("r1", after=1, limit=1)] == ["2:c"]
    assert store.history("ghost") == []


# -- event inbox -------------------------------------------------------------------------------


def test_inbox_is_fifo_deduplicated_and_keeps_delivered_events(store: RunStore) -> None:
    store.create_run(record("r1"))
    assert (
        store.enqueue_event("r1", "approve", {"by": "ann"}, event_id="e-z", created_at=1.0) == "e-z"
    )
    generated = store.enqueue_event("r1", "approve", {"by": "bob"}, event_id=None, created_at=2.0)
    assert len(generated) == 32 and int(generated, 16) >= 0
    assert store.enqueue_event("r1", "note", [1, 2], event_id="e-a", created_at=3.0) == "e-a"
    assert (
        store.enqueue_event("r1", "approve", {"by": "eve"}, event_id="e-z", created_at=4.0) == "e-z"
    )
    pending = store.pending_events("r1")
    assert [(e.event_id, e.name, e.payload) for e in pending] == [
        ("e-z", "approve", {"by": "ann"}), (generated, "approve", {"by": "bob"}), ("e-a", "note", [1, 2]),
    ]  # fmt: skip
    assert pending[0].created_at == 1.0 and pending[0].delivered_at is None
    store.save_snapshot("r1", {}, status="running", updated_at=50.0)
    store.mark_events_delivered("r1", ["e-z", "unknown"])
    store.mark_events_delivered("r1", [generated], delivered_at=60.0)
    assert [e.event_id for e in store.pending_events("r1")] == ["e-a"]
    # a delivered id stays known: sending it again does not deliver it twice
    assert (
        store.enqueue_event("r1", "approve", {"by": "x"}, event_id="e-z", created_at=5.0) == "e-z"
    )
    assert [e.event_id for e in store.pending_events("r1")] == ["e-a"]
    # the same id on another run is another event
    store.create_run(record("r2"))
    store.enqueue_event("r2", "approve", None, event_id="e-z", created_at=6.0)
    assert [e.event_id for e in store.pending_events("r2")] == ["e-z"]
    assert store.pending_events("ghost") == []


def test_inbox_of_unknown_run_is_not_found(store: RunStore) -> None:
    with pytest.raises(RunNotFoundError):
        store.enqueue_event("ghost", "approve", None, event_id=None, created_at=1.0)
    with pytest.raises(RunNotFoundError):
        store.mark_events_delivered("ghost", ["x"])


# -- timers ----------------------------------------------------------------------------------


def test_timers_upsert_due_and_next(store: RunStore) -> None:
    assert store.next_timer_at() is None
    store.create_run(record("a"))
    store.create_run(record("b", status="waiting"))
    store.upsert_timers("a", [
        {"id": "retry:1:a:2", "fire_at": 30.0, "kind": "retry", "task": "1:a"},
        {"id": "timeout:1", "fire_at": 10.0, "kind": "wait_timeout"},
    ])  # fmt: skip
    store.upsert_timers("b", [{"id": "timeout:1", "fire_at": 20.0, "kind": "wait_timeout"}])
    assert store.next_timer_at() == 10.0
    assert store.due_timers(5.0) == []
    assert store.due_timers(20.0) == [("a", "timeout:1", 10.0), ("b", "timeout:1", 20.0)]
    assert store.due_timers(100.0, limit=1) == [("a", "timeout:1", 10.0)]
    store.upsert_timers("a", [{"id": "retry:1:a:2", "fire_at": 30.0, "kind": "retry"}])
    assert store.due_timers(100.0) == [("b", "timeout:1", 20.0), ("a", "retry:1:a:2", 30.0)]
    store.upsert_timers("b", [])
    assert store.next_timer_at() == 30.0
    finish(store, "a")  # timers of finished runs never fire
    assert store.due_timers(100.0) == []
    assert store.next_timer_at() is None
    with pytest.raises(RunNotFoundError):
        store.upsert_timers("ghost", [])


# -- queries ---------------------------------------------------------------------------------


def seed_runs(store: RunStore) -> None:
    specs = [
        ("r01", "orders", "completed", 100.0), ("r02", "orders", "running", 200.0),
        ("r03", "billing", "waiting", 300.0), ("r04", "orders", "failed", 300.0),
        ("r05", "billing", "completed", 400.0), ("r06", "orders", "cancelled", 500.0),
        ("r07", "orders", "running", 500.0), ("r08", "billing", "running", 500.0),
        ("r09", "orders", "completed", 600.0),
    ]  # fmt: skip
    for instance_id, graph, status, created_at in specs:
        store.create_run(record(instance_id, graph=graph, status=status, created_at=created_at))


def ids(records: list[RunRecord]) -> list[str]:
    return [r.instance_id for r in records]


def test_list_runs_newest_first_with_filters(store: RunStore) -> None:
    seed_runs(store)
    everything, cursor = store.list_runs()
    assert ids(everything) == ["r09", "r08", "r07", "r06", "r05", "r04", "r03", "r02", "r01"]
    assert cursor is None
    assert ids(store.list_runs(graph_name="billing")[0]) == ["r08", "r05", "r03"]
    assert ids(store.list_runs(status="running")[0]) == ["r08", "r07", "r02"]
    assert ids(store.list_runs(status=["waiting", "failed"])[0]) == ["r04", "r03"]
    assert ids(store.list_runs(status=[])[0]) == []
    assert ids(store.list_runs(graph_name="orders", status="running")[0]) == ["r07", "r02"]
    assert ids(store.list_runs(created_after=300.0, created_before=500.0)[0]) == [
        "r05",
        "r04",
        "r03",
    ]
    assert ids(store.list_runs(graph_name="nope")[0]) == []


def test_list_runs_cursor_pages_without_gaps_or_repeats(store: RunStore) -> None:
    seed_runs(store)
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        page, cursor = store.list_runs(limit=3, cursor=cursor)
        pages.append(ids(page))
        if cursor is None:
            break
    assert len(pages) == 3
    assert [len(p) for p in pages] == [3, 3, 3]
    flat = [i for p in pages for i in p]
    assert flat == ids(store.list_runs(limit=100)[0])
    assert len(set(flat)) == 9
    # filters apply across pages too
    first, cursor = store.list_runs(graph_name="orders", limit=4)
    assert cursor is not None
    rest, end = store.list_runs(graph_name="orders", limit=4, cursor=cursor)
    assert ids(first) + ids(rest) == ["r09", "r07", "r06", "r04", "r02", "r01"]
    assert end is None


def test_list_runs_rejects_a_bad_cursor_or_limit(store: RunStore) -> None:
    with pytest.raises(InvalidInputError):
        store.list_runs(cursor="!!not-a-cursor!!")
    with pytest.raises(InvalidInputError):
        store.list_runs(cursor="WzFd")  # valid base64 of a wrong shape
    with pytest.raises(InvalidInputError):
        store.list_runs(limit=0)


def test_unfinished_runs_are_running_or_waiting_oldest_first(store: RunStore) -> None:
    seed_runs(store)
    assert store.unfinished_runs() == ["r02", "r03", "r07", "r08"]


# -- retention -------------------------------------------------------------------------------


def test_purge_deletes_a_finished_run_and_everything_it_owns(store: RunStore) -> None:
    store.create_run(record("r1"))
    store.create_run(record("keep"))
    for run_id in ("r1", "keep"):
        store.save_snapshot(
            run_id, {"step": 1}, status="running", updated_at=1.0, events=[{"e": 1}]
        )
        store.commit_task_result(
            run_id, 1, "1:a", "a", 1, {"ok": True}, started_at=1.0, finished_at=1.0
        )
        store.enqueue_event(run_id, "go", None, event_id="e1", created_at=1.0)
        store.upsert_timers(run_id, [{"id": "t", "fire_at": 5.0, "kind": "retry"}])
    with pytest.raises(RunConflictError, match="running"):
        store.purge("r1")
    store.save_snapshot("r1", {"step": 1}, status="waiting", updated_at=2.0)
    with pytest.raises(RunConflictError, match="waiting"):
        store.purge("r1")
    finish(store, "r1", status="failed")
    store.purge("r1")
    assert store.find_run("r1") is None
    assert store.list_events("r1") == []
    assert store.get_task_result("r1", "1:a", 1) is None
    assert store.pending_events("r1") == []
    assert store.history("r1") == []
    assert [t[0] for t in store.due_timers(10.0)] == ["keep"]
    assert len(store.list_events("keep")) == 1 and len(store.history("keep")) == 1
    with pytest.raises(RunNotFoundError):
        store.purge("r1")
    # the id can be used again
    store.create_run(record("r1"))
    assert store.save_snapshot("r1", {}, status="running", updated_at=3.0, events=[{"e": 1}]) == 1


def run_with_steps(store: RunStore, run_id: str, steps: int, *, status: str = "completed") -> None:
    """A run with one task result and one progress event per step; step n recorded at time n."""
    store.create_run(record(run_id))
    for step in range(1, steps + 1):
        store.commit_task_result(
            run_id,
            step,
            f"{step}:a",
            "a",
            1,
            {"ok": True},
            started_at=step,
            finished_at=float(step),
        )
        store.save_snapshot(
            run_id,
            {"step": step},
            status="running",
            updated_at=float(step),
            events=[{"step": step}],
        )
    store.save_snapshot(run_id, {"step": steps}, status=status, updated_at=float(steps))


def test_prune_keeps_the_newest_steps_of_finished_runs(store: RunStore) -> None:
    run_with_steps(store, "done", 5)
    run_with_steps(store, "short", 2, status="failed")
    run_with_steps(store, "live", 5, status="running")
    assert store.prune_history(keep_last=2) == 6  # 3 results + 3 events of 'done'
    assert [r.step for r in store.history("done")] == [4, 5]
    assert [e["step"] for _, e in store.list_events("done")] == [4, 5]
    assert [seq for seq, _ in store.list_events("done")] == [4, 5]
    assert len(store.history("short")) == 2
    assert len(store.history("live")) == 5 and len(store.list_events("live")) == 5
    assert store.prune_history(keep_last=2) == 0
    # a finished run is final: writing to it is refused and changes nothing
    with pytest.raises(RunConflictError, match="already completed"):
        store.save_snapshot("done", {"step": 5}, status="completed", updated_at=9.0, events=[{"x": 1}])
    assert [seq for seq, _ in store.list_events("done")] == [4, 5]
    assert store.prune_history(keep_last=0) == 8  # done: 2 results + 2 events; short: 2 + 2
    assert store.history("done") == [] and store.list_events("done") == []


def test_prune_by_age(store: RunStore) -> None:
    run_with_steps(store, "done", 5)
    run_with_steps(store, "live", 5, status="waiting")
    assert store.prune_history(older_than=3.0) == 4  # steps 1 and 2 of 'done'
    assert [r.step for r in store.history("done")] == [3, 4, 5]
    assert [e["step"] for _, e in store.list_events("done")] == [3, 4, 5]
    assert len(store.history("live")) == 5
    # both bounds: only rows that are old and outside the newest N steps go
    assert store.prune_history(older_than=100.0, keep_last=1) == 4
    assert [r.step for r in store.history("done")] == [5]
    # neither bound: everything of finished runs recorded before now
    assert store.prune_history() == 2
    assert store.history("done") == [] and len(store.history("live")) == 5


def test_prune_rejects_a_negative_count(store: RunStore) -> None:
    with pytest.raises(InvalidInputError):
        store.prune_history(keep_last=-1)


# -- manifests and lifecycle ------------------------------------------------------------------


def test_manifests_are_stored_once_by_hash(store: RunStore) -> None:
    assert store.get_manifest("abc") is None
    store.put_manifest("abc", "orders", '{"graph_name":"orders"}')
    store.put_manifest("abc", "orders", '{"graph_name":"orders","again":true}')
    assert store.get_manifest("abc") == '{"graph_name":"orders"}'
    store.put_manifest("def", "billing", "{}")
    assert store.get_manifest("def") == "{}"


def test_a_closed_store_refuses_work(store: RunStore) -> None:
    store.close()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.find_run("r1")
    with pytest.raises(StoreError, match="closed"):
        store.create_run(record("r1"))


def test_concurrent_threads_commit_every_result(store: RunStore) -> None:
    store.create_run(record("r1"))
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(50):
                result = {"ok": True, "update": {"i": i}}
                store.commit_task_result(
                    "r1", i, f"{n}:{i}", "a", 1, result, started_at=0.0, finished_at=0.0
                )
                store.save_snapshot(
                    "r1", {"step": i}, status="running", updated_at=1.0, events=[{"n": n}]
                )
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(store.history("r1")) == 200
    assert [seq for seq, _ in store.list_events("r1")] == list(range(1, 201))


def test_a_run_is_created_with_its_first_events_numbered_from_one(store: RunStore) -> None:
    events = [{"type": "run_started"}, {"type": "step_started", "step": 1}]
    created = store.create_run(record("r1"), events)
    assert created == store.get_run("r1")
    assert store.list_events("r1") == [(1, events[0]), (2, events[1])]
    # The next write numbers on from there.
    assert store.save_snapshot("r1", {"step": 1}, status="running", updated_at=2.0,
                               events=[{"type": "x"}]) == 3
    # A second create with the same id changes nothing, events included.
    with pytest.raises(RunConflictError):
        store.create_run(record("r1", graph="other"), [{"type": "run_started"}])
    assert [seq for seq, _ in store.list_events("r1")] == [1, 2, 3]
    assert store.get_run("r1").graph_name == "orders"

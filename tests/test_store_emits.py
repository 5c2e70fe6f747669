"""Emits in the run store contract (``append_emits``), on the memory and the SQLite store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from azure_functions_durable_graph.local.store import RunStore, SqliteRunStore
from test_store_conformance import finish, record
from test_store_conformance import store as store  # noqa: F401 - the parametrized fixture


def emit(n: int, step: int = 1) -> tuple[int, str]:
    return step, json.dumps({"type": "emit", "node": "draft", "step": step, "data": n})


def stream(store: RunStore, run: str, after: int = 0) -> list[tuple[int, str, object]]:
    return [(seq, e["type"], e.get("data", e.get("dropped", e.get("n"))))
            for seq, e in store.list_events(run, after)]


def test_emits_share_the_sequence_of_step_events_and_interleave_in_order(store: RunStore) -> None:
    store.create_run(record("r1"), [{"type": "run_started"}])
    assert store.append_emits("r1", [emit(1), emit(2)], at=1.0, keep=100) == 3
    snapshot = store.get_run("r1").snapshot
    assert store.save_snapshot("r1", snapshot, status="running", updated_at=2.0,
                               events=[{"type": "task_completed", "n": 1}]) == 4
    assert store.append_emits("r1", [emit(3)], at=3.0, keep=100) == 5
    assert stream(store, "r1") == [(1, "run_started", None), (2, "emit", 1), (3, "emit", 2),
                                   (4, "task_completed", 1), (5, "emit", 3)]
    assert stream(store, "r1", after=3) == [(4, "task_completed", 1), (5, "emit", 3)]
    assert store.list_events("r1", 0, limit=2) == store.list_events("r1")[:2]


def test_past_the_limit_the_oldest_emits_go_and_one_marker_stands_where_they_were(
    store: RunStore,
) -> None:
    store.create_run(record("r1"), [{"type": "run_started"}])
    store.append_emits("r1", [emit(i) for i in range(1, 5)], at=1.0, keep=3)  # seqs 2..5
    assert stream(store, "r1") == [(1, "run_started", None), (2, "emits_dropped", 1),
                                   (3, "emit", 2), (4, "emit", 3), (5, "emit", 4)]
    snapshot = store.get_run("r1").snapshot
    store.save_snapshot("r1", snapshot, status="running", updated_at=2.0,
                        events=[{"type": "task_completed", "n": 1}])  # seq 6
    store.append_emits("r1", [emit(5), emit(6)], at=3.0, keep=3)  # seqs 7, 8
    # Two more went (2, 3); the marker moved to the newest dropped slot and counts all three.
    assert stream(store, "r1") == [(1, "run_started", None), (4, "emits_dropped", 3),
                                   (5, "emit", 4), (6, "task_completed", 1), (7, "emit", 5),
                                   (8, "emit", 6)]
    # A reader resuming inside the dropped range sees the marker first, then what is kept.
    assert stream(store, "r1", after=2)[0] == (4, "emits_dropped", 3)


def test_emits_of_an_unknown_or_finished_run_are_dropped(store: RunStore) -> None:
    assert store.append_emits("nope", [emit(1)], at=1.0, keep=10) is None
    store.create_run(record("r1"))
    finish(store, "r1")
    assert store.append_emits("r1", [emit(1)], at=1.0, keep=10) is None
    assert store.list_events("r1") == []


def test_a_step_written_after_emits_still_takes_the_next_sequence(store: RunStore) -> None:
    from azure_functions_durable_graph.local.store.base import Transition

    store.create_run(record("r1"))
    snapshot = store.get_run("r1").snapshot
    assert store.commit_transition("r1", Transition(snapshot, "running", 1.0, events=[{"n": 1}])) == 1
    store.append_emits("r1", [emit(1)], at=1.0, keep=10)
    # The remembered sequence (the fast path of the SQLite store) moved with the emits.
    assert store.commit_transition("r1", Transition(snapshot, "running", 2.0, events=[{"n": 2}])) == 3
    assert [seq for seq, _ in store.list_events("r1")] == [1, 2, 3]


def test_purge_and_prune_take_emits_with_the_history(store: RunStore) -> None:
    store.create_run(record("r1"))
    store.append_emits("r1", [emit(1, step=1), emit(2, step=2)], at=1.0, keep=10)
    finish(store, "r1")
    assert store.prune_history(keep_last=1) == 1  # the step-1 emit
    assert stream(store, "r1") == [(2, "emit", 2)]
    store.purge("r1")
    store.create_run(record("r1"))
    assert store.list_events("r1") == []


def test_emits_survive_reopening_the_file(tmp_path: Path) -> None:
    with SqliteRunStore(tmp_path / "runs.db") as first:
        first.create_run(record("r1"))
        first.append_emits("r1", [emit(1)], at=1.0, keep=10)
    with SqliteRunStore(tmp_path / "runs.db") as again:
        assert stream(again, "r1") == [(1, "emit", 1)]


@pytest.mark.parametrize("keep", [1, 2])
def test_the_limit_holds_over_many_batches(store: RunStore, keep: int) -> None:
    store.create_run(record("r1"))
    for batch in range(5):
        store.append_emits("r1", [emit(batch * 3 + i) for i in range(3)], at=1.0, keep=keep)
    events = stream(store, "r1")
    assert events[0] == (15 - keep, "emits_dropped", 15 - keep)
    assert [e[2] for e in events[1:]] == list(range(15 - keep, 15))

"""Per-run leases, cancel requests and the change feed, on the memory and the SQLite store."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from azure_functions_durable_graph.graph.errors import (
    LeaseLostError,
    RunConflictError,
    RunNotFoundError,
)
from azure_functions_durable_graph.local.store import RunStore, SqliteRunStore
from azure_functions_durable_graph.local.store.base import Lease, Transition
from test_store_conformance import record
from test_store_conformance import store as store  # noqa: F401 - the parametrized fixture


def step(store: RunStore, run: str, owner: str | None, *, status: str = "running") -> int:
    snapshot = {**store.get_run(run).snapshot, "step": 1}
    return store.commit_transition(run, Transition(snapshot=snapshot, status=status, updated_at=2.0,
                                                   events=[{"type": "step"}], owner=owner))


def test_a_lease_is_claimed_once_until_it_expires_then_by_anyone(store: RunStore) -> None:
    store.create_run(record("r1"))
    assert store.lease_of("r1") is None  # never leased: free
    assert store.claim_run("r1", "a", now=100.0, until=110.0)
    assert store.lease_of("r1") == Lease("a", 110.0)
    assert not store.claim_run("r1", "b", now=109.9, until=119.9)  # valid: a holds it
    assert store.claim_run("r1", "a", now=105.0, until=115.0)  # the holder renews by claiming
    assert store.expired_leases(114.0) == []
    assert store.expired_leases(115.0) == ["r1"]
    assert store.claim_run("r1", "b", now=115.0, until=125.0)  # expired: anyone may take it
    assert store.lease_of("r1") == Lease("b", 125.0)
    assert not store.claim_run("nope", "a", now=1.0, until=2.0)


def test_only_the_holder_writes_steps_and_others_get_lease_lost(store: RunStore) -> None:
    store.create_run(record("r1"), lease=Lease("a", 110.0))
    assert store.lease_of("r1") == Lease("a", 110.0)
    assert step(store, "r1", "a") == 1
    with pytest.raises(LeaseLostError) as lost:
        step(store, "r1", "b")
    assert lost.value.code == "LEASE_LOST" and "'r1'" in lost.value.message and "'b'" in lost.value.message
    assert store.list_events("r1") == [(1, {"type": "step"})]  # nothing of b's step was written
    store.claim_run("r1", "b", now=110.0, until=120.0)  # a's lease expired: b took over
    with pytest.raises(LeaseLostError):
        step(store, "r1", "a")  # a's late step after the take-over is refused
    assert step(store, "r1", "b") == 2
    assert step(store, "r1", None) == 3  # an unguarded write (owner None) is not checked


def test_a_step_that_finishes_the_run_ends_its_lease(store: RunStore) -> None:
    store.create_run(record("r1"), lease=Lease("a", 110.0))
    step(store, "r1", "a", status="completed")
    assert store.lease_of("r1") is None
    assert not store.claim_run("r1", "a", now=100.0, until=120.0)  # finished: nothing to drive
    with pytest.raises(RunConflictError):
        step(store, "r1", "b")  # a finished run reports as before, not as a lost lease


def test_a_step_of_an_unleased_run_is_refused_for_a_guarded_writer(store: RunStore) -> None:
    store.create_run(record("r1"))
    with pytest.raises(LeaseLostError):
        step(store, "r1", "a")
    with pytest.raises(RunNotFoundError):
        step(store, "nope", "a")


def test_renew_release_and_expire_touch_only_the_owners_leases(store: RunStore) -> None:
    for run, owner in (("r1", "a"), ("r2", "a"), ("r3", "b")):
        store.create_run(record(run), lease=Lease(owner, 110.0))
    assert sorted(store.renew_leases("a", until=130.0)) == ["r1", "r2"]
    assert store.lease_of("r3") == Lease("b", 110.0)
    store.release_run("r1", "b")  # not b's: nothing happens
    assert store.lease_of("r1") == Lease("a", 130.0)
    store.release_run("r1", "a")
    assert store.lease_of("r1") is None
    assert store.renew_leases("a", until=140.0) == ["r2"]
    store.expire_leases("a", now=120.0)  # a closes: its runs may be claimed at once
    assert store.lease_of("r2") == Lease("a", 120.0)
    assert store.expired_leases(119.0) == ["r3"]  # b's lease (until 110); a's ends at 120
    assert store.expired_leases(120.0) == ["r3", "r2"]
    assert store.claim_run("r2", "b", now=120.0, until=130.0)
    assert store.expired_leases(120.0) == ["r3"]


def test_expired_leases_lists_unfinished_runs_oldest_expiry_first(store: RunStore) -> None:
    store.create_run(record("r1"), lease=Lease("a", 120.0))
    store.create_run(record("r2"), lease=Lease("b", 110.0))
    store.create_run(record("r3"), lease=Lease("a", 115.0))
    step(store, "r3", "a", status="failed")
    assert store.expired_leases(200.0) == ["r2", "r1"]
    assert store.expired_leases(200.0, limit=1) == ["r2"]
    assert store.expired_leases(100.0) == []


def test_events_and_cancel_requests_signal_the_change_feed(store: RunStore) -> None:
    store.create_run(record("r1"))
    store.create_run(record("r2"))
    start = store.last_signal()
    assert store.signals_after(start) == (start, [])
    store.enqueue_event("r1", "go", {}, event_id="e1", created_at=1.0)
    store.enqueue_event("r1", "go", {}, event_id="e1", created_at=1.0)  # repeated id: no signal
    store.enqueue_event("r2", "go", {}, event_id="e2", created_at=1.0)
    store.enqueue_event("r1", "go", {}, event_id="e3", created_at=1.0)
    position, runs = store.signals_after(start)
    assert runs == ["r1", "r2"] and position == store.last_signal() == start + 3
    assert store.signals_after(position) == (position, [])
    assert store.signals_after(start, limit=1) == (start + 1, ["r1"])
    store.request_cancel("r2", "stop")
    store.request_cancel("r2", "later")  # the first reason is kept
    assert store.cancel_request("r2") == {"reason": "stop"}
    assert store.cancel_request("r1") is None
    assert store.signals_after(position)[1] == ["r2"]
    with pytest.raises(RunNotFoundError):
        store.request_cancel("nope", None)


def test_last_seq_follows_every_write_of_the_run(store: RunStore) -> None:
    assert store.last_seq("r1") is None
    store.create_run(record("r1"), [{"type": "run_started"}])
    assert store.last_seq("r1") == 1
    step(store, "r1", None)
    assert store.last_seq("r1") == 2
    store.append_emits("r1", [(1, '{"type": "emit"}')], at=3.0, keep=10)
    assert store.last_seq("r1") == 3


def test_two_sqlite_stores_on_one_file_see_each_others_leases_and_signals(tmp_path: Path) -> None:
    with SqliteRunStore(tmp_path / "runs.db") as a, SqliteRunStore(tmp_path / "runs.db") as b:
        a.create_run(record("r1"), lease=Lease("engine-a", 110.0))
        assert not b.claim_run("r1", "engine-b", now=105.0, until=115.0)
        start = a.last_signal()
        b.enqueue_event("r1", "go", {}, event_id="e1", created_at=1.0)
        assert a.signals_after(start)[1] == ["r1"]
        with pytest.raises(LeaseLostError):
            step(b, "r1", "engine-b")
        assert step(a, "r1", "engine-a") == 1


def test_old_signals_are_dropped_from_the_sqlite_feed(tmp_path: Path) -> None:
    with SqliteRunStore(tmp_path / "runs.db") as store:
        store.create_run(record("r1"))
        store.enqueue_event("r1", "go", {}, event_id="old", created_at=1.0)
        conn = sqlite3.connect(tmp_path / "runs.db", isolation_level=None)
        conn.execute("UPDATE run_signals SET created_at = created_at - 3600")
        conn.close()
        store.enqueue_event("r1", "go", {}, event_id="new", created_at=1.0)
        position = store.last_signal()
        store.expired_leases(0.0)  # an engine's periodic look also drops signals past a minute
        conn = sqlite3.connect(tmp_path / "runs.db", isolation_level=None)
        assert conn.execute("SELECT position FROM run_signals").fetchall() == [(position,)]
        conn.close()

"""The statements of one step's writes in the SQLite store, inside the caller's transaction.

A transition (:class:`.base.Transition`) writes its task results, the run's row and progress
events (:class:`.sqlite_runs.RunRowWriter`), its timers and the delivery of the events it
consumed; a write-behind one logs its results instead of writing the snapshot (:mod:`.sqlite_behind`); :func:`write_transition` runs them on a connection whose transaction is open (one
writer's share of a group commit, see :mod:`.sqlite_commit`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from .base import Transition
from .rows import dump_json, not_found
from .sqlite_behind import clear_deferred_in, log_deferred_in
from .sqlite_leases import guard_lease
from .sqlite_runs import RunRowWriter


def require_run(conn: sqlite3.Connection, instance_id: str) -> sqlite3.Row:
    """The run's status, last sequence and update time (RunNotFoundError when there is none)."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT status, last_seq, updated_at FROM runs WHERE instance_id = ?", (instance_id,)
    ).fetchone()
    if row is None:
        raise not_found(instance_id)
    return row


def commit_result_in(
    conn: sqlite3.Connection, instance_id: str, step: int, task_id: str, node: str,
    attempt: int, result: dict[str, Any], *, started_at: float, finished_at: float,
) -> bool:
    """Insert a task's result once; False (the first one kept) when its key exists."""
    text = dump_json(result, f"run '{instance_id}' task '{task_id}' result")
    # ``position``: how many results of the step were committed before this one. Only a
    # result already committed for the key is skipped (any other broken constraint fails).
    cursor = conn.execute(
        "INSERT INTO task_results (instance_id, step, task_id, attempt, position, "
        "node, ok, result, started_at, finished_at) VALUES (?1, ?2, ?3, ?4, (SELECT COUNT(*) "
        "FROM task_results WHERE instance_id = ?1 AND step = ?2), ?5, ?6, ?7, ?8, ?9) "
        "ON CONFLICT (instance_id, step, task_id, attempt) DO NOTHING",
        (instance_id, step, task_id, attempt, node, int(bool(result.get("ok"))), text,
         started_at, finished_at),
    )  # fmt: skip
    return cursor.rowcount == 1


def mark_delivered_in(
    conn: sqlite3.Connection, instance_id: str, ids: list[str], delivered_at: float | None
) -> None:
    """Mark inbox events delivered (at the run's update time unless ``delivered_at`` is given)."""
    run = require_run(conn, instance_id)
    when = float(run["updated_at"]) if delivered_at is None else delivered_at
    conn.executemany(
        "UPDATE inbox SET delivered_at = ? "
        "WHERE instance_id = ? AND event_id = ? AND delivered_at IS NULL",
        [(when, instance_id, event_id) for event_id in ids],
    )


def set_timers_in(conn: sqlite3.Connection, instance_id: str, timers: Sequence[Mapping[str, Any]]) -> None:
    """Replace the run's timers."""
    rows = [
        (instance_id, str(t["id"]), float(t["fire_at"]), str(t.get("kind", ""))) for t in timers
    ]
    conn.execute("DELETE FROM timers WHERE instance_id = ?", (instance_id,))
    conn.executemany(
        "INSERT OR REPLACE INTO timers (instance_id, timer_id, fire_at, kind) "
        "VALUES (?, ?, ?, ?)",
        rows,
    )


def write_transition(
    rows: RunRowWriter, instance_id: str, transition: Transition, conn: sqlite3.Connection
) -> int:
    """Results, row and events, timers, deliveries of one transition; the run's last sequence.

    With ``transition.owner`` set, only while that owner holds the run's lease (LEASE_LOST)."""
    if transition.owner is not None:
        guard_lease(conn, instance_id, transition.owner, transition.status)
    for r in transition.results:
        commit_result_in(conn, instance_id, r.step, r.task_id, r.node, r.attempt,
                         r.result, started_at=r.started_at, finished_at=r.finished_at)
    deferred_at = transition.deferred_at
    last, number = rows.write_step(
        conn, instance_id, transition.snapshot, status=transition.status,
        updated_at=transition.updated_at, output=transition.output,
        error=transition.error, events=transition.events, keep_snapshot=deferred_at is not None,
    )
    if deferred_at is None:
        clear_deferred_in(conn, instance_id)  # the snapshot written holds them
    else:
        log_deferred_in(conn, instance_id, transition.results, deferred_at,
                        last if transition.events else None)
    if transition.timers is not None:
        set_timers_in(conn, instance_id, transition.timers)
    if transition.delivered:
        mark_delivered_in(conn, instance_id, list(transition.delivered), None)
    rows.after_commit(instance_id, transition.status, last, number)
    return last


__all__ = ["commit_result_in", "mark_delivered_in", "require_run", "set_timers_in", "write_transition"]

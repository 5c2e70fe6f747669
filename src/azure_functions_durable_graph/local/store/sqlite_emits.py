"""Emits in the SQLite store: the ``run_emits`` table, beside ``run_events`` in one key space.

A batch of emits takes the next sequence numbers of its run (``runs.last_seq``), exactly as a
step's events do, so reading a run's stream is a merge of two key ranges. When a run keeps
more emits than its limit, the oldest rows are deleted and one ``emits_dropped`` event takes
the key of the newest deleted emit: it always sits first in the run's ``run_emits`` range.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from .rows import emits_dropped_event
from .sqlite_queries import FINISHED_SQL
from .sqlite_runs import SEQ_LIMIT, event_key

_CLAIM = (  # the batch's sequence numbers, in the same statement that counts them
    "UPDATE runs SET last_seq = last_seq + ?, emits_kept = emits_kept + ? "
    f"WHERE instance_id = ? AND status NOT IN {FINISHED_SQL}"
)
_READ = "SELECT status, last_seq, run_number, emits_kept, emits_dropped FROM runs WHERE instance_id = ?"
_INSERT = "INSERT INTO run_emits (event_key, step, created_at, event) VALUES (?, ?, ?, ?)"
# A run's stream: its events and emits, merged by key (both sub-selects walk a primary key).
SELECT_STREAM = (
    "SELECT event_key - ?1, event FROM ("
    " SELECT event_key, event FROM run_events WHERE event_key > ?1 + ?2 AND event_key < ?1 + ?3"
    " UNION ALL"
    " SELECT event_key, event FROM run_emits WHERE event_key > ?1 + ?2 AND event_key < ?1 + ?3"
    ") ORDER BY event_key LIMIT ?4"
)


def write_emits(
    conn: sqlite3.Connection, instance_id: str, emits: Sequence[tuple[int, str]], *,
    at: float, keep: int,
) -> tuple[str, int, int] | None:
    """Append ``emits`` inside the caller's transaction; returns (status, last_seq, run_number)
    for the row writer to remember, or None when the run is unknown or finished."""
    count = len(emits)
    if conn.execute(_CLAIM, (count, count, instance_id)).rowcount != 1:
        return None
    status, last, number, kept, dropped = conn.execute(_READ, (instance_id,)).fetchone()
    if last >= SEQ_LIMIT:
        raise sqlite3.IntegrityError(f"run '{instance_id}' has more progress events than a run can keep")
    first = event_key(number, last - count)
    conn.executemany(_INSERT, [(first + i, step, at, text) for i, (step, text) in enumerate(emits, 1)])
    if kept > keep:
        _drop_oldest(conn, instance_id, number, kept - keep, dropped, at)
    return str(status), int(last), int(number)


def _drop_oldest(conn: sqlite3.Connection, instance_id: str, number: int, excess: int,
                 dropped: int, at: float) -> None:
    low, high = event_key(number, 0), event_key(number + 1, 0)
    marker = 1 if dropped else 0  # the old marker is the first row; it is replaced
    row = conn.execute(
        "SELECT MAX(event_key) FROM (SELECT event_key FROM run_emits WHERE event_key > ? "
        "AND event_key < ? ORDER BY event_key LIMIT ?)", (low, high, excess + marker),
    ).fetchone()
    newest_gone = int(row[0])
    step = conn.execute("SELECT step FROM run_emits WHERE event_key = ?", (newest_gone,)).fetchone()[0]
    conn.execute("DELETE FROM run_emits WHERE event_key > ? AND event_key <= ?", (low, newest_gone))
    total = dropped + excess
    conn.execute(_INSERT, (newest_gone, step, at, emits_dropped_event(total)))
    conn.execute("UPDATE runs SET emits_kept = emits_kept - ?, emits_dropped = ? "
                 "WHERE instance_id = ?", (excess, total, instance_id))


__all__ = ["SELECT_STREAM", "write_emits"]

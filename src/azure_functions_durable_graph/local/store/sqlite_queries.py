"""Queries and retention of the SQLite run store (listing, an inbox lookup, purge, prune), as a mixin."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from ...execution.cursors import decode_cursor, encode_cursor
from ...execution.run_policy import refuse_unless_finished
from .base import (
    FINISHED_STATUSES,
    UNFINISHED_STATUSES,
    InboxEvent,
    RunRecord,
)
from .rows import (
    RUN_COLUMNS,
    check_keep_last,
    check_limit,
    listed_run_record,
    load_json,
    status_filter,
)
from .sqlite_runs import SEQ_LIMIT

# SQL lists of the statuses, for IN (...) clauses.
FINISHED_SQL = "('" + "', '".join(FINISHED_STATUSES) + "')"
UNFINISHED_SQL = "('" + "', '".join(UNFINISHED_STATUSES) + "')"
# A run's snapshot is kept in run_snapshots (migration 6), read as the row's snapshot column.
SNAPSHOT_COLUMN = "(SELECT snapshot FROM run_snapshots s WHERE s.instance_id = runs.instance_id) AS snapshot"
SELECT_RUN = "SELECT " + ", ".join(SNAPSHOT_COLUMN if c == "snapshot" else c for c in RUN_COLUMNS) + " FROM runs"
# Per finished run, the step below which history may go when keeping the newest N steps.
_THRESHOLDS = (
    "SELECT r.instance_id, (SELECT s.step FROM ("
    " SELECT step FROM task_results WHERE instance_id = r.instance_id"
    f" UNION SELECT step FROM run_events WHERE event_key > r.run_number * {SEQ_LIMIT}"
    f" AND event_key < (r.run_number + 1) * {SEQ_LIMIT}"
    f" UNION SELECT step FROM run_emits WHERE event_key > r.run_number * {SEQ_LIMIT}"
    f" AND event_key < (r.run_number + 1) * {SEQ_LIMIT}"
    f") AS s ORDER BY s.step DESC LIMIT 1 OFFSET ?) FROM runs r WHERE r.status IN {FINISHED_SQL}"
)
# A run's events, by the key range of its run number (the first parameter is the instance id).
_RUN_EVENTS = (
    f"event_key > (SELECT run_number FROM runs WHERE instance_id = ?) * {SEQ_LIMIT} "
    f"AND event_key < ((SELECT run_number FROM runs WHERE instance_id = ?1) + 1) * {SEQ_LIMIT}"
)


class SqliteQueries:
    """Listing and retention; relies on the store's connection helpers."""

    if TYPE_CHECKING:
        def _all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]: ...
        def _write(self) -> AbstractContextManager[sqlite3.Connection]: ...
        @staticmethod
        def _require_run(conn: sqlite3.Connection, instance_id: str) -> sqlite3.Row: ...
        def _current_listed(self, record: RunRecord) -> RunRecord: ...

    # -- queries ---------------------------------------------------------------------------
    def find_event(self, instance_id: str, event_id: str) -> InboxEvent | None:
        """The run's stored event with this id, delivered or not (None when there is none)."""
        rows = self._all("SELECT name, payload, created_at, delivered_at FROM inbox "
                         "WHERE instance_id = ? AND event_id = ?", (instance_id, event_id))
        if not rows:
            return None
        name, payload, created, delivered = rows[0]
        return InboxEvent(instance_id, event_id, name, load_json(payload), float(created),
                          None if delivered is None else float(delivered))

    def list_runs(
        self,
        *,
        graph_name: str | None = None,
        status: str | Sequence[str] | None = None,
        created_after: float | None = None,
        created_before: float | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> tuple[list[RunRecord], str | None]:
        """Runs newest first and the cursor of the next page (None on the last page)."""
        check_limit(limit)
        where: list[str] = ["1"]
        params: list[Any] = []
        if graph_name is not None:
            where.append("graph_name = ?")
            params.append(graph_name)
        statuses = status_filter(status)
        if statuses is not None:
            where.append(f"status IN ({', '.join('?' for _ in statuses) or 'NULL'})")
            params.extend(statuses)
        if created_after is not None:
            where.append("created_at >= ?")
            params.append(created_after)
        if created_before is not None:
            where.append("created_at < ?")
            params.append(created_before)
        if cursor is not None:
            at, after_id = decode_cursor(cursor)
            where.append("(created_at < ? OR (created_at = ? AND instance_id < ?))")
            params.extend([at, at, after_id])
        rows = self._all(
            f"{SELECT_RUN} WHERE {' AND '.join(where)} "
            "ORDER BY created_at DESC, instance_id DESC LIMIT ?",
            [*params, limit + 1],
        )
        records = [self._current_listed(listed_run_record(r)) for r in rows[:limit]]
        if len(rows) <= limit:
            return records, None
        return records, encode_cursor(records[-1].created_at, records[-1].instance_id)

    def unfinished_runs(self) -> list[str]:
        """Ids of runs that are running or waiting, oldest first."""
        rows = self._all(
            f"SELECT instance_id FROM runs WHERE status IN {UNFINISHED_SQL} "
            "ORDER BY created_at, instance_id"
        )
        return [str(r[0]) for r in rows]

    # -- retention -------------------------------------------------------------------------
    def purge(self, instance_id: str) -> None:
        """Delete a finished run and all its rows (RunConflictError while it is unfinished)."""
        with self._write() as conn:
            status = str(self._require_run(conn, instance_id)["status"])
            refuse_unless_finished(instance_id, status, "purge")
            conn.execute(f"DELETE FROM run_events WHERE {_RUN_EVENTS}", (instance_id,))
            conn.execute(f"DELETE FROM run_emits WHERE {_RUN_EVENTS}", (instance_id,))
            for table in ("task_results", "inbox", "timers", "deferred_results", "run_snapshots", "runs"):
                conn.execute(f"DELETE FROM {table} WHERE instance_id = ?", (instance_id,))

    def prune_history(
        self, *, older_than: float | None = None, keep_last: int | None = None
    ) -> int:
        """Delete task results and progress events of finished runs; returns rows deleted."""
        check_keep_last(keep_last)
        cutoff = older_than if older_than is not None or keep_last is not None else time.time()
        deleted = 0
        with self._write() as conn:
            # (run, lowest step kept): one entry for all finished runs when no step is kept
            targets: list[tuple[str | None, float]] = [(None, 0.0)]
            if keep_last:
                rows = conn.execute(_THRESHOLDS, (keep_last - 1,)).fetchall()
                targets = [(str(r[0]), float(r[1])) for r in rows if r[1] is not None]
            tables = {"task_results": "finished_at", "run_events": "created_at",
                      "run_emits": "created_at"}
            for table, time_column in tables.items():
                keyed = table != "task_results"  # the event tables are keyed by run number
                of_run = _RUN_EVENTS if keyed else "instance_id = ?"
                for instance_id, threshold in targets:
                    if instance_id is None:
                        sql = f"DELETE FROM {table} WHERE " + (
                            f"event_key / {SEQ_LIMIT} IN (SELECT run_number FROM runs "
                            if keyed else "instance_id IN (SELECT instance_id FROM runs "
                        ) + f"WHERE status IN {FINISHED_SQL})"
                        params: list[Any] = []
                    else:
                        sql = f"DELETE FROM {table} WHERE {of_run} AND step < ?"
                        params = [instance_id, threshold]
                    if cutoff is not None:
                        sql += f" AND {time_column} < ?"
                        params.append(cutoff)
                    deleted += conn.execute(sql, params).rowcount
        return deleted


__all__ = ["FINISHED_SQL", "SELECT_RUN", "UNFINISHED_SQL", "SqliteQueries"]

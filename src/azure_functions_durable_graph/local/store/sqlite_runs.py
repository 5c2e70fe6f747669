"""Writing a run's row and its progress events in the SQLite store, one step at a time.

Every step of a run rewrites its row (status, timestamps) and its snapshot (kept in
``run_snapshots``; a write-behind step leaves it as it is) and appends its progress events
after the row's ``last_seq``. An event's key is ``run_number * 2**32 + seq``
(:func:`event_key`), so a run's events are one key range of the ``run_events`` table.

The store remembers the status, last sequence and run number it wrote for each unfinished
run, so the usual step is one guarded ``UPDATE``: it names the expected status and sequence in
its ``WHERE`` clause and leaves the ``status`` column (and its index) alone when the status did
not change. When the guard misses (another process or store wrote the run, or the run is
unknown here) the general statement runs instead; a remembered value can cost a statement,
never a wrong row.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from ...graph.errors import StoreError
from .base import FINISHED_STATUSES, ensure_unfinished
from .rows import dump_json, not_found, step_of

#: Sequence numbers of one run's events stay below this (the low bits of an event's key).
SEQ_LIMIT = 1 << 32
INSERT_EVENT = "INSERT INTO run_events (event_key, step, created_at, event) VALUES (?, ?, ?, ?)"
# Where new runs get their number: one more than the largest (the index finds it at once).
NEXT_RUN_NUMBER = "(SELECT IFNULL(MAX(run_number), 0) + 1 FROM runs)"


def event_key(run_number: int, seq: int) -> int:
    """The ``run_events`` key of a run's event number ``seq``."""
    return run_number * SEQ_LIMIT + seq


def insert_events(
    conn: sqlite3.Connection, instance_id: str, run_number: int, first_seq: int, step: int,
    created_at: float, texts: Sequence[str],
) -> None:
    """Append events numbered ``first_seq + 1`` onwards (StoreError past the per-run limit)."""
    if not texts:
        return
    if first_seq + len(texts) >= SEQ_LIMIT:
        raise StoreError(f"run '{instance_id}' has more progress events than a run can keep ({SEQ_LIMIT - 1})")
    base = event_key(run_number, first_seq)
    if len(texts) <= _MULTI_ROW_EVENTS:  # a step's few events: one statement, one call
        values: list[Any] = []
        for i, text in enumerate(texts, 1):
            values += (base + i, step, created_at, text)
        conn.execute(_insert_events_sql(len(texts)), values)
    else:
        conn.executemany(INSERT_EVENT, [(base + i, step, created_at, t) for i, t in enumerate(texts, 1)])


_MULTI_ROW_EVENTS = 8


@functools.lru_cache(maxsize=_MULTI_ROW_EVENTS)
def _insert_events_sql(count: int) -> str:
    return INSERT_EVENT + ", (?, ?, ?, ?)" * (count - 1)


# The usual step: the status, sequence and run number this store wrote last (the number too: a
# run purged and started again elsewhere under the same id has another). No RETURNING needed.
_KNOWN = "WHERE instance_id = ? AND status = ? AND last_seq = ? AND run_number = ?"
_UPDATE_KNOWN = (
    f"UPDATE runs SET updated_at = ?, output = ?, error = ?, last_seq = ? {_KNOWN}"
)
_UPDATE_KNOWN_STATUS = (
    "UPDATE runs SET status = ?, updated_at = ?, output = ?, error = ?, "
    f"last_seq = ? {_KNOWN}"
)
# Anything else: any unfinished status, the sequence as stored.
_UPDATE_ANY = (
    "UPDATE runs SET status = ?, updated_at = ?, output = ?, error = ?, "
    "last_seq = last_seq + ? WHERE instance_id = ? "
    "AND status NOT IN ('" + "', '".join(FINISHED_STATUSES) + "') RETURNING last_seq, run_number"
)
_UPDATE_ANY_OLD = (  # SQLite before 3.35 has no RETURNING: read, then write
    "UPDATE runs SET status = ?, updated_at = ?, output = ?, error = ?, "
    "last_seq = ? WHERE instance_id = ?"
)
_HAS_RETURNING = sqlite3.sqlite_version_info >= (3, 35, 0)

#: The run's snapshot has a table of its own (migration 6): a step leaving it out rewrites
#: only the small runs row.
UPDATE_SNAPSHOT = "UPDATE run_snapshots SET snapshot = ? WHERE instance_id = ?"
INSERT_SNAPSHOT = "INSERT INTO run_snapshots (instance_id, snapshot) VALUES (?, ?)"

# Remembered runs beyond this are forgotten all at once (they only fall back to _UPDATE_ANY).
MAX_REMEMBERED = 20_000


class RunRowWriter:
    """Writes run rows and their events on a store's connection; remembers what it wrote."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # instance id -> (status, last_seq, run_number), as committed
        self._written: dict[str, tuple[str, int, int]] = {}
        # what the open transaction wrote: remembered only once it has committed
        self._pending: list[tuple[str, str, int, int]] = []

    def after_commit(self, instance_id: str, status: str, last_seq: int, run_number: int) -> None:
        """Remember this write once the open transaction commits (forgotten on rollback)."""
        self._pending.append((instance_id, status, last_seq, run_number))

    def committed(self) -> None:
        """The open transaction committed: remember what it wrote."""
        pending, self._pending = self._pending, []
        for entry in pending:
            self.remember(*entry)

    def rolled_back(self) -> None:
        """The open transaction was rolled back: what it wrote is not stored."""
        self._pending = []

    def mark(self) -> int:
        """Where the open transaction's writes stand (before a savepoint, see :meth:`undo_to`)."""
        return len(self._pending)

    def undo_to(self, mark: int) -> None:
        """A savepoint was rolled back: forget what was written since :meth:`mark` said ``mark``."""
        del self._pending[mark:]

    def remember(self, instance_id: str, status: str, last_seq: int, run_number: int) -> None:
        """Note what is stored for a run after a committed write (finished runs are dropped)."""
        with self._lock:
            if status in FINISHED_STATUSES:
                self._written.pop(instance_id, None)
                return
            if len(self._written) >= MAX_REMEMBERED:
                self._written.clear()
            self._written[instance_id] = (status, last_seq, run_number)

    def forget(self) -> None:
        """Drop everything remembered (the store is closing)."""
        with self._lock:
            self._written.clear()
            self._pending = []

    def write_step(
        self, conn: sqlite3.Connection, instance_id: str, snapshot: Mapping[str, Any], *,
        status: str, updated_at: float, output: dict[str, Any] | None,
        error: dict[str, Any] | None, events: Sequence[dict[str, Any]], keep_snapshot: bool = False,
    ) -> tuple[int, int]:
        """Update the run row and append ``events`` inside the caller's transaction.

        ``keep_snapshot``: the stored snapshot stays as it is (a write-behind step; ``snapshot``
        only gives the events' step). Returns the run's last event sequence and its run number,
        for :meth:`after_commit` (remembered when the transaction commits).
        """
        what = f"run '{instance_id}'"
        snapshot_json = None if keep_snapshot else dump_json(snapshot, f"{what} snapshot")
        output_json = None if output is None else dump_json(output, f"{what} output")
        error_json = None if error is None else dump_json(error, f"{what} error")
        texts = [dump_json(e, f"{what} event") for e in events]
        written = self._update_known(conn, instance_id, status, updated_at,
                                     output_json, error_json, len(texts))
        if written is None:
            written = self._update_any(conn, instance_id, status, updated_at,
                                       output_json, error_json, len(texts))
        last, run_number = written
        if snapshot_json is not None:
            conn.execute(UPDATE_SNAPSHOT, (snapshot_json, instance_id))
        if texts:
            insert_events(conn, instance_id, run_number, last - len(texts), step_of(snapshot),
                          updated_at, texts)
        return last, run_number

    def _update_known(
        self, conn: sqlite3.Connection, instance_id: str, status: str,
        updated_at: float, output_json: str | None, error_json: str | None, count: int,
    ) -> tuple[int, int] | None:
        known = self._written.get(instance_id)
        if known is None:
            return None
        known_status, known_seq, run_number = known
        last = known_seq + count
        if status == known_status:
            params: tuple[Any, ...] = (updated_at, output_json, error_json, last,
                                       instance_id, known_status, known_seq, run_number)
            cursor = conn.execute(_UPDATE_KNOWN, params)
        else:
            params = (status, updated_at, output_json, error_json, last,
                      instance_id, known_status, known_seq, run_number)
            cursor = conn.execute(_UPDATE_KNOWN_STATUS, params)
        return (last, run_number) if cursor.rowcount == 1 else None

    @staticmethod
    def _update_any(
        conn: sqlite3.Connection, instance_id: str, status: str,
        updated_at: float, output_json: str | None, error_json: str | None, count: int,
    ) -> tuple[int, int]:
        if _HAS_RETURNING:  # one statement instead of a read and a write
            row = conn.execute(_UPDATE_ANY, (status, updated_at, output_json,
                                             error_json, count, instance_id)).fetchone()
            if row is not None:
                return int(row[0]), int(row[1])
        current = conn.execute(
            "SELECT status, last_seq, run_number FROM runs WHERE instance_id = ?", (instance_id,)
        ).fetchone()
        if current is None:
            raise not_found(instance_id)
        ensure_unfinished(instance_id, str(current[0]))  # unknown, or finished: never rewritten
        last = int(current[1]) + count
        conn.execute(_UPDATE_ANY_OLD, (status, updated_at, output_json,
                                       error_json, last, instance_id))
        return last, int(current[2])


__all__ = [
    "INSERT_EVENT",
    "INSERT_SNAPSHOT",
    "MAX_REMEMBERED",
    "NEXT_RUN_NUMBER",
    "SEQ_LIMIT",
    "UPDATE_SNAPSHOT",
    "RunRowWriter",
    "event_key",
    "insert_events",
]

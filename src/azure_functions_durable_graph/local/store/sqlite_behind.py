"""Write-behind snapshots in the SQLite store: the deferred-results log and reads that replay it.

A deferred transition (:attr:`.base.Transition.deferred_at`) writes its task results, events and
the run row's progress, and logs each result it applied in ``deferred_results`` (migration 6),
in commit order; a transition that writes the snapshot deletes the run's log. Reads of a run
(``find_run``/``get_run``, ``list_runs``, through :meth:`SqliteWriteBehind._current`) replay the log onto the written snapshot
(:mod:`.write_behind`), so a reader in any process sees every committed step.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from ...core.replay import DeferredResult
from ...core.snapshot import RUNNING
from ...graph.errors import StoreError
from .base import ResultRow, RunRecord, Transition
from .rows import dump_json, load_json, run_record
from .sqlite_queries import SELECT_RUN
from .sqlite_runs import UPDATE_SNAPSHOT
from .write_behind import SnapshotReplay

logger = logging.getLogger(__name__)

_SLOTS = 1 << 16  # positions per event sequence number
_NEXT_POSITION = "SELECT IFNULL(MAX(position), 0) FROM deferred_results WHERE instance_id = ?"
_SELECT_DEFERRED = (
    "SELECT d.task_id, t.result, d.applied_at FROM deferred_results d JOIN task_results t "
    "ON t.instance_id = d.instance_id AND t.step = d.step AND t.task_id = d.task_id "
    "AND t.attempt = d.attempt WHERE d.instance_id = ? ORDER BY d.position"
)


def log_deferred_in(
    conn: sqlite3.Connection, instance_id: str, results: Sequence[ResultRow], applied_at: float,
    last_seq: int | None = None,
) -> None:
    """Log ``results`` as applied at ``applied_at``, after the run's logged ones.

    ``last_seq``: the run's last event sequence after a transition that added events; it orders
    the log without a read (every later transition's is higher). None: after the largest logged.
    """
    if not results:
        return
    if last_seq is not None and len(results) < _SLOTS:
        base = last_seq * _SLOTS
    else:
        base = int(conn.execute(_NEXT_POSITION, (instance_id,)).fetchone()[0]) + 1
    conn.executemany(
        "INSERT INTO deferred_results (instance_id, position, step, task_id, attempt, applied_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [(instance_id, base + i, r.step, r.task_id, r.attempt, applied_at) for i, r in enumerate(results)],
    )


def clear_deferred_in(conn: sqlite3.Connection, instance_id: str) -> None:
    """The run's snapshot is written: its logged results are in it."""
    conn.execute("DELETE FROM deferred_results WHERE instance_id = ?", (instance_id,))


def deferred_in(conn: sqlite3.Connection, instance_id: str) -> list[DeferredResult]:
    """The run's logged results with their committed values, in commit order."""
    rows = conn.execute(_SELECT_DEFERRED, (instance_id,)).fetchall()
    return [DeferredResult(str(r[0]), dict(load_json(r[1])), float(r[2])) for r in rows]


class SqliteWriteBehind:
    """The store's write-behind reads and flush; relies on its connection helpers."""

    if TYPE_CHECKING:
        path: Any
        _lock: Any
        def _connection(self) -> sqlite3.Connection: ...
        def _write(self) -> AbstractContextManager[sqlite3.Connection]: ...
        def get_manifest(self, graph_hash: str) -> str | None: ...
        def commit_transition(self, instance_id: str, transition: Transition) -> int: ...

    _replay_: SnapshotReplay | None = None

    @property
    def _replay(self) -> SnapshotReplay:
        if self._replay_ is None:
            self._replay_ = SnapshotReplay(self.get_manifest)
        return self._replay_

    def save_progress(self, instance_id: str, transition: Transition) -> int:
        """A deferred transition, as :meth:`commit_transition` writes it (one transaction)."""
        return self.commit_transition(instance_id, transition)

    def deferred_results(self, instance_id: str) -> list[DeferredResult]:
        """The results committed after the run's written snapshot, in commit order."""
        with self._lock:
            try:
                return deferred_in(self._connection(), instance_id)
            except sqlite3.Error as exc:
                raise StoreError(f"run store '{self.path}': {exc}") from exc

    def _current(self, record: RunRecord) -> RunRecord:
        """``record`` with its deferred results replayed (only a running run has any)."""
        if record.status != RUNNING:
            return record
        return self._replay.current(record, self.deferred_results(record.instance_id))

    def _current_listed(self, record: RunRecord) -> RunRecord:
        """A listed run with its deferred steps replayed (as last written when that fails)."""
        try:
            return self._current(record) if record.snapshot else record
        except StoreError as exc:  # one run that cannot be replayed must not hide the rest
            logger.warning("listing run '%s' as last written: %s", record.instance_id, exc.message)
            return record

    def flush_deferred(self, instance_id: str) -> bool:
        """Write the run's replayed snapshot and drop its log, in one write (False: none)."""
        with self._write() as conn:
            deferred = deferred_in(conn, instance_id)
            if not deferred:
                return False
            row = conn.execute(f"{SELECT_RUN} WHERE instance_id = ?", (instance_id,)).fetchone()
            if row is None:
                return False
            record = run_record(row)
            snapshot = self._replay.snapshot(record, deferred)
            conn.execute(UPDATE_SNAPSHOT,
                         (dump_json(snapshot, f"run '{instance_id}' snapshot"), instance_id))
            clear_deferred_in(conn, instance_id)
        return True


__all__ = ["SqliteWriteBehind", "clear_deferred_in", "deferred_in", "log_deferred_in"]

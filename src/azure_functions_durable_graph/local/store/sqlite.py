"""``SqliteRunStore``: the run store in one SQLite file (standard library ``sqlite3`` only).

The database runs in WAL mode with ``synchronous=NORMAL`` (durability ``"process"``) or
``FULL`` (``"power"``, see :mod:`.durability`), a 5 s busy timeout and foreign keys on. Every
write is one ``BEGIN IMMEDIATE`` transaction, so several stores (threads or processes) may share
a file; the steps of concurrent runs share one (group commit, :mod:`.sqlite_commit`). One
connection serves all threads of a store, guarded by a lock.
"""

from __future__ import annotations

import concurrent.futures
import functools
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ...graph.errors import StoreError
from .base import (
    DueTimer,
    InboxEvent,
    Lease,
    RunRecord,
    RunStore,
    StepRow,
    Transition,
)
from .durability import PROCESS, Durability, check_durability
from .migrations import BUSY_TIMEOUT_S, open_database
from .read_only import open_read_only
from .rows import (
    RUN_COLUMNS,
    check_limit,
    conflict,
    dump_json,
    load_json,
    not_found,
    result_parts,
    run_columns,
    run_record,
    step_of,
)
from .sqlite_behind import SqliteWriteBehind, clear_deferred_in
from .sqlite_commit import CommitQueue
from .sqlite_emits import SELECT_STREAM, write_emits
from .sqlite_leases import SqliteLeases, set_new_lease
from .sqlite_queries import SELECT_RUN, UNFINISHED_SQL, SqliteQueries
from .sqlite_runs import (
    INSERT_SNAPSHOT,
    NEXT_RUN_NUMBER,
    SEQ_LIMIT,
    RunRowWriter,
    event_key,
    insert_events,
)
from .sqlite_writes import (
    commit_result_in,
    mark_delivered_in,
    require_run,
    set_timers_in,
    write_transition,
)

DEFAULT_PATH = Path(".durable-graph") / "runs.db"

AUTO_CHECKPOINT_PAGES = 16384

_INSERT_RUN = (
    f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}, last_seq, run_number) "
    f"VALUES ({', '.join('?' for _ in RUN_COLUMNS)}, ?, {NEXT_RUN_NUMBER})"
)


class SqliteRunStore(SqliteWriteBehind, SqliteLeases, SqliteQueries, RunStore):
    """A :class:`RunStore` in a SQLite file (``":memory:"`` keeps it in memory).

    ``durability`` is ``"process"`` (a commit survives a crash of the process) or ``"power"``
    (it survives a power loss too: synced at every commit); see :mod:`.durability`.
    """

    def __init__(self, path: str | Path = DEFAULT_PATH, *, read_only: bool = False,
                 durability: Durability = PROCESS) -> None:
        self.path: Path | str = path if str(path) == ":memory:" else Path(path)
        #: Opened with SQLite ``mode=ro`` (an existing file, nothing created): writes fail.
        self.read_only = read_only and isinstance(self.path, Path)
        #: How durable a commit is: ``"process"`` or ``"power"``.
        self.durability: Durability = check_durability(durability, "SqliteRunStore")
        self._lock = threading.RLock()
        conn, version = self._open_connection()
        self._conn: sqlite3.Connection | None = conn
        self._checkpoint_conn: sqlite3.Connection | None = None
        self._checkpoint_lock = threading.Lock()
        self._rows = RunRowWriter()
        #: Steps ready at the same moment share a transaction (see :mod:`.sqlite_commit`).
        self.commits = CommitQueue(self._lock, self._connection, self._rows, self.path)
        #: The schema version of the open database.
        self.schema_version: int = version

    def _open_connection(self) -> tuple[sqlite3.Connection, int]:
        if self.read_only and isinstance(self.path, Path):
            return open_read_only(self.path)
        conn, version = open_database(self.path, self.durability)
        # Checkpoints run from the engine's timer loop on a connection of their own, so a
        # step's commit never pays for one; the large auto-checkpoint is only a safety net.
        conn.execute(f"PRAGMA wal_autocheckpoint = {AUTO_CHECKPOINT_PAGES}")
        return conn, version

    def reopen(self) -> None:
        """Open the file again after :meth:`close` (a server started again); no-op while open."""
        with self._lock:
            if self._conn is None:
                self._conn, self.schema_version = self._open_connection()

    def __repr__(self) -> str:
        return f"SqliteRunStore({str(self.path)!r})"

    # -- connection helpers ----------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"run store '{self.path}' is closed")
        return self._conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction, committed on success, rolled back on error."""
        with self._lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                self._rows.rolled_back()
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    # The cause is kept: the engine retries an OperationalError (disk full).
                    raise StoreError(f"run store '{self.path}': {exc}") from exc
                raise
            self._rows.committed()  # still under the lock: remembered in commit order

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """The rows of one read statement."""
        with self._lock:
            conn = self._connection()
            try:
                return conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"run store '{self.path}': {exc}") from exc

    def _one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        rows = self._all(sql, params)
        return rows[0] if rows else None

    _require_run = staticmethod(require_run)

    # -- manifests -------------------------------------------------------------------------
    def put_manifest(self, graph_hash: str, graph_name: str, manifest_json: str) -> None:
        """Store a graph manifest under its hash (a second call for the hash is a no-op)."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO manifests (graph_hash, graph_name, manifest) VALUES (?, ?, ?) "
                "ON CONFLICT (graph_hash) DO NOTHING",
                (graph_hash, graph_name, manifest_json),
            )

    def get_manifest(self, graph_hash: str) -> str | None:
        """The manifest JSON stored under ``graph_hash``, or None."""
        row = self._one("SELECT manifest FROM manifests WHERE graph_hash = ?", (graph_hash,))
        return None if row is None else str(row[0])

    # -- runs ------------------------------------------------------------------------------
    def create_run(
        self, run: RunRecord, events: Sequence[dict[str, Any]] = (), *, lease: Lease | None = None
    ) -> RunRecord:
        """Insert a new run and its first progress ``events`` (numbered from 1) in one write,
        leased to ``lease.owner`` when given.

        RunConflictError when the instance id already exists.
        """
        values = run_columns(run)
        texts = [dump_json(e, f"run '{run.instance_id}' event") for e in events]
        step = step_of(run.snapshot)
        with self._write() as conn:
            try:
                conn.execute(_INSERT_RUN, [*(("" if k == "snapshot" else v) for k, v in values.items()), len(texts)])
            except sqlite3.IntegrityError as exc:
                if "runs.instance_id" not in str(exc):
                    raise  # another constraint: the store's error, below
                raise conflict(run.instance_id, f"run '{run.instance_id}' already exists") from None
            number = int(conn.execute(
                "SELECT run_number FROM runs WHERE instance_id = ?", (run.instance_id,)
            ).fetchone()[0])
            conn.execute(INSERT_SNAPSHOT, (run.instance_id, values["snapshot"]))
            insert_events(conn, run.instance_id, number, 0, step, values["updated_at"], texts)
            set_new_lease(conn, run.instance_id, lease)
            self._rows.after_commit(run.instance_id, run.status, len(texts), number)
        return run_record(values)  # the columns as written, read back the way a row is

    def get_run(self, instance_id: str) -> RunRecord:
        """The stored run (RunNotFoundError naming the run when there is none)."""
        record = self.find_run(instance_id)
        if record is None:
            raise not_found(instance_id)
        return record

    def find_run(self, instance_id: str) -> RunRecord | None:
        """The stored run (its deferred steps replayed, see :mod:`.sqlite_behind`), or None."""
        row = self._one(f"{SELECT_RUN} WHERE instance_id = ?", (instance_id,))
        return None if row is None else self._current(run_record(row))

    def save_snapshot(
        self,
        instance_id: str,
        snapshot: Mapping[str, Any],
        *,
        status: str,
        updated_at: float,
        output: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
        events: Sequence[dict[str, Any]] = (),
    ) -> int:
        """Update the run row and append ``events``; returns the run's last event sequence."""
        with self._write() as conn:
            last, number = self._rows.write_step(conn, instance_id, snapshot, status=status,
                                                 updated_at=updated_at, output=output,
                                                 error=error, events=events)
            clear_deferred_in(conn, instance_id)
            self._rows.after_commit(instance_id, status, last, number)
        return last

    def list_events(
        self, instance_id: str, after_seq: int = 0, limit: int = 1000
    ) -> list[tuple[int, dict[str, Any]]]:
        """Progress events with a sequence number above ``after_seq``, oldest first."""
        check_limit(limit)
        run = self._one("SELECT run_number FROM runs WHERE instance_id = ?", (instance_id,))
        if run is None:
            return []
        after = min(max(after_seq, 0), SEQ_LIMIT)  # beyond the run's key range: nothing after
        rows = self._all(SELECT_STREAM, (event_key(int(run[0]), 0), after, SEQ_LIMIT, limit))
        return [(int(r[0]), load_json(r[1])) for r in rows]

    def append_emits(
        self, instance_id: str, emits: Sequence[tuple[int, str]], *, at: float, keep: int
    ) -> int | None:
        """Append emits after the run's last event, keeping the newest ``keep`` (see base)."""
        if not emits:
            return None
        with self._write() as conn:
            written = write_emits(conn, instance_id, emits, at=at, keep=max(1, keep))
            if written is None:
                return None
            status, last, number = written
            self._rows.after_commit(instance_id, status, last, number)
        return last

    # -- task results ----------------------------------------------------------------------
    def commit_task_result(
        self,
        instance_id: str,
        step: int,
        task_id: str,
        node: str,
        attempt: int,
        result: dict[str, Any],
        *,
        started_at: float,
        finished_at: float,
    ) -> bool:
        """Commit a task's result once; False (and the first result kept) when it exists."""
        with self._write() as conn:
            self._require_run(conn, instance_id)
            return commit_result_in(conn, instance_id, step, task_id, node, attempt, result,
                                          started_at=started_at, finished_at=finished_at)

    def get_task_result(
        self, instance_id: str, task_id: str, attempt: int
    ) -> dict[str, Any] | None:
        """The committed result of a task attempt, or None."""
        row = self._one(
            "SELECT result FROM task_results WHERE instance_id = ? AND task_id = ? AND attempt = ?",
            (instance_id, task_id, attempt),
        )
        return None if row is None else dict(load_json(row[0]))

    def history(
        self, instance_id: str, limit: int | None = None, after: int | None = None
    ) -> list[StepRow]:
        """Executed tasks oldest first (by step, then commit order); ``after`` is a step."""
        rows = self._all(
            "SELECT task_id, attempt, step, node, result, started_at, finished_at "
            "FROM task_results WHERE instance_id = ? AND step > ? ORDER BY step, position LIMIT ?",
            (instance_id, -1 if after is None else after, -1 if limit is None else check_limit(limit)),
        )  # fmt: skip
        out = []
        for r in rows:
            ok, update, route, error = result_parts(load_json(r["result"]))
            out.append(StepRow(
                instance_id=instance_id, step=int(r["step"]), task_id=str(r["task_id"]),
                node=str(r["node"]), attempt=int(r["attempt"]), ok=ok, update=update, route=route,
                error=error, started_at=float(r["started_at"]), finished_at=float(r["finished_at"]),
            ))  # fmt: skip
        return out

    # -- event inbox -----------------------------------------------------------------------
    def enqueue_event(
        self, instance_id: str, name: str, payload: Any, *, event_id: str | None, created_at: float
    ) -> str:
        """Store an event for delivery; a repeated ``event_id`` is ignored. Returns the id."""
        event_id = event_id if event_id is not None else uuid.uuid4().hex
        text = dump_json(payload, f"run '{instance_id}' event '{name}' payload")
        with self._write() as conn:
            self._require_run(conn, instance_id)
            conn.execute(
                "INSERT INTO inbox (instance_id, event_id, name, payload, created_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (instance_id, event_id) DO NOTHING",
                (instance_id, event_id, name, text, created_at),
            )
        return event_id

    def pending_events(self, instance_id: str) -> list[InboxEvent]:
        """Events not yet delivered, in the order they were stored."""
        rows = self._all(
            "SELECT event_id, name, payload, created_at FROM inbox "
            "WHERE instance_id = ? AND delivered_at IS NULL ORDER BY rowid",
            (instance_id,),
        )
        return [InboxEvent(instance_id, r[0], r[1], load_json(r[2]), float(r[3])) for r in rows]

    def mark_events_delivered(
        self, instance_id: str, event_ids: Iterable[str], *, delivered_at: float | None = None
    ) -> None:
        """Mark events delivered (kept until purge); the time defaults to the run's update."""
        with self._write() as conn:
            mark_delivered_in(conn, instance_id, list(event_ids), delivered_at)

    # -- timers ----------------------------------------------------------------------------
    def upsert_timers(self, instance_id: str, timers: Sequence[Mapping[str, Any]]) -> None:
        """Replace the run's timers with ``timers`` (each with ``id``, ``fire_at``, ``kind``)."""
        with self._write() as conn:
            self._require_run(conn, instance_id)
            set_timers_in(conn, instance_id, timers)

    def commit_transition(self, instance_id: str, transition: Transition) -> int:
        """Task results, snapshot, events, timers and deliveries in ONE transaction."""
        return int(self.submit_transition(instance_id, transition).result())

    def submit_transition(self, instance_id: str, transition: Transition) -> concurrent.futures.Future[int]:
        """:meth:`commit_transition` through the commit queue: done on return when it committed at
        once, else when the batch holding it has (its own error, if its write failed)."""
        return self.commits.submit(functools.partial(write_transition, self._rows, instance_id, transition))

    def due_timers(self, now: float, limit: int = 100) -> list[DueTimer]:
        """Timers of unfinished runs firing at or before ``now``, earliest first."""
        rows = self._all(
            "SELECT t.instance_id, t.timer_id, t.fire_at FROM timers t "
            "JOIN runs r ON r.instance_id = t.instance_id WHERE t.fire_at <= ? "
            f"AND r.status IN {UNFINISHED_SQL} ORDER BY t.fire_at, t.instance_id, t.timer_id LIMIT ?",
            (now, check_limit(limit)),
        )
        return [(str(r[0]), str(r[1]), float(r[2])) for r in rows]

    def next_timer_at(self) -> float | None:
        """When the earliest timer of an unfinished run fires, or None."""
        row = self._one(
            "SELECT MIN(t.fire_at) FROM timers t JOIN runs r ON r.instance_id = t.instance_id "
            f"WHERE r.status IN {UNFINISHED_SQL}"
        )
        return None if row is None or row[0] is None else float(row[0])

    # -- lifecycle -------------------------------------------------------------------------
    def checkpoint(self) -> None:
        """A passive WAL checkpoint on a separate connection (writers are not blocked)."""
        if str(self.path) == ":memory:" or self._conn is None or self.read_only:
            return
        with self._checkpoint_lock:
            try:
                if self._checkpoint_conn is None:
                    self._checkpoint_conn = sqlite3.connect(
                        str(self.path), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
                    )
                self._checkpoint_conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error as exc:
                raise StoreError(f"run store '{self.path}': checkpoint failed: {exc}") from exc

    def close(self) -> None:
        """Commit what is queued, close the connections; closing twice is harmless."""
        self.commits.close()
        with self._checkpoint_lock:
            if self._checkpoint_conn is not None:
                self._checkpoint_conn.close()
                self._checkpoint_conn = None
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        self._rows.forget()


__all__ = ["DEFAULT_PATH", "SqliteRunStore"]

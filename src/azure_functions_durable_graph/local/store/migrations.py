"""Numbered schema migrations of the SQLite run store, and the checks made before applying them.

``MIGRATIONS`` is an append-only list of ``(version, sql)``: never edit a released entry, add
a new one. Pending migrations are applied in order inside one ``BEGIN IMMEDIATE`` transaction
that also records each version in ``schema_version`` and sets ``PRAGMA user_version``.

Before anything is written the file is inspected: something that is not SQLite, a SQLite
database of another application, or a schema newer than this code knows raise
:class:`StoreError` and leave the file untouched.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from ...graph.errors import StoreError
from .durability import PROCESS, Durability, apply_durability

SQLITE_HEADER = b"SQLite format 3\x00"

MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
        CREATE TABLE schema_version (
            version INTEGER PRIMARY KEY,
            applied_at REAL NOT NULL DEFAULT ((julianday('now') - 2440587.5) * 86400.0)
        );
        CREATE TABLE manifests (
            graph_hash TEXT PRIMARY KEY,
            graph_name TEXT NOT NULL,
            manifest TEXT NOT NULL
        );
        CREATE TABLE runs (
            instance_id TEXT PRIMARY KEY,
            graph_name TEXT NOT NULL,
            graph_version TEXT NOT NULL,
            graph_hash TEXT NOT NULL,
            status TEXT NOT NULL,
            snapshot TEXT NOT NULL,
            input TEXT NOT NULL,
            metadata TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            error TEXT,
            output TEXT,
            parent_id TEXT,
            last_seq INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX runs_by_created ON runs (created_at DESC, instance_id DESC);
        CREATE INDEX runs_by_graph ON runs (graph_name, created_at DESC, instance_id DESC);
        CREATE INDEX runs_by_status ON runs (status, created_at DESC, instance_id DESC);
        CREATE INDEX runs_by_parent ON runs (parent_id) WHERE parent_id IS NOT NULL;
        CREATE TABLE run_events (
            instance_id TEXT NOT NULL REFERENCES runs (instance_id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            step INTEGER NOT NULL,
            created_at REAL NOT NULL,
            event TEXT NOT NULL,
            PRIMARY KEY (instance_id, seq)
        ) WITHOUT ROWID;
        CREATE TABLE task_results (
            instance_id TEXT NOT NULL REFERENCES runs (instance_id) ON DELETE CASCADE,
            task_id TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            step INTEGER NOT NULL,
            node TEXT NOT NULL,
            ok INTEGER NOT NULL,
            result TEXT NOT NULL,
            started_at REAL NOT NULL,
            finished_at REAL NOT NULL,
            PRIMARY KEY (instance_id, task_id, attempt)
        );
        CREATE INDEX task_results_by_step ON task_results (instance_id, step);
        CREATE TABLE inbox (
            instance_id TEXT NOT NULL REFERENCES runs (instance_id) ON DELETE CASCADE,
            event_id TEXT NOT NULL,
            name TEXT NOT NULL,
            payload TEXT NOT NULL,
            created_at REAL NOT NULL,
            delivered_at REAL,
            PRIMARY KEY (instance_id, event_id)
        );
        CREATE INDEX inbox_pending ON inbox (instance_id) WHERE delivered_at IS NULL;
        CREATE TABLE timers (
            instance_id TEXT NOT NULL REFERENCES runs (instance_id) ON DELETE CASCADE,
            timer_id TEXT NOT NULL,
            fire_at REAL NOT NULL,
            kind TEXT NOT NULL,
            PRIMARY KEY (instance_id, timer_id)
        ) WITHOUT ROWID;
        CREATE INDEX timers_by_fire_at ON timers (fire_at);
        """,
    ),
    (
        2,
        # Task results keyed by (run, step, task, attempt) in one b-tree (WITHOUT ROWID), with
        # their commit order within the step as a column: a step's commit writes one b-tree
        # page for its result instead of three (table, key index and step index).
        """
        CREATE TABLE task_results_v2 (
            instance_id TEXT NOT NULL REFERENCES runs (instance_id) ON DELETE CASCADE,
            step INTEGER NOT NULL,
            task_id TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            position INTEGER NOT NULL,
            node TEXT NOT NULL,
            ok INTEGER NOT NULL,
            result TEXT NOT NULL,
            started_at REAL NOT NULL,
            finished_at REAL NOT NULL,
            PRIMARY KEY (instance_id, step, task_id, attempt)
        ) WITHOUT ROWID;
        INSERT INTO task_results_v2 (instance_id, step, task_id, attempt, position, node, ok,
                                     result, started_at, finished_at)
            SELECT instance_id, step, task_id, attempt,
                   (SELECT COUNT(*) FROM task_results e
                    WHERE e.instance_id = t.instance_id AND e.step = t.step AND e.rowid < t.rowid),
                   node, ok, result, started_at, finished_at
            FROM task_results t;
        DROP TABLE task_results;
        ALTER TABLE task_results_v2 RENAME TO task_results;
        """,
    ),
    (
        3,
        # Progress events keyed by one integer, run_number * 2^32 + seq: a run's events are one
        # key range of a rowid table, and a step's events are appended at the end of the b-tree
        # (where SQLite adds a page without rebalancing its neighbours) instead of inserted into
        # an index keyed by text. Each run gets a number that never changes (VACUUM keeps it).
        """
        ALTER TABLE runs ADD COLUMN run_number INTEGER;
        UPDATE runs SET run_number = rowid;
        CREATE UNIQUE INDEX runs_by_number ON runs (run_number);
        CREATE TABLE run_events_v3 (
            event_key INTEGER PRIMARY KEY,
            step INTEGER NOT NULL,
            created_at REAL NOT NULL,
            event TEXT NOT NULL
        );
        INSERT INTO run_events_v3 (event_key, step, created_at, event)
            SELECT r.run_number * 4294967296 + e.seq, e.step, e.created_at, e.event
            FROM run_events e JOIN runs r ON r.instance_id = e.instance_id;
        DROP TABLE run_events;
        ALTER TABLE run_events_v3 RENAME TO run_events;
        """,
    ),
    (
        4,
        # Emits (ctx.emit): progress events in the same key space as run_events, so a run's
        # stream is the two key ranges merged. Their own table, so the oldest can be dropped
        # when a run passes its limit without touching step events; the runs row counts them.
        """
        ALTER TABLE runs ADD COLUMN emits_kept INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE runs ADD COLUMN emits_dropped INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE run_emits (
            event_key INTEGER PRIMARY KEY,
            step INTEGER NOT NULL,
            created_at REAL NOT NULL,
            event TEXT NOT NULL
        );
        """,
    ),
    (
        5,
        # Per-run leases (several engines on one file, see lease_port.py), cancel requests any
        # process may store, and the change feed: one row per stored event (a trigger, so every
        # writer signals in the event's own transaction) or cancel request.
        """
        ALTER TABLE runs ADD COLUMN lease_owner TEXT;
        ALTER TABLE runs ADD COLUMN lease_until REAL;
        ALTER TABLE runs ADD COLUMN cancel_request TEXT;
        CREATE INDEX runs_by_lease_until ON runs (lease_until) WHERE lease_owner IS NOT NULL;
        CREATE INDEX runs_by_lease_owner ON runs (lease_owner) WHERE lease_owner IS NOT NULL;
        CREATE TABLE run_signals (
            position INTEGER PRIMARY KEY AUTOINCREMENT,
            instance_id TEXT NOT NULL,
            created_at REAL NOT NULL DEFAULT ((julianday('now') - 2440587.5) * 86400.0)
        );
        CREATE TRIGGER inbox_signals AFTER INSERT ON inbox BEGIN
            INSERT INTO run_signals (instance_id) VALUES (NEW.instance_id);
        END;
        """,
    ),
    (
        6,
        # Write-behind snapshots: a step that only applies task results may leave the run's
        # snapshot as it was; the results it applied (kept in task_results) are logged in
        # deferred_results in commit order with the time they were applied at, and replayed by
        # every read. Writing the snapshot deletes the run's rows. The snapshot moves to a table
        # of its own: SQLite rewrites a whole row on any update, so a step that changes the
        # run's progress would otherwise pay for its whole snapshot (runs.snapshot stays, '').
        """
        CREATE TABLE run_snapshots (
            instance_id TEXT PRIMARY KEY,
            snapshot TEXT NOT NULL
        );
        INSERT INTO run_snapshots (instance_id, snapshot) SELECT instance_id, snapshot FROM runs;
        UPDATE runs SET snapshot = '';
        CREATE TABLE deferred_results (
            instance_id TEXT NOT NULL,
            position INTEGER NOT NULL,
            step INTEGER NOT NULL,
            task_id TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            applied_at REAL NOT NULL,
            PRIMARY KEY (instance_id, position)
        ) WITHOUT ROWID;
        """,
    ),
]

#: The newest schema version this code reads and writes.
LATEST_VERSION: int = MIGRATIONS[-1][0]
#: How long an opener or writer waits for another connection's lock before failing, in seconds.
BUSY_TIMEOUT_S = 5.0
PAGE_SIZE = 1024  # bytes, for new database files


def split_statements(sql: str) -> list[str]:
    """The complete SQL statements of a script, in order."""
    statements: list[str] = []
    current = ""
    for line in sql.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    if current.strip():
        raise ValueError(f"incomplete SQL statement in migration: {current.strip()[:60]}")
    return statements


def check_file(path: Path) -> None:
    """Reject a path that exists but is not a SQLite database file (reads only)."""
    if not path.exists():
        return
    if not path.is_file():
        raise StoreError(f"run store '{path}' is not a file")
    try:
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise StoreError(f"run store '{path}' cannot be read: {exc.strerror or exc}") from None
    if header and header != SQLITE_HEADER:
        raise StoreError(f"run store '{path}' is not a SQLite database")


def schema_version(conn: sqlite3.Connection, path: Path | str) -> int:
    """The durable-graph schema version of an open database (0 when it is empty).

    Raises StoreError for a database of another application or a newer schema. Reads only.
    """
    if conn.in_transaction:
        return _read_schema_version(conn, path)
    # One read transaction: the table list and user_version must come from the same moment,
    # or a concurrent opener's migration could land between the two reads.
    conn.execute("BEGIN")
    try:
        return _read_schema_version(conn, path)
    finally:
        if conn.in_transaction:
            conn.execute("COMMIT")


def _read_schema_version(conn: sqlite3.Connection, path: Path | str) -> int:
    try:
        names = {
            str(row[0])
            for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        user_version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if "schema_version" not in names:
            if names or user_version:
                raise StoreError(
                    f"run store '{path}' is not a durable-graph database "
                    "(it has other tables and no schema_version table)"
                )
            return 0
        recorded = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"run store '{path}' cannot be read as SQLite: {exc}") from None
    version = max(int(recorded or 0), user_version)
    if version > LATEST_VERSION:
        raise StoreError(
            f"run store '{path}' has schema version {version}, newer than version "
            f"{LATEST_VERSION} known to this azure-functions-durable-graph; upgrade the package"
        )
    return version


def migrate(conn: sqlite3.Connection, path: Path | str) -> int:
    """Apply pending migrations in one write transaction; returns the schema version.

    ``conn`` must be in autocommit mode (``isolation_level=None``). The version is read again
    once the write lock is held, so concurrent openers migrate a new file only once.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = schema_version(conn, path)
        for version, sql in MIGRATIONS:
            if version <= current:
                continue
            for statement in split_statements(sql):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
            conn.execute(f"PRAGMA user_version = {int(version)}")
            current = version
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return current


def enable_wal(conn: sqlite3.Connection, timeout: float = BUSY_TIMEOUT_S) -> None:
    """Switch ``conn``'s database to WAL mode, waiting out concurrent openers.

    The switch needs an exclusive lock and SQLite answers ``database is locked`` at once, without
    calling the busy handler, when another connection opening the same new file holds a shared
    lock; so the switch is retried with a short back-off until ``timeout`` seconds have passed.
    """
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def open_database(
    path: Path | str, durability: Durability = PROCESS
) -> tuple[sqlite3.Connection, int]:
    """Open (creating when missing) and migrate the run store at ``path``.

    Returns an autocommit connection usable from any thread (callers serialize its use) and
    the schema version. The file is checked before anything is written to it. ``durability``
    sets the sync level of the connection's commits (see :mod:`.durability`).
    """
    if isinstance(path, Path):
        check_file(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"run store '{path}': cannot create folder '{path.parent}': {exc.strerror or exc}"
            ) from None
    try:
        conn = sqlite3.connect(
            str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as exc:
        raise StoreError(f"run store '{path}' cannot be opened: {exc}") from None
    try:
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        schema_version(conn, path)  # reads only: foreign or newer files stay untouched
        # Only a new, empty file takes it: small pages mean fewer bytes in the WAL per commit
        # (one commit per step writes a few pages of several tables; measured: 75 -> 45 us).
        conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        enable_wal(conn)
        apply_durability(conn, durability)  # NORMAL ("process") or FULL ("power")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn, migrate(conn, path)
    except StoreError:
        conn.close()
        raise
    except sqlite3.Error as exc:
        conn.close()
        raise StoreError(f"run store '{path}' cannot be opened: {exc}") from None


__all__ = [
    "PAGE_SIZE",
    "LATEST_VERSION",
    "MIGRATIONS",
    "BUSY_TIMEOUT_S",
    "check_file",
    "enable_wal",
    "migrate",
    "open_database",
    "schema_version",
    "split_statements",
]

"""Opening a run store for reading only (SQLite ``mode=ro``), for commands that only read.

Nothing is created, migrated or written, so a database on a read-only file system, or a file
the user may read but not write, can still be listed. In WAL mode a reader needs the ``-shm``
index; when it is missing and cannot be created (a read-only folder), no WAL writer can be
working on the file either, so it is opened as immutable instead.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ...graph.errors import StoreError
from .migrations import BUSY_TIMEOUT_S, LATEST_VERSION, check_file, schema_version


def open_read_only(path: Path) -> tuple[sqlite3.Connection, int]:
    """An autocommit, read-only connection to the existing run store at ``path``, and its version.

    StoreError (one line naming the file) when it is missing, not this engine's database, or
    of an older schema that only a writer can migrate.
    """
    if not path.exists():
        raise StoreError(f"run store '{path}' does not exist")
    check_file(path)
    uri = path.resolve().as_uri() + "?mode=ro"
    try:
        conn = _connect(uri, path)
    except sqlite3.OperationalError:
        # The -shm index could not be made (read-only folder): read the file as it is.
        conn = _connect(uri + "&immutable=1", path, last_try=True)
    try:
        version = schema_version(conn, path)
    except BaseException:
        conn.close()
        raise
    if 0 < version < LATEST_VERSION:
        conn.close()
        raise StoreError(
            f"run store '{path}' has schema version {version}; open it once with write access "
            f"(any command that runs graphs) to migrate it to version {LATEST_VERSION}"
        )
    return conn, version


def _connect(uri: str, path: Path, *, last_try: bool = False) -> sqlite3.Connection:
    """A connection that has read the file once (that is where SQLite opens the WAL index).

    OperationalError is left to the caller to retry, unless this is the ``last_try``.
    """
    conn: sqlite3.Connection | None = None
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                               check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.Error as exc:
        if conn is not None:
            conn.close()
        if isinstance(exc, sqlite3.OperationalError) and not last_try:
            raise
        raise StoreError(f"run store '{path}' cannot be opened for reading: {exc}") from None


__all__ = ["open_read_only"]

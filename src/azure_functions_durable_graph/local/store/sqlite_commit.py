"""Group commit: the steps of concurrent runs share one SQLite transaction (and one sync).

A writer hands its step's writes to :class:`CommitQueue` with :meth:`CommitQueue.submit`:

- when no commit is in flight, the writer commits at once on its own thread (a lone run waits
  for nothing but its own commit);
- writers arriving while a commit is in flight are queued; when it ends, the queue's committer
  thread writes everything queued meanwhile in ONE transaction, and again until the queue is
  empty. Each writer gets a future done when the commit holding its writes is.

Within a batch every writer's writes run under a ``SAVEPOINT`` of their own: a write that fails
is rolled back to its savepoint and only its writer gets the error; the others commit. When
the transaction as a whole fails (``BEGIN``, ``COMMIT``, or an error after which SQLite rolled
the whole transaction back), every writer of the batch gets that error and nothing of the batch
is stored (the engine retries a transient one).
"""

from __future__ import annotations

import concurrent.futures
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from ...graph.errors import StoreError
from .sqlite_runs import RunRowWriter

#: A write: statements on the store's connection inside the batch's transaction; its value is
#: the writer's answer. It must not commit, and registers its after-commit bookkeeping itself.
Write = Callable[[sqlite3.Connection], Any]


class _Pending:
    __slots__ = ("future", "write")

    def __init__(self, write: Write) -> None:
        self.write = write
        self.future: concurrent.futures.Future[Any] = concurrent.futures.Future()


class CommitQueue:
    """Commits writers' writes, batching those that arrive while a commit is in flight."""

    def __init__(self, lock: threading.RLock, connection: Callable[[], sqlite3.Connection],
                 rows: RunRowWriter, path: object, name: str = "durable-graph-committer") -> None:
        self._lock = lock  # the store's: every transaction of the store takes it
        self._connection = connection  # the store's open connection (StoreError when closed)
        self._rows = rows
        self._path = path
        self._name = name
        self._mutex = threading.Lock()
        self._wake = threading.Condition(self._mutex)
        self._queue: list[_Pending] = []
        self._busy = False  # a commit is in flight (inline, or on the committer thread)
        self._handoff = False  # the committer thread is to commit the queue
        self._thread: threading.Thread | None = None
        self._stopping = False
        #: How many transactions and how many writes they held (for tests and benchmarks).
        self.transactions = 0
        self.writes = 0

    def submit(self, write: Write) -> concurrent.futures.Future[Any]:
        """Commit ``write``: at once when idle (the future is done on return), else batched."""
        pending = _Pending(write)
        with self._mutex:
            if self._busy:
                self._queue.append(pending)  # the commit in flight hands the queue over
                return pending.future
            self._busy = True
        try:
            self._commit([pending])
        finally:
            self._finished()
        return pending.future

    def _finished(self) -> None:
        """A commit ended: hand what came meanwhile to the committer thread, or go idle."""
        with self._mutex:
            if not self._queue:
                self._busy = False
                return
            self._handoff = True
            if self._thread is None:  # set to None by the thread itself, under the mutex
                self._stopping = False
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._mutex:
                while not self._handoff:
                    if self._stopping:
                        self._thread = None
                        return
                    self._wake.wait()
                self._handoff = False
                batch, self._queue = self._queue, []
            self._commit(batch)
            self._finished()

    def _commit(self, batch: list[_Pending]) -> None:
        """One transaction for ``batch``; sets every writer's future (raises nothing itself)."""
        # A writer that stopped waiting (its drive was cancelled) cancelled its future: its
        # write is left out, as if it had never been handed over.
        batch = [p for p in batch if p.future.set_running_or_notify_cancel()]
        if not batch:
            return
        outcomes: list[tuple[bool, Any]] = []
        try:
            with self._lock:
                conn = self._connection()
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    if len(batch) == 1:  # a lone writer needs no savepoint: its error is the batch's
                        outcomes.append((True, batch[0].write(conn)))
                    else:
                        outcomes = [self._savepoint(conn, p) for p in batch]
                    conn.execute("COMMIT")
                except sqlite3.Error as exc:
                    self._abort(conn)
                    raise self._store_error(exc) from exc
                except BaseException:
                    self._abort(conn)
                    raise
                self._rows.committed()
                self.transactions += 1
                self.writes += len(batch)
        except BaseException as exc:  # the whole batch failed: every writer gets the error
            for pending in batch:
                pending.future.set_exception(exc)
            return
        for pending, (ok, value) in zip(batch, outcomes, strict=True):
            if ok:
                pending.future.set_result(value)
            else:
                pending.future.set_exception(value)

    def _abort(self, conn: sqlite3.Connection) -> None:
        self._rows.rolled_back()
        if conn.in_transaction:
            conn.execute("ROLLBACK")

    def _savepoint(self, conn: sqlite3.Connection, pending: _Pending) -> tuple[bool, Any]:
        mark = self._rows.mark()
        conn.execute("SAVEPOINT writer")
        try:
            value = pending.write(conn)
        except Exception as exc:
            if not conn.in_transaction:
                raise  # SQLite rolled the whole transaction back (disk full, I/O): the batch fails
            conn.execute("ROLLBACK TO writer")
            conn.execute("RELEASE writer")
            self._rows.undo_to(mark)
            return False, self._store_error(exc) if isinstance(exc, sqlite3.Error) else exc
        conn.execute("RELEASE writer")
        return True, value

    def _store_error(self, exc: sqlite3.Error) -> StoreError:
        # The cause is kept: the engine retries an OperationalError (disk full).
        error = StoreError(f"run store '{self._path}': {exc}")
        error.__cause__ = exc
        return error

    def close(self) -> None:
        """Commit what is queued, then stop the committer thread (a later batch starts it again)."""
        with self._mutex:
            thread = self._thread
            self._stopping = True
            self._wake.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)


__all__ = ["CommitQueue", "Write"]

"""Leases, cancel requests and the change feed of the SQLite store (see :mod:`.lease_port`).

A lease is two columns of the run's row (``lease_owner``, ``lease_until``); the guarded step
write is :func:`guard_lease`, one statement on the row inside the step's own transaction.
The change feed is the ``run_signals`` table: a trigger adds a row for every stored event.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from ...graph.errors import LeaseLostError
from .base import FINISHED_STATUSES
from .lease_port import SIGNAL_KEEP_SECONDS, Lease, RunLeases
from .rows import check_limit, dump_json, load_json, not_found

_UNFINISHED = "status NOT IN ('" + "', '".join(FINISHED_STATUSES) + "')"
_CLAIM = (
    "UPDATE runs SET lease_owner = ?1, lease_until = ?2 WHERE instance_id = ?3 "
    f"AND {_UNFINISHED} AND (lease_owner IS NULL OR lease_owner = ?1 OR lease_until <= ?4)"
)
_DROP_OLD_SIGNALS = (
    "DELETE FROM run_signals WHERE created_at < (julianday('now') - 2440587.5) * 86400.0 - ?"
)
_END_LEASE = "UPDATE runs SET lease_owner = NULL, lease_until = NULL WHERE instance_id = ? AND lease_owner = ?"


def guard_lease(conn: sqlite3.Connection, instance_id: str, owner: str, status: str) -> None:
    """Inside a step's transaction: LeaseLostError unless ``owner`` holds the run's lease.

    A step to a finished status ends the lease in the same statement. An unknown or finished
    run passes here, so the step's own write reports it as before (not found, conflict).
    """
    if status in FINISHED_STATUSES:
        held = conn.execute(_END_LEASE, (instance_id, owner)).rowcount == 1
    else:
        held = conn.execute(
            "SELECT 1 FROM runs WHERE instance_id = ? AND lease_owner = ?", (instance_id, owner)
        ).fetchone() is not None
    if held:
        return
    row = conn.execute(
        "SELECT status, lease_owner FROM runs WHERE instance_id = ?", (instance_id,)
    ).fetchone()
    if row is None or str(row[0]) in FINISHED_STATUSES:
        return
    holder = "no engine" if row[1] is None else f"engine '{row[1]}'"
    raise LeaseLostError(
        f"run '{instance_id}': engine '{owner}' no longer holds its lease ({holder} does); "
        "the step was not written", details={"instance_id": instance_id, "owner": owner},
    )


def set_new_lease(conn: sqlite3.Connection, instance_id: str, lease: Lease | None) -> None:
    """Inside ``create_run``'s transaction: the creating engine's lease."""
    if lease is not None:
        conn.execute("UPDATE runs SET lease_owner = ?, lease_until = ? WHERE instance_id = ?",
                     (lease.owner, float(lease.until), instance_id))


class SqliteLeases(RunLeases):
    """The lease methods of ``SqliteRunStore`` (a mixin over its connection helpers)."""

    _write: Any  # the store's write transaction, a context manager giving the connection
    _all: Any
    _one: Any

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:
        tx: AbstractContextManager[sqlite3.Connection] = self._write()
        return tx

    def claim_run(self, instance_id: str, owner: str, *, now: float, until: float) -> bool:
        """Take the run's lease when it is free, expired or ``owner``'s (see the port)."""
        with self._tx() as conn:
            return bool(conn.execute(_CLAIM, (owner, float(until), instance_id, float(now))).rowcount == 1)

    def renew_leases(self, owner: str, *, until: float) -> list[str]:
        """Extend every lease ``owner`` holds; returns the runs' ids."""
        with self._tx() as conn:
            ids = [str(r[0]) for r in conn.execute(
                "SELECT instance_id FROM runs WHERE lease_owner = ?", (owner,))]
            conn.execute("UPDATE runs SET lease_until = ? WHERE lease_owner = ?", (float(until), owner))
        return ids

    def release_run(self, instance_id: str, owner: str) -> None:
        """End ``owner``'s lease on the run."""
        with self._tx() as conn:
            conn.execute(_END_LEASE, (instance_id, owner))

    def expire_leases(self, owner: str, *, now: float) -> None:
        """``owner``'s leases end at ``now``: other engines may claim the runs at once."""
        with self._tx() as conn:
            conn.execute("UPDATE runs SET lease_until = ? WHERE lease_owner = ? AND lease_until > ?",
                         (float(now), owner, float(now)))

    def lease_of(self, instance_id: str) -> Lease | None:
        """The run's lease holder and expiry, or None."""
        row = self._one("SELECT lease_owner, lease_until FROM runs WHERE instance_id = ?", (instance_id,))
        if row is None or row[0] is None:
            return None
        return Lease(str(row[0]), float(row[1]))

    def expired_leases(self, now: float, limit: int = 100) -> list[str]:
        """Unfinished runs whose lease expired, oldest expiry first (the lease index).

        Engines call this about once a second; it also drops change-feed signals older than
        a minute (by the rows' own wall-clock time: readers poll far more often than that).
        """
        with self._tx() as conn:
            conn.execute(_DROP_OLD_SIGNALS, (SIGNAL_KEEP_SECONDS,))
        rows: Sequence[Any] = self._all(
            "SELECT instance_id FROM runs WHERE lease_owner IS NOT NULL AND lease_until <= ? "
            f"AND {_UNFINISHED} ORDER BY lease_until LIMIT ?", (float(now), check_limit(limit)))
        return [str(r[0]) for r in rows]

    def request_cancel(self, instance_id: str, reason: str | None) -> None:
        """Store a cancel request (the first one's reason is kept) and signal it."""
        text = dump_json({"reason": reason}, f"run '{instance_id}' cancel request")
        with self._tx() as conn:
            cursor = conn.execute(
                "UPDATE runs SET cancel_request = IFNULL(cancel_request, ?) WHERE instance_id = ?",
                (text, instance_id))
            if cursor.rowcount != 1:
                raise not_found(instance_id)
            conn.execute("INSERT INTO run_signals (instance_id) VALUES (?)", (instance_id,))

    def cancel_request(self, instance_id: str) -> dict[str, Any] | None:
        """The run's cancel request, or None."""
        row = self._one("SELECT cancel_request FROM runs WHERE instance_id = ?", (instance_id,))
        if row is None or row[0] is None:
            return None
        return dict(load_json(row[0], f"run '{instance_id}' cancel request"))

    def last_signal(self) -> int:
        """The change feed's newest position."""
        row = self._one("SELECT MAX(position) FROM run_signals")
        return 0 if row is None or row[0] is None else int(row[0])

    def signals_after(self, position: int, limit: int = 1000) -> tuple[int, list[str]]:
        """Runs signalled after ``position`` and where to read next; old signals are dropped."""
        rows: Sequence[Any] = self._all(
            "SELECT position, instance_id FROM run_signals WHERE position > ? ORDER BY position LIMIT ?",
            (int(position), check_limit(limit)))
        if not rows:
            return position, []
        return int(rows[-1][0]), list(dict.fromkeys(str(r[1]) for r in rows))

    def last_seq(self, instance_id: str) -> int | None:
        """The run's last event sequence, or None."""
        row = self._one("SELECT last_seq FROM runs WHERE instance_id = ?", (instance_id,))
        return None if row is None else int(row[0])




__all__ = ["SqliteLeases", "guard_lease", "set_new_lease"]

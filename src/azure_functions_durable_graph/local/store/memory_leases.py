"""Leases, cancel requests and the change feed of the in-memory store (see :mod:`.lease_port`).

The same behaviour as the SQLite store's (the conformance tests run on both), for engines
sharing one ``MemoryRunStore`` in a process. A step write's lease check and the write happen
under the store's lock, so nothing comes between them.
"""

from __future__ import annotations

import threading
from typing import Any

from ...graph.errors import LeaseLostError
from .base import FINISHED_STATUSES, UNFINISHED_STATUSES, RunStore, Transition
from .lease_port import Lease, RunLeases
from .memory_queries import StoredRun
from .rows import check_limit, dump_json, load_json

#: Signals kept in memory (older ones are dropped; readers poll far more often).
SIGNALS_KEPT = 10_000


class MemoryLeases(RunLeases):
    """The lease methods of ``MemoryRunStore`` (a mixin over its runs and lock)."""

    _lock: threading.RLock
    _runs: dict[str, StoredRun]

    def _run(self, instance_id: str) -> StoredRun:
        raise NotImplementedError  # the store's

    def _maybe_run(self, instance_id: str) -> StoredRun | None:
        raise NotImplementedError  # the store's

    def _init_leases(self) -> None:
        self._signal_rows: list[tuple[int, str]] = []
        self._signal_position = 0

    def signal(self, instance_id: str) -> None:
        """Add a change-feed signal for the run (an event was stored); under the lock."""
        self._signal_position += 1
        self._signal_rows.append((self._signal_position, instance_id))
        if len(self._signal_rows) > SIGNALS_KEPT:
            del self._signal_rows[: len(self._signal_rows) - SIGNALS_KEPT]

    def claim_run(self, instance_id: str, owner: str, *, now: float, until: float) -> bool:
        """Take the run's lease when it is free, expired or ``owner``'s (see the port)."""
        with self._lock:
            run = self._maybe_run(instance_id)
            if run is None or run.columns["status"] not in UNFINISHED_STATUSES:
                return False
            if run.lease is not None and run.lease[0] != owner and run.lease[1] > now:
                return False
            run.lease = (owner, float(until))
            return True

    def renew_leases(self, owner: str, *, until: float) -> list[str]:
        """Extend every lease ``owner`` holds; returns the runs' ids."""
        with self._lock:
            held = [i for i, r in self._runs.items() if r.lease is not None and r.lease[0] == owner]
            for instance_id in held:
                self._runs[instance_id].lease = (owner, float(until))
            return held

    def release_run(self, instance_id: str, owner: str) -> None:
        """End ``owner``'s lease on the run."""
        with self._lock:
            run = self._maybe_run(instance_id)
            if run is not None and run.lease is not None and run.lease[0] == owner:
                run.lease = None

    def expire_leases(self, owner: str, *, now: float) -> None:
        """``owner``'s leases end at ``now``: other engines may claim the runs at once."""
        with self._lock:
            for run in self._runs.values():
                if run.lease is not None and run.lease[0] == owner and run.lease[1] > now:
                    run.lease = (owner, float(now))

    def lease_of(self, instance_id: str) -> Lease | None:
        """The run's lease holder and expiry, or None."""
        with self._lock:
            run = self._maybe_run(instance_id)
            lease = None if run is None else run.lease
        return None if lease is None else Lease(*lease)

    def expired_leases(self, now: float, limit: int = 100) -> list[str]:
        """Unfinished runs whose lease expired, oldest expiry first."""
        check_limit(limit)
        with self._lock:
            expired = [(r.lease[1], i) for i, r in self._runs.items()
                       if r.lease is not None and r.lease[1] <= now
                       and r.columns["status"] in UNFINISHED_STATUSES]
        return [i for _until, i in sorted(expired)[:limit]]

    def request_cancel(self, instance_id: str, reason: str | None) -> None:
        """Store a cancel request (the first one's reason is kept) and signal it."""
        text = dump_json({"reason": reason}, f"run '{instance_id}' cancel request")
        with self._lock:
            run = self._run(instance_id)
            if run.cancel_request is None:
                run.cancel_request = text
            self.signal(instance_id)

    def cancel_request(self, instance_id: str) -> dict[str, Any] | None:
        """The run's cancel request, or None."""
        with self._lock:
            run = self._maybe_run(instance_id)
            text = None if run is None else run.cancel_request
        return None if text is None else dict(load_json(text))

    def last_signal(self) -> int:
        """The change feed's newest position."""
        with self._lock:
            return self._signal_position

    def signals_after(self, position: int, limit: int = 1000) -> tuple[int, list[str]]:
        """Runs signalled after ``position`` and where to read next."""
        check_limit(limit)
        with self._lock:
            rows = [s for s in self._signal_rows if s[0] > position][:limit]
        if not rows:
            return position, []
        return rows[-1][0], list(dict.fromkeys(i for _p, i in rows))

    def last_seq(self, instance_id: str) -> int | None:
        """The run's last event sequence, or None."""
        with self._lock:
            run = self._maybe_run(instance_id)
            return None if run is None else run.last_seq

    def commit_transition(self, instance_id: str, transition: Transition) -> int:
        """The transition, checked against the lease under the store's lock (see the port)."""
        with self._lock:
            owner = transition.owner
            run = self._maybe_run(instance_id)
            if owner is not None and run is not None and run.columns["status"] not in FINISHED_STATUSES:
                if run.lease is None or run.lease[0] != owner:
                    holder = "no engine" if run.lease is None else f"engine '{run.lease[0]}'"
                    raise LeaseLostError(
                        f"run '{instance_id}': engine '{owner}' no longer holds its lease "
                        f"({holder} does); the step was not written",
                        details={"instance_id": instance_id, "owner": owner})
            last = RunStore.commit_transition(self, instance_id, transition)  # type: ignore[arg-type]
            if owner is not None and run is not None and transition.status in FINISHED_STATUSES:
                run.lease = None
            return last


__all__ = ["SIGNALS_KEPT", "MemoryLeases"]

"""Queries and retention of the in-memory run store (listing, purge, prune), as a mixin.

Also the records the store keeps per run: its row (JSON columns as text) and its child rows.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ...execution.cursors import decode_cursor, encode_cursor
from ...execution.run_policy import refuse_unless_finished
from .base import FINISHED_STATUSES, UNFINISHED_STATUSES, RunRecord
from .rows import (
    check_keep_last,
    check_limit,
    keep_threshold,
    listed_run_record,
    run_record,
    status_filter,
)


@dataclass
class StoredResult:
    """A committed task result (its JSON as text) and its commit order."""

    step: int
    node: str
    text: str
    started_at: float
    finished_at: float
    order: int


@dataclass
class StoredEvent:
    """An event in a run's inbox."""

    name: str
    payload: str
    created_at: float
    delivered_at: float | None = None


@dataclass
class StoredRun:
    """One run's row (JSON columns as text) and its child rows."""

    columns: dict[str, Any]
    last_seq: int = 0
    events: list[tuple[int, int, float, str]] = field(default_factory=list)  # seq, step, at, json
    emits: list[tuple[int, int, float, str]] = field(default_factory=list)  # the same, of emits
    emits_dropped: int = 0  # then emits[0] is the marker event that stands for them
    results: dict[tuple[str, int], StoredResult] = field(default_factory=dict)
    inbox: dict[str, StoredEvent] = field(default_factory=dict)
    timers: dict[str, tuple[float, str]] = field(default_factory=dict)  # id -> (fire_at, kind)
    lease: tuple[str, float] | None = None  # (owner, until), see lease_port.py
    cancel_request: str | None = None  # JSON {"reason": ...}
    deferred: list[tuple[str, int, float]] = field(default_factory=list)  # task, attempt, applied at

    def record(self) -> RunRecord:
        """The run row as a :class:`RunRecord` (JSON columns parsed afresh)."""
        return run_record(self.columns)


class MemoryQueries:
    """Listing and retention; relies on the store's lock, runs and checks."""

    if TYPE_CHECKING:
        _lock: threading.RLock
        _runs: dict[str, StoredRun]
        def _check_open(self) -> None: ...
        def _run(self, instance_id: str) -> StoredRun: ...
        def _current_listed(self, record: RunRecord) -> RunRecord: ...

    # -- queries ---------------------------------------------------------------------------
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
        statuses = status_filter(status)
        position = decode_cursor(cursor) if cursor is not None else None
        with self._lock:
            self._check_open()
            chosen = []
            for run in self._runs.values():
                c = run.columns
                key = (c["created_at"], c["instance_id"])
                if (
                    (graph_name is None or c["graph_name"] == graph_name)
                    and (statuses is None or c["status"] in statuses)
                    and (created_after is None or c["created_at"] >= created_after)
                    and (created_before is None or c["created_at"] < created_before)
                    and (position is None or key < position)
                ):
                    chosen.append((key, run))
            chosen.sort(key=lambda item: item[0], reverse=True)
            records = [self._current_listed(listed_run_record(run.columns)) for _key, run in chosen[:limit]]
        more = len(chosen) > limit
        last = records[-1] if records else None
        next_cursor = encode_cursor(last.created_at, last.instance_id) if more and last else None
        return records, next_cursor

    def unfinished_runs(self) -> list[str]:
        """Ids of runs that are running or waiting, oldest first."""
        with self._lock:
            self._check_open()
            keys = [
                (run.columns["created_at"], instance_id)
                for instance_id, run in self._runs.items()
                if run.columns["status"] in UNFINISHED_STATUSES
            ]
        return [instance_id for _at, instance_id in sorted(keys)]

    # -- retention -------------------------------------------------------------------------
    def purge(self, instance_id: str) -> None:
        """Delete a finished run and all its rows (RunConflictError while it is unfinished)."""
        with self._lock:
            status = self._run(instance_id).columns["status"]
            refuse_unless_finished(instance_id, status, "purge")
            del self._runs[instance_id]

    def prune_history(
        self, *, older_than: float | None = None, keep_last: int | None = None
    ) -> int:
        """Delete task results and progress events of finished runs; returns rows deleted."""
        check_keep_last(keep_last)
        cutoff = older_than if older_than is not None or keep_last is not None else time.time()
        deleted = 0
        with self._lock:
            self._check_open()
            for run in self._runs.values():
                if run.columns["status"] not in FINISHED_STATUSES:
                    continue
                steps = [r.step for r in run.results.values()] + [e[1] for e in run.events + run.emits]
                threshold = keep_threshold(steps, keep_last)
                if threshold is None:
                    continue
                results = {
                    k: r
                    for k, r in run.results.items()
                    if not _goes(r.step, r.finished_at, threshold, cutoff)
                }
                events = [e for e in run.events if not _goes(e[1], e[2], threshold, cutoff)]
                emits = [e for e in run.emits if not _goes(e[1], e[2], threshold, cutoff)]
                deleted += (len(run.results) - len(results) + len(run.events) - len(events)
                            + len(run.emits) - len(emits))
                run.results, run.events, run.emits = results, events, emits
        return deleted


def _goes(step: int, at: float, threshold: float, cutoff: float | None) -> bool:
    """Whether a history row at ``step`` recorded at ``at`` is pruned."""
    return step < threshold and (cutoff is None or at < cutoff)


__all__ = ["MemoryQueries", "StoredEvent", "StoredResult", "StoredRun"]

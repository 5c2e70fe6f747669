"""``MemoryRunStore``: the run store in process memory, for tests and throwaway engines.

It behaves exactly like the SQLite store (the same conformance tests run against both): values
are kept as JSON text, so what comes back is a fresh copy and non-JSON values are rejected.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ...graph.errors import StoreError
from .base import (
    UNFINISHED_STATUSES,
    DueTimer,
    InboxEvent,
    Lease,
    RunRecord,
    RunStore,
    StepRow,
    ensure_unfinished,
)
from .memory_behind import MemoryWriteBehind
from .memory_leases import MemoryLeases
from .memory_queries import MemoryQueries, StoredEvent, StoredResult, StoredRun
from .rows import (
    check_limit,
    conflict,
    dump_json,
    emits_dropped_event,
    load_json,
    not_found,
    result_parts,
    run_columns,
    step_of,
)


class MemoryRunStore(MemoryWriteBehind, MemoryLeases, MemoryQueries, RunStore):
    """A :class:`RunStore` kept in dictionaries behind a lock; nothing survives the process."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._manifests: dict[str, tuple[str, str]] = {}
        self._runs: dict[str, StoredRun] = {}
        self._order = itertools.count(1)
        self._closed = False
        self._init_leases()

    def __repr__(self) -> str:
        return f"MemoryRunStore(runs={len(self._runs)})"

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("run store 'memory' is closed")

    def _run(self, instance_id: str) -> StoredRun:
        self._check_open()
        run = self._runs.get(instance_id)
        if run is None:
            raise not_found(instance_id)
        return run

    def _maybe_run(self, instance_id: str) -> StoredRun | None:
        self._check_open()
        return self._runs.get(instance_id)

    # -- manifests -------------------------------------------------------------------------
    def put_manifest(self, graph_hash: str, graph_name: str, manifest_json: str) -> None:
        """Store a graph manifest under its hash (a second call for the hash is a no-op)."""
        with self._lock:
            self._check_open()
            self._manifests.setdefault(graph_hash, (graph_name, manifest_json))

    def get_manifest(self, graph_hash: str) -> str | None:
        """The manifest JSON stored under ``graph_hash``, or None."""
        with self._lock:
            self._check_open()
            entry = self._manifests.get(graph_hash)
        return None if entry is None else entry[1]

    # -- runs ------------------------------------------------------------------------------
    def create_run(
        self, run: RunRecord, events: Sequence[dict[str, Any]] = (), *, lease: Lease | None = None
    ) -> RunRecord:
        """Insert a new run and its first progress ``events`` (numbered from 1) in one write,
        leased to ``lease.owner`` when given.

        RunConflictError when the instance id already exists.
        """
        columns = run_columns(run)
        what = f"run '{run.instance_id}'"
        texts = [dump_json(e, f"{what} event") for e in events]
        step = step_of(run.snapshot)
        with self._lock:
            if self._maybe_run(run.instance_id) is not None:
                raise conflict(run.instance_id, f"run '{run.instance_id}' already exists")
            stored = self._runs[run.instance_id] = StoredRun(columns, last_seq=len(texts))
            stored.lease = None if lease is None else (lease.owner, float(lease.until))
            stored.events = [(i, step, float(run.updated_at), t) for i, t in enumerate(texts, 1)]
            return stored.record()

    def get_run(self, instance_id: str) -> RunRecord:
        """The stored run (RunNotFoundError naming the run when there is none)."""
        with self._lock:
            return self._current(self._run(instance_id).record())

    def find_run(self, instance_id: str) -> RunRecord | None:
        """The stored run, or None."""
        with self._lock:
            run = self._maybe_run(instance_id)
            return None if run is None else self._current(run.record())

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
        what = f"run '{instance_id}'"
        changes = {
            "snapshot": dump_json(snapshot, f"{what} snapshot"),
            "status": status,
            "updated_at": float(updated_at),
            "output": None if output is None else dump_json(output, f"{what} output"),
            "error": None if error is None else dump_json(error, f"{what} error"),
        }
        event_json = [dump_json(e, f"{what} event") for e in events]
        step = step_of(snapshot)
        with self._lock:
            run = self._run(instance_id)
            ensure_unfinished(instance_id, str(run.columns["status"]))
            for text in event_json:
                run.last_seq += 1
                run.events.append((run.last_seq, step, float(updated_at), text))
            run.columns.update(changes)
            run.deferred.clear()  # the snapshot written holds them
            return run.last_seq

    def list_events(
        self, instance_id: str, after_seq: int = 0, limit: int = 1000
    ) -> list[tuple[int, dict[str, Any]]]:
        """Progress events with a sequence number above ``after_seq``, oldest first."""
        check_limit(limit)
        with self._lock:
            run = self._maybe_run(instance_id)
            rows = [] if run is None else list(itertools.islice(
                (e for e in heapq.merge(run.events, run.emits) if e[0] > after_seq), limit))
        return [(seq, load_json(text)) for seq, _step, _at, text in rows]

    def append_emits(
        self, instance_id: str, emits: Sequence[tuple[int, str]], *, at: float, keep: int
    ) -> int | None:
        """Append emits after the run's last event, keeping the newest ``keep`` (see base)."""
        with self._lock:
            run = self._maybe_run(instance_id)
            if run is None or run.columns["status"] not in UNFINISHED_STATUSES:
                return None
            for step, text in emits:
                run.last_seq += 1
                run.emits.append((run.last_seq, step, float(at), text))
            kept = len(run.emits) - (1 if run.emits_dropped else 0)
            if kept > keep:
                drop = kept - keep + (1 if run.emits_dropped else 0)  # the old marker goes too
                gone, run.emits = run.emits[:drop], run.emits[drop:]
                run.emits_dropped += kept - keep
                seq, step, when, _text = gone[-1]  # the marker takes the newest dropped slot
                run.emits.insert(0, (seq, step, when, emits_dropped_event(run.emits_dropped)))
            return run.last_seq

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
        text = dump_json(result, f"run '{instance_id}' task '{task_id}' result")
        with self._lock:
            run = self._run(instance_id)
            key = (task_id, attempt)
            if key in run.results:
                return False
            run.results[key] = StoredResult(
                step, node, text, float(started_at), float(finished_at), next(self._order)
            )
            return True

    def get_task_result(
        self, instance_id: str, task_id: str, attempt: int
    ) -> dict[str, Any] | None:
        """The committed result of a task attempt, or None."""
        with self._lock:
            run = self._maybe_run(instance_id)
            found = None if run is None else run.results.get((task_id, attempt))
        return None if found is None else dict(load_json(found.text))

    def history(
        self, instance_id: str, limit: int | None = None, after: int | None = None
    ) -> list[StepRow]:
        """Executed tasks oldest first (by step, then commit order); ``after`` is a step."""
        if limit is not None:
            check_limit(limit)
        with self._lock:
            run = self._maybe_run(instance_id)
            items = [] if run is None else list(run.results.items())
        items = [i for i in items if after is None or i[1].step > after]
        items.sort(key=lambda i: (i[1].step, i[1].order))
        out = []
        for (task_id, attempt), r in items[:limit]:
            ok, update, route, error = result_parts(load_json(r.text))
            out.append(StepRow(
                instance_id=instance_id, step=r.step, task_id=task_id, node=r.node,
                attempt=attempt, ok=ok, update=update, route=route, error=error,
                started_at=r.started_at, finished_at=r.finished_at,
            ))  # fmt: skip
        return out

    # -- event inbox -----------------------------------------------------------------------
    def enqueue_event(
        self, instance_id: str, name: str, payload: Any, *, event_id: str | None, created_at: float
    ) -> str:
        """Store an event for delivery; a repeated ``event_id`` is ignored. Returns the id."""
        event_id = event_id if event_id is not None else uuid.uuid4().hex
        text = dump_json(payload, f"run '{instance_id}' event '{name}' payload")
        with self._lock:
            run = self._run(instance_id)
            if event_id not in run.inbox:
                run.inbox[event_id] = StoredEvent(name, text, float(created_at))
                self.signal(instance_id)  # the change feed, as SQLite's trigger does
        return event_id

    def pending_events(self, instance_id: str) -> list[InboxEvent]:
        """Events not yet delivered, in the order they were stored."""
        with self._lock:
            run = self._maybe_run(instance_id)
            items = [] if run is None else list(run.inbox.items())
        return [
            InboxEvent(instance_id, event_id, e.name, load_json(e.payload), e.created_at)
            for event_id, e in items
            if e.delivered_at is None
        ]

    def find_event(self, instance_id: str, event_id: str) -> InboxEvent | None:
        """The run's stored event with this id, delivered or not (None when there is none)."""
        with self._lock:
            run = self._maybe_run(instance_id)
            event = None if run is None else run.inbox.get(event_id)
        if event is None:
            return None
        return InboxEvent(instance_id, event_id, event.name, load_json(event.payload), event.created_at,
                          event.delivered_at)

    def mark_events_delivered(
        self, instance_id: str, event_ids: Iterable[str], *, delivered_at: float | None = None
    ) -> None:
        """Mark events delivered (kept until purge); the time defaults to the run's update."""
        ids = list(event_ids)
        with self._lock:
            run = self._run(instance_id)
            when = float(run.columns["updated_at"] if delivered_at is None else delivered_at)
            for event_id in ids:
                event = run.inbox.get(event_id)
                if event is not None and event.delivered_at is None:
                    event.delivered_at = when

    # -- timers ----------------------------------------------------------------------------
    def upsert_timers(self, instance_id: str, timers: Sequence[Mapping[str, Any]]) -> None:
        """Replace the run's timers with ``timers`` (each with ``id``, ``fire_at``, ``kind``)."""
        rows = {str(t["id"]): (float(t["fire_at"]), str(t.get("kind", ""))) for t in timers}
        with self._lock:
            self._run(instance_id).timers = rows

    def _unfinished_timers(self) -> list[DueTimer]:
        return [
            (instance_id, timer_id, fire_at)
            for instance_id, run in self._runs.items()
            if run.columns["status"] in UNFINISHED_STATUSES
            for timer_id, (fire_at, _kind) in run.timers.items()
        ]

    def due_timers(self, now: float, limit: int = 100) -> list[DueTimer]:
        """Timers of unfinished runs firing at or before ``now``, earliest first."""
        check_limit(limit)
        with self._lock:
            self._check_open()
            due = [t for t in self._unfinished_timers() if t[2] <= now]
        return sorted(due, key=lambda t: (t[2], t[0], t[1]))[:limit]

    def next_timer_at(self) -> float | None:
        """When the earliest timer of an unfinished run fires, or None."""
        with self._lock:
            self._check_open()
            return min((t[2] for t in self._unfinished_timers()), default=None)

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        """Mark the store closed (its data is dropped); closing twice is harmless."""
        with self._lock:
            self._closed = True
            self._runs.clear()
            self._manifests.clear()


__all__ = ["MemoryRunStore"]

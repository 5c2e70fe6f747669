"""Driver hooks backed by a run store: results committed before they are applied.

Write-behind: a transition that only applies task results commits them, its events and the
run row's progress but not the snapshot (``behind_steps``/``behind_bytes``); every read replays
them (see ``store/write_behind.py``). The snapshot is written on any other transition, at the
limits, and for every run still behind at shutdown (:meth:`StoreHooks.flush_behind`).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..core import COMPLETED, RUNNING, TaskCommand, build_output
from ..execution.driver import ActiveRun
from .store.base import ResultRow, RunRecord, RunStore, Transition

ProgressListener = Callable[[str, int, list[dict[str, Any]]], None]


class StoreHooks:
    """Persists a driven run: task results keyed by (run, task, attempt), then the snapshot."""

    def __init__(self, store: RunStore, *, now: Callable[[], float] = time.time,
                 on_progress: ProgressListener | None = None, behind_steps: int = 0,
                 behind_bytes: int = 0) -> None:
        self.store = store
        self.now = now
        self.on_progress = on_progress
        #: Write-behind: at most this many transitions in a row leave the snapshot out, and
        #: only while their results stay under ``behind_bytes`` of JSON (0: every step writes it).
        self.behind_steps = behind_steps
        self.behind_bytes = behind_bytes
        self._behind: dict[str, tuple[int, int]] = {}  # run -> deferred transitions, their bytes
        self.recovering: set[str] = set()  # runs loaded from storage: look for committed results
        self._timers: dict[str, list[dict[str, Any]]] = {}
        self._started: dict[tuple[str, str], float] = {}  # (run, task) -> when it started
        self._pending: dict[str, list[ResultRow]] = {}
        # A store with a commit queue (SQLite): a step waits for its batch without blocking
        # the worker loop, so the loop's other runs reach their commits and join the batch.
        self._submit = getattr(store, "submit_transition", None)

    async def committed_result(self, run: ActiveRun, task_id: str) -> dict[str, Any] | None:
        """A result committed before a crash (only looked up for runs loaded from storage)."""
        run_id = run.run_id
        self._started[(run_id, task_id)] = self.now()
        if run_id not in self.recovering:
            return None
        task = next((t for t in run.snapshot["tasks"] if t["id"] == task_id), None)
        if task is None:
            return None
        return self.store.get_task_result(run.run_id, task_id, task["attempt"])

    async def record_result(self, run: ActiveRun, command: TaskCommand, result: dict[str, Any]) -> None:
        """Hold the result; it is committed with the transition that applies it, atomically.

        One transaction for result + new snapshot is stronger than "committed before applied":
        the two can never be separated by a crash, so no result is applied twice or lost.
        """
        run_id = run.run_id
        started = self._started.pop((run_id, command["task_id"]), None)
        finished = self.now()
        self._pending.setdefault(run_id, []).append(ResultRow(
            step=command["step"], task_id=command["task_id"], node=command["node"],
            attempt=command["attempt"], result=result,
            started_at=started if started is not None else finished, finished_at=finished,
        ))

    def record_start(self, run: ActiveRun, record: RunRecord, events: list[dict[str, Any]]) -> None:
        """Create the run's row with its first progress events, in one write."""
        self.store.create_run(record, events)
        timers = run.snapshot["timers"]
        if timers:  # a start that already set a deadline (rare): its timers go in too
            self.store.upsert_timers(run.run_id, timers)
        self._timers[run.run_id] = [dict(t) for t in timers]
        if self.on_progress is not None and events:
            self.on_progress(run.run_id, len(events), events)

    async def record_transition(self, run: ActiveRun, events: list[dict[str, Any]]) -> None:
        """Commit held results, the snapshot, progress events, changed timers and deliveries."""
        run_id = run.run_id
        snapshot = run.snapshot
        status = snapshot["status"]
        timers = snapshot["timers"]
        timers_changed = self._timers.get(run_id) != timers
        results = self._pending.get(run_id, ())
        deferred = self._deferral(run, results, timers_changed)
        transition = Transition(
            snapshot=snapshot, status=status, updated_at=self.now(),
            output=build_output(run.graph, snapshot) if status == COMPLETED else None,
            error=snapshot.get("error"), events=events,
            results=results,
            timers=timers if timers_changed else None,
            delivered=[e["event_id"] for e in events if e["type"] == "event_received"],
            deferred_at=None if deferred is None else run.applied_at,
        )
        if self._submit is None:
            seq = self.store.commit_transition(run_id, transition)
        else:
            committed = self._submit(run_id, transition)  # done already when it committed at once
            seq = committed.result() if committed.done() else await asyncio.wrap_future(committed)
        self._pending.pop(run_id, None)  # only now: a failed commit is retried with them
        if deferred is None:
            self._behind.pop(run_id, None)
        else:
            self._behind[run_id] = deferred
        if timers_changed:  # a copy: the interpreter changes the snapshot's timers in place
            self._timers[run_id] = [dict(t) for t in timers]
        if self.on_progress is not None and events:
            self.on_progress(run_id, seq, events)

    def _deferral(self, run: ActiveRun, results: Sequence[ResultRow], timers_changed: bool) -> tuple[int, int] | None:
        """The run's write-behind count and bytes after this transition, when it may leave the
        snapshot out: it only applies task results (no event, timer change or cancel), the run
        is still running and neither limit is reached. None: the snapshot is written."""
        snapshot = run.snapshot
        if (not results or self.behind_steps <= 0 or run.applied_at is None or timers_changed
                or snapshot["status"] != RUNNING or snapshot.get("cancel") is not None):
            return None
        count, size = self._behind.get(run.run_id, (0, 0))
        size += sum(len(json.dumps(r.result, separators=(",", ":"))) for r in results)
        if count >= self.behind_steps or size > self.behind_bytes:
            return None
        return count + 1, size

    def flush_behind(self) -> int:
        """Write the snapshot of every run with deferred steps (engine shutdown); how many."""
        flushed = 0
        for run_id in list(self._behind):
            flushed += self.store.flush_deferred(run_id)
            self._behind.pop(run_id, None)
        return flushed

    def forget(self, run_id: str) -> None:
        """Drop in-memory bookkeeping of a run that is no longer driven."""
        self.recovering.discard(run_id)
        self._timers.pop(run_id, None)
        self._pending.pop(run_id, None)


__all__ = ["StoreHooks"]

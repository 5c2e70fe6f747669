"""``LocalEngine``: the embedded durable engine (asyncio + a run store, SQLite by default).

Runs are driven by the shared :class:`RunDriver`; every task result is committed before it is
applied and every transition is persisted, so a restarted engine resumes unfinished runs and
re-runs only tasks without a committed result. A run parked on a wait holds no memory: an event
or a due timer loads it back.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..core import CANCELLED, FINISHED, RUNNING, apply_cancel
from ..execution.backend import RunStatus
from ..execution.clock import Clock, SystemClock
from ..execution.driver import ActiveRun, RunDriver
from ..execution.emits import BatchedEmits, EmitRow
from ..execution.event_ids import check_event_id
from ..execution.registry import GraphRegistry
from ..execution.run_policy import (
    EventTarget,
    FirstSend,
    admit_event,
    new_instance_id,
    prepare_start,
    refuse_if_finished,
    repeated_start,
)
from ..execution.sync_pool import DEFAULT_SYNC_THREADS, DEFAULT_SYNC_THREADS_PER_RUN, SyncPool
from ..graph.errors import (
    GraphNotFoundError,
    HandlerNotFoundError,
    InvalidInputError,
    RunConflictError,
    StoreError,
)
from ..graph.manifest import shown_state
from ..graph.registration import GraphRegistration
from .engine_reads import StoredRunReads
from .hooks import ProgressListener, StoreHooks
from .ownership import EngineLock
from .records import DEFAULT_DB, new_run_record, open_store, run_status
from .registry import compiled_for, load_run
from .store.base import RunRecord, RunStore
from .store_retry import RetryingHooks, retry_transient
from .timer_loop import TimerLoop
from .watchers import RunWatchers
from .workers import DriveHandle, WorkerLoops

logger = logging.getLogger(__name__)

#: How many ``ctx.emit`` chunks a run keeps by default (the oldest are dropped past it).
EMIT_LIMIT = 10_000
#: Write-behind defaults: a run's snapshot is written at least every this many result-only
#: steps, and before their deferred results pass this many bytes of JSON (docs/engine.md).
WRITE_BEHIND_STEPS = 64
WRITE_BEHIND_BYTES = 1 << 20


class LocalEngine(StoredRunReads):
    """Embedded engine implementing the ``RunBackend`` port.

    Use as ``async with LocalEngine(db_path) as engine:``; ``concurrency`` bounds the runs
    driven at once, ``workers`` the threads whose event loops drive them (a lone task's sync
    handler runs inline there). The sync handlers of a superstep's several tasks run on a pool
    of ``sync_threads`` threads shared by the engine's runs, at most ``sync_threads_per_run``
    of one run at once.
    ``emit_limit`` is how many ``ctx.emit`` chunks a run keeps (the oldest go first).
    ``durability`` (SQLite): ``"process"``, the default for a file the engine opens, keeps a
    commit through a crash of the process; ``"power"`` through a power loss too (docs/engine.md).
    ``write_behind_steps``/``write_behind_bytes``: a step that only applies task results leaves
    the run's snapshot out (reads replay its results), at most that many steps or bytes of
    results in a row; 0 writes the snapshot at every step (docs/engine.md).
    """

    def __init__(
        self, store: RunStore | str | Path | None = None, *, concurrency: int = 64, workers: int = 8,
        clock: Clock | None = None, emit_limit: int = EMIT_LIMIT, durability: str | None = None,
        write_behind_steps: int = WRITE_BEHIND_STEPS, write_behind_bytes: int = WRITE_BEHIND_BYTES,
        sync_threads: int = DEFAULT_SYNC_THREADS, sync_threads_per_run: int = DEFAULT_SYNC_THREADS_PER_RUN,
    ) -> None:
        self._sync_pool = SyncPool(sync_threads, per_run=sync_threads_per_run, owner="LocalEngine")
        if isinstance(emit_limit, bool) or not isinstance(emit_limit, int) or emit_limit < 1:
            raise InvalidInputError(f"LocalEngine: emit_limit must be a positive integer, got {emit_limit!r}")
        self.store = open_store(store, durability)
        path = getattr(self.store, "path", None)
        self._lock = EngineLock(path) if isinstance(path, Path) else None
        self.clock = clock or SystemClock()
        self._graphs = GraphRegistry()
        self._concurrency = concurrency
        self._worker_count = workers
        self._workers: WorkerLoops | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Guards the hand-over between an API call posting to a driven run and that drive ending.
        self._sched_lock = threading.RLock()
        for name, value in (("write_behind_steps", write_behind_steps), ("write_behind_bytes", write_behind_bytes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidInputError(f"LocalEngine: {name} must be a non-negative integer, got {value!r}")
        self.hooks = StoreHooks(self.store, now=self.clock.now, on_progress=self._progress,
                                behind_steps=write_behind_steps, behind_bytes=write_behind_bytes)
        self.emit_limit = emit_limit
        self._emits = BatchedEmits(self._write_emits)
        # A lone task's sync handler runs inline on the worker loop that drives the run (see
        # workers.py); those of a superstep's several tasks on the engine's sync pool.
        self.driver = RunDriver(clock=self.clock, hooks=RetryingHooks(self.hooks, self.clock),
                                park_on_timers=True, emits=self._emits, sync_pool=self._sync_pool)
        self._active: dict[str, ActiveRun] = {}
        self._drives: dict[str, DriveHandle] = {}
        self._watchers = RunWatchers()
        self._tokens: dict[str, object] = {}
        self._timers = TimerLoop(self.store, self.clock, self.wake_due_runs, lambda: self._running)
        self._running = False
        self._listeners: list[ProgressListener] = []
        self._hidden_by_hash: dict[str, frozenset[str]] = {}

    def add_listener(self, listener: ProgressListener) -> None:
        """Call ``listener(instance_id, seq, events)`` after every persisted transition."""
        self._listeners.append(listener)

    # -- lifecycle -------------------------------------------------------------------------
    async def __aenter__(self) -> LocalEngine:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        """Take the database, start the workers, resume unfinished runs, start the timer loop."""
        if self._lock is not None:
            self._lock.acquire()
        self._watchers.loop = asyncio.get_running_loop()
        self._workers = WorkerLoops(self._worker_count, concurrency=self._concurrency)
        self._running = True
        self._resume_unfinished()
        self._timers.start()

    async def close(self, *, close_store: bool = True) -> None:
        """Stop driving (runs stay stored as they are and resume on the next open).

        With ``close_store=False`` the engine can be opened again (an app served twice).
        """
        self._running = False
        with self._sched_lock:
            drives = list(self._drives.values())
        for drive in drives:
            drive.cancel()
        for drive in drives:
            with contextlib.suppress(asyncio.CancelledError, concurrent.futures.CancelledError, Exception):
                await asyncio.wait_for(asyncio.wrap_future(drive.future), 30)
        await self._timers.stop()
        self._emits.close()  # after the drives: what their nodes emitted is written
        with contextlib.suppress(StoreError):  # a run not flushed is replayed by its next reader
            self.hooks.flush_behind()  # write-behind: every stopped run's snapshot is written
        if self._workers is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._workers.shutdown)
            self._workers = None
        self._sync_pool.shutdown()  # idle threads end; opening again makes a new pool
        if close_store:
            self.store.close()
        if self._lock is not None:
            self._lock.release()

    # -- registry --------------------------------------------------------------------------
    def register(self, registration: GraphRegistration) -> GraphRegistration:
        """Make a graph (one version) startable; its manifest is stored by hash."""
        self._graphs.add(registration)
        self.store.put_manifest(registration.graph_hash, registration.graph_name,
                                registration.manifest.model_dump_json())
        self._resume_unfinished(registration.graph_name)
        return registration

    def _resume_unfinished(self, graph_name: str | None = None) -> None:
        """Drive again every unfinished run whose graph is registered (on open and register)."""
        if not self._running:
            return
        for instance_id in self.store.unfinished_runs():
            try:
                record = self.store.get_run(instance_id)
                if graph_name is not None and record.graph_name != graph_name:
                    continue
                if not self._can_drive(instance_id, record):
                    continue  # resumed when its graph is registered
                if record.status == RUNNING or self.store.pending_events(instance_id):
                    self._schedule(instance_id, recovering=True)
            except StoreError as exc:
                # One row that cannot be decoded must not stop the engine (or serve) starting.
                logger.warning("run '%s' not resumed: %s", instance_id, exc.message)

    def _can_drive(self, instance_id: str, record: RunRecord | None = None) -> bool:
        """Whether this engine has the code for the run (its graph is registered)."""
        try:
            record = record or self.store.find_run(instance_id)
        except StoreError:  # a row that cannot be decoded cannot be driven (and must not stop others)
            return False
        if record is None:
            return False
        return self._graphs.code_for(record.graph_hash, record.graph_name) is not None

    def registration(self, graph: str, version: str | None = None) -> GraphRegistration:
        """The registered graph (latest version unless one is named)."""
        return self._graphs.get(graph, version)

    @property
    def graph_names(self) -> list[str]:
        """Names of the registered graphs."""
        return self._graphs.graph_names

    # -- RunBackend ------------------------------------------------------------------------
    async def start(
        self, graph: str, input: Any = None, *, instance_id: str | None = None,
        metadata: dict[str, Any] | None = None, version: str | None = None,
    ) -> RunStatus:
        """Validate ``input`` and start a run; the same id with the same input is idempotent."""
        start = prepare_start(self._graphs, graph, input, instance_id=instance_id, metadata=metadata,
                              version=version)
        registration, state = start.registration, start.state
        # A generated id is new by construction: only a caller's id needs the idempotency check.
        existing = None if instance_id is None else self.store.find_run(instance_id)
        hidden = registration.manifest.hidden_fields
        if existing is not None:
            return repeated_start(run_status(existing, self.hidden_fields(existing.graph_hash)), graph,
                                  shown_state(state, hidden))
        instance_id = instance_id or new_instance_id(self.clock.now())
        active, events = self.driver.start(registration, state, run_id=instance_id, metadata=metadata)
        record = new_run_record(registration, active.snapshot, state, metadata, self.clock.now())
        self.hooks.record_start(active, record, events)
        status = run_status(record, hidden)  # as stored; read before the run is scheduled and moves on
        self._active[instance_id] = active
        # A new run has no stored events: any raised from now on are posted to the drive.
        self._schedule(instance_id, load_inbox=False)
        return status

    async def raise_event(self, instance_id: str, event_name: str, payload: Any = None, *,
                          event_id: str | None = None) -> str:
        """Store an event durably, then deliver it (loading the run if it is parked).

        A repeated ``event_id`` with the same name and payload is answered as the first send
        (also once the run finished); with another one it is EVENT_ID_CONFLICT.
        """
        event_id = check_event_id(event_id, instance_id=instance_id, event_name=event_name)
        record = self.store.get_run(instance_id)
        target = EventTarget(instance_id, record.graph_name, record.graph_hash, record.status,
                             tuple(compiled_for(self._graphs, record, self.store).events))
        stored = None if event_id is None else self.store.find_event(instance_id, event_id)
        first = None if stored is None else FirstSend(stored.name, stored.payload)
        admitted = admit_event(self._graphs, target, event_name, payload, event_id=event_id, first=first)
        if admitted.repeat and stored is not None:
            return stored.event_id  # stored already (and delivered, or pending and resumed on open)
        # The payload is stored as sent; the event's handler reads it through its model.
        event_id = self.store.enqueue_event(instance_id, event_name, payload, event_id=event_id,
                                            created_at=self.clock.now())
        with self._sched_lock:
            active = self._active.get(instance_id)
            if active is not None and instance_id in self._drives:
                active.post_event(event_name, payload, event_id)
            else:
                self._schedule(instance_id)
        return event_id

    async def cancel(self, instance_id: str, reason: str | None = None) -> RunStatus:
        """Graceful cancel: waiting runs at once, running ones at their next step boundary."""
        record = self.store.get_run(instance_id)
        refuse_if_finished(instance_id, record.status, "cancel")
        with self._sched_lock:
            active = self._active.get(instance_id)
            if active is not None and instance_id in self._drives:
                active.post_cancel(reason)  # at the run's next step boundary
                return await self.get_status(instance_id)
            # Not being driven (parked): nothing runs, so the cancel applies at once.
            active = self._load(record)
            events = apply_cancel(active.graph, active.snapshot, reason, now=self.clock.now())
            await self.hooks.record_transition(active, events)
            if active.snapshot["status"] not in FINISHED:
                self._active[instance_id] = active
                self._schedule(instance_id)
            else:
                self._forget(instance_id)
        return await self.get_status(instance_id)

    async def terminate(self, instance_id: str, reason: str | None = None) -> RunStatus:
        """Hard stop: the drive is abandoned and the run is recorded cancelled at once."""
        record = self.store.get_run(instance_id)
        refuse_if_finished(instance_id, record.status, "terminate")
        with self._sched_lock:
            drive = self._drives.pop(instance_id, None)
            self._tokens.pop(instance_id, None)
        if drive is not None:
            # Not awaited: a sync handler may still be running; its late result cannot be
            # written because a finished run is never written again.
            drive.cancel()
        record = self.store.get_run(instance_id)
        snapshot = record.snapshot
        snapshot.update(status=CANCELLED, tasks=[], waits=[], timers=[],
                        cancel={"reason": reason, "terminated": True})
        self.store.save_snapshot(instance_id, snapshot, status=CANCELLED, updated_at=self.clock.now(),
                                 events=[{"type": "run_terminated", "reason": reason}])
        self.store.upsert_timers(instance_id, [])
        self._forget(instance_id)
        self._watchers.notify(instance_id)  # a drive cancelled before it began signals nothing
        return await self.get_status(instance_id)

    # -- catalog (what the HTTP layer lists) -----------------------------------------------
    def versions(self, graph_name: str) -> list[str]:
        """Registered versions of a graph, oldest first."""
        return self._graphs.versions(graph_name)

    def get(self, graph_name: str, version: str | None = None) -> GraphRegistration:
        """A registered graph (latest version by default)."""
        return self.registration(graph_name, version)

    async def purge(self, instance_id: str) -> None:
        """Delete a finished run and all its rows (RunConflictError while it is unfinished)."""
        self.store.purge(instance_id)
        self._forget(instance_id)

    async def prune(self, *, older_than: float | None = None, keep_last: int | None = None) -> int:
        """Delete step history of finished runs by age (seconds) or keeping the last N steps."""
        cutoff = None if older_than is None else self.clock.now() - older_than
        return self.store.prune_history(older_than=cutoff, keep_last=keep_last)

    # -- driving ---------------------------------------------------------------------------
    def _schedule(self, instance_id: str, *, recovering: bool = False, load_inbox: bool = True) -> None:
        with self._sched_lock:
            if instance_id in self._drives or not self._running or self._workers is None:
                return
            if recovering:
                self.hooks.recovering.add(instance_id)
            token = object()
            self._tokens[instance_id] = token
            self._drives[instance_id] = self._workers.submit(
                lambda: self._drive(instance_id, token, load_inbox=load_inbox)
            )

    async def _drive(self, instance_id: str, token: object, *, load_inbox: bool = True) -> None:
        """Drive one run on a worker loop until it finishes or parks."""
        async def take_up() -> ActiveRun:
            with self._sched_lock:
                active = self._active.get(instance_id)
                if active is None:
                    active = self._load(self.store.get_run(instance_id))
                    self._active[instance_id] = active
                # Under the lock, so an event raised now cannot overtake a stored earlier one
                # (re-read after a failed try, it is applied once: events count by id).
                for event in self.store.pending_events(instance_id) if load_inbox else ():
                    active.post_event(event.name, event.payload, event.event_id)
                return active

        try:  # a full disk does not drop the drive: store calls are retried (store_retry)
            active = await retry_transient(take_up, f"run '{instance_id}': loading it", self.clock)
            await self.driver.drive(active)
        except (RunConflictError, GraphNotFoundError, HandlerNotFoundError) as exc:
            # Terminated meanwhile, or its graph is not registered here: leave it as stored.
            logger.warning("run '%s' not driven further: %s", instance_id, exc)
        except Exception:  # nobody awaits a drive: say why it stopped (resumes on next open)
            logger.exception("run '%s' not driven further: unexpected error", instance_id)
        finally:
            with self._sched_lock:
                current = self._active.get(instance_id)
                parked_on_timer = current is not None and bool(current.snapshot.get("timers"))
                if self._tokens.get(instance_id) is token:
                    self._drives.pop(instance_id, None)
                    self._tokens.pop(instance_id, None)
                    if current is not None and current.inputs and self._running:
                        self._schedule(instance_id)  # inputs arrived as the drive ended
                    else:
                        self._forget(instance_id)
            self._watchers.notify(instance_id)
            if parked_on_timer:  # the timer loop must look at this run's next deadline
                self._watchers.call_in_loop(self._timers.nudge)

    def _load(self, record: RunRecord) -> ActiveRun:
        return load_run(self._graphs, record, self.store)

    def _forget(self, instance_id: str) -> None:
        self._active.pop(instance_id, None)
        self.hooks.forget(instance_id)

    def wake_due_runs(self) -> int:
        """Schedule every parked run with a due timer; returns how many were woken.

        The timer loop calls this; tests that move a manual clock call it to act at once.
        """
        woken = 0
        for instance_id, _timer_id, _fire_at in self.store.due_timers(self.clock.now()):
            if instance_id not in self._drives and self._can_drive(instance_id):
                self._schedule(instance_id)
                woken += 1
        return woken

    def _write_emits(self, instance_id: str, rows: Sequence[EmitRow]) -> None:
        # On the emits' flusher thread (or a worker's, as a task ends).
        seq = self.store.append_emits(instance_id, rows, at=self.clock.now(), keep=self.emit_limit)
        if seq is not None and self._watchers.streamed(instance_id):
            self._watchers.notify(instance_id)

    def _progress(self, instance_id: str, seq: int, events: list[dict[str, Any]]) -> None:
        # Waiters are woken when a drive ends (finished or parked); streams on every step.
        for listener in self._listeners:
            listener(instance_id, seq, events)
        if self._watchers.streamed(instance_id):
            self._watchers.notify(instance_id)

__all__ = ["DEFAULT_DB", "EMIT_LIMIT", "LocalEngine"]

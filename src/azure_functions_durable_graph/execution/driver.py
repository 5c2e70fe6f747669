"""The driving loop shared by the in-process runner and the local engine.

It asks the interpreter what must be in flight, runs tasks (user code) concurrently, fires due
timers, feeds events and cancel requests, and applies every result. Persistence is a hook:
``record_result`` is awaited *before* a result is applied (the local engine commits it there,
keyed by run and task), and ``committed_result`` lets a restarted driver reuse a result that was
committed but not yet applied, so a task never runs twice after a crash.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..core import (
    COMPLETED,
    WAITING,
    CompiledGraph,
    Snapshot,
    TaskCommand,
    TimerRecord,
    apply_cancel,
    apply_event,
    apply_task_result,
    apply_timer_fired,
    decide,
    start_run,
)
from ..graph.registration import GraphRegistration
from .calling import SyncRunner
from .clock import Clock
from .emits import EmitSink, ParentRunEmits
from .executor import execute_task, failure_record, to_json
from .start_input import check_start_input, invalid_input
from .sync_pool import RunThreads, SyncPool, TaskThreads


class RunHooks(Protocol):
    """How a driver persists a run; the in-process runner keeps everything in memory."""

    async def committed_result(self, run: ActiveRun, task_id: str) -> dict[str, Any] | None:
        """A result committed earlier for ``task_id`` but perhaps not applied, or None."""

    async def record_result(
        self, run: ActiveRun, command: TaskCommand, result: dict[str, Any]
    ) -> None:
        """Persist a task result; called before the result is applied."""

    async def record_transition(self, run: ActiveRun, events: list[dict[str, Any]]) -> None:
        """Persist the snapshot after a change; ``events`` are the progress records produced."""


class NullHooks:
    """Hooks that persist nothing (child runs of the in-process runner)."""

    async def committed_result(self, run: ActiveRun, task_id: str) -> dict[str, Any] | None:
        """Nothing is ever committed."""
        return None

    async def record_result(
        self, run: ActiveRun, command: TaskCommand, result: dict[str, Any]
    ) -> None:
        """Nothing to record."""

    async def record_transition(self, run: ActiveRun, events: list[dict[str, Any]]) -> None:
        """Nothing to record."""


@dataclass(frozen=True, slots=True)
class EventInput:
    """An external event queued for the driver (payload already in JSON mode)."""

    name: str
    payload: Any
    event_id: str | None


@dataclass(frozen=True, slots=True)
class CancelInput:
    """A graceful cancel request queued for the driver."""

    reason: str | None


RunInput = EventInput | CancelInput
"""What callers queue on an :class:`ActiveRun`, applied in arrival order."""


@dataclass
class ActiveRun:
    """A run being driven: its manifest (which travels with it), snapshot and inbound inputs."""

    registration: GraphRegistration
    graph: CompiledGraph
    snapshot: Snapshot
    inputs: deque[RunInput] = field(default_factory=deque)
    cancel_signal: threading.Event = field(default_factory=threading.Event)
    #: The ``now`` the last task results were applied with (a store replaying them needs it).
    applied_at: float | None = None
    _wake: asyncio.Event | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    @property
    def run_id(self) -> str:
        """The run's instance id."""
        return str(self.snapshot["run_id"])

    def post_event(self, name: str, payload: Any, event_id: str | None = None) -> None:
        """Queue an external event for the driver to apply."""
        # JSON mode now, so the snapshot that buffers it stays plain JSON.
        self.inputs.append(EventInput(name, to_json(payload), event_id))
        self._notify()

    def post_cancel(self, reason: str | None = None) -> None:
        """Queue a graceful cancel request."""
        self.inputs.append(CancelInput(reason))
        self.cancel_signal.set()
        self._notify()

    def _notify(self) -> None:
        wake, loop = self._wake, self._loop
        if wake is None or loop is None:
            return
        try:
            same_loop = asyncio.get_running_loop() is loop
        except RuntimeError:
            same_loop = False
        if same_loop:
            wake.set()
        else:  # posted from another thread (an engine's API loop): hand over safely
            loop.call_soon_threadsafe(wake.set)


def new_state(registration: GraphRegistration, value: Any, *, from_parent: bool = False) -> dict[str, Any]:
    """Validate a run's input (against the input model, then the state model); the full state in JSON mode.

    ``from_parent``: a subgraph child's input, the parent's state fields, checked against the
    state model only (they may include fields the child keeps out of its input model).
    """
    from pydantic import BaseModel, ValidationError

    if not from_parent:
        value = check_start_input(registration.graph_name, registration.input_model, value)
    model = registration.state_model
    try:
        instance = (
            value
            if isinstance(value, model)
            else model.model_validate(
                value.model_dump()
                if isinstance(value, BaseModel)
                else ({} if value is None else value)
            )
        )
    except ValidationError as exc:
        raise invalid_input(registration.graph_name, exc) from None
    return dict(instance.model_dump(mode="json"))


class RunDriver:
    """Drives runs until they finish or park on a wait.

    With a ``sync_pool``, the sync handlers and routers of a superstep with several tasks run
    on its threads (at most ``sync_threads_per_run`` of a run at once, default the pool's), so
    they overlap; a lone task runs inline. Without one, sync code runs inline on the loop.
    """

    def __init__(
        self, *, clock: Clock, hooks: RunHooks | None = None, sync_pool: SyncPool | None = None,
        sync_threads_per_run: int | None = None, park_on_timers: bool = False,
        emits: EmitSink | None = None,
    ) -> None:
        self.clock = clock
        self.emits = emits  # where ctx.emit writes go (None: checked, then dropped)
        self.hooks: RunHooks = hooks or NullHooks()
        self.sync_pool = sync_pool
        self.sync_threads_per_run = sync_threads_per_run
        # Engines with a timer loop park runs that only wait for a timer (retry backoff), so a
        # run in backoff holds no concurrency slot; the in-process runner sleeps instead.
        self.park_on_timers = park_on_timers

    def start(
        self,
        registration: GraphRegistration,
        state: dict[str, Any],
        *,
        run_id: str,
        metadata: dict[str, Any] | None = None,
        graph: CompiledGraph | None = None,
    ) -> tuple[ActiveRun, list[dict[str, Any]]]:
        """A new run (not yet driven) and the events of its start."""
        from ..core import compile_manifest

        compiled = graph or compile_manifest(registration.manifest)
        snapshot, events = start_run(
            compiled, state, run_id=run_id, metadata=to_json(metadata or {}), now=self.clock.now()
        )
        return ActiveRun(registration, compiled, snapshot), events

    async def drive(self, run: ActiveRun) -> None:
        """Run until the run finishes or waits for an event with nothing else to do."""
        run._loop = asyncio.get_running_loop()
        run._wake = asyncio.Event()
        threads = None if self.sync_pool is None else self.sync_pool.for_run(self.sync_threads_per_run)
        in_flight: dict[str, asyncio.Future[dict[str, Any]]] = {}
        commands: dict[str, TaskCommand] = {}
        threaded: dict[str, TaskThreads] = {}  # the tasks given the run's threads
        helpers: list[asyncio.Future[Any]] = []
        try:
            while True:
                await self._apply_inputs(run)
                decision = decide(run.graph, run.snapshot)
                if decision.finished:
                    return
                if len(decision.tasks) == 1 and not in_flight and not decision.timers:
                    # One task and nothing else pending (a chain step): run it inline; inputs
                    # that arrive meanwhile are applied right after, as they would be anyway.
                    command = decision.tasks[0]
                    committed = await self.hooks.committed_result(run, command["task_id"])
                    if committed is not None:
                        await self._apply_committed(run, command["task_id"], committed)
                    else:
                        await self._apply_result(run, command, await self._execute(run, command))
                    continue
                if await self._start_tasks(run, decision.tasks, in_flight, commands, threads, threaded):
                    continue  # a committed result was applied: decide again
                if await self._fire_due_timer(run, decision.timers):
                    continue
                if not in_flight and not run.inputs:
                    if run.snapshot["status"] == WAITING or not decision.timers or self.park_on_timers:
                        return  # parked: an event or a due timer drives it again
                waiters: list[asyncio.Future[Any]] = [f for f in in_flight.values() if not f.done()]
                if decision.timers:
                    earliest = min(t["fire_at"] for t in decision.timers)
                    helpers.append(asyncio.ensure_future(self.clock.sleep_until(earliest)))
                run._wake.clear()
                if run.inputs:
                    continue
                helpers.append(asyncio.ensure_future(run._wake.wait()))
                await asyncio.wait(waiters + helpers, return_when=asyncio.FIRST_COMPLETED)
                for helper in helpers:
                    helper.cancel()
                helpers.clear()
                await self._apply_results(run, _take_finished(in_flight, commands, threaded))
        finally:
            for future in list(in_flight.values()) + helpers:
                future.cancel()
            run._wake = None
            run._loop = None

    async def _start_tasks(
        self,
        run: ActiveRun,
        tasks: list[TaskCommand],
        in_flight: dict[str, asyncio.Future[dict[str, Any]]],
        commands: dict[str, TaskCommand],
        threads: RunThreads | None,
        threaded: dict[str, TaskThreads],
    ) -> bool:
        # Sync code goes to threads only when it has company: a lone task runs inline.
        if len(in_flight) + sum(c["task_id"] not in in_flight for c in tasks) < 2:
            threads = None
        for command in tasks:
            task_id = command["task_id"]
            if task_id in in_flight:
                continue
            committed = await self.hooks.committed_result(run, task_id)
            if committed is not None:
                await self._apply_committed(run, task_id, committed)
                return True
            commands[task_id] = command
            runner = None if threads is None else TaskThreads(threads)
            if runner is not None:
                threaded[task_id] = runner
            in_flight[task_id] = asyncio.ensure_future(self._execute(run, command, runner))
        return False

    async def _apply_committed(self, run: ActiveRun, task_id: str, result: dict[str, Any]) -> None:
        events = apply_task_result(run.graph, run.snapshot, task_id, result, now=self.clock.now())
        await self.hooks.record_transition(run, events)

    async def _fire_due_timer(self, run: ActiveRun, timers: list[TimerRecord]) -> bool:
        now = self.clock.now()
        due = sorted(
            (t for t in timers if t["fire_at"] <= now), key=lambda t: (t["fire_at"], t["id"])
        )
        if not due:
            return False
        events = apply_timer_fired(run.graph, run.snapshot, due[0]["id"], now=now)
        await self.hooks.record_transition(run, events)
        return True

    async def _apply_inputs(self, run: ActiveRun) -> None:
        while run.inputs:
            item = run.inputs.popleft()
            now = self.clock.now()
            if isinstance(item, EventInput):
                events = apply_event(
                    run.graph, run.snapshot, item.name, item.payload, now=now, event_id=item.event_id
                )
            else:
                events = apply_cancel(run.graph, run.snapshot, item.reason, now=now)
            await self.hooks.record_transition(run, events)

    async def _apply_result(
        self, run: ActiveRun, command: TaskCommand, result: dict[str, Any]
    ) -> None:
        await self._apply_results(run, [(command, result)])

    async def _apply_results(
        self, run: ActiveRun, finished: list[tuple[TaskCommand, dict[str, Any]]]
    ) -> None:
        """Apply the results of tasks that finished together, persisted as one transition."""
        # A cancel that arrived while the tasks ran wins: the boundary these results close
        # must not start another superstep.
        await self._apply_inputs(run)
        events: list[dict[str, Any]] = []
        now = run.applied_at = self.clock.now()
        for command, result in finished:
            await self.hooks.record_result(run, command, result)
            events += apply_task_result(run.graph, run.snapshot, command["task_id"], result, now=now)
        await self.hooks.record_transition(run, events)

    async def _execute(
        self, run: ActiveRun, command: TaskCommand, threads: SyncRunner | None = None
    ) -> dict[str, Any]:
        if command["kind"] == "subgraph":
            return await self._run_child(run, command)
        return await execute_task(
            run.registration, command, sync_runner=threads, cancel_signal=run.cancel_signal,
            emits=self.emits,
        )

    async def _run_child(self, run: ActiveRun, command: TaskCommand) -> dict[str, Any]:
        """A subgraph node: drive a child run to its end; its final state is the update."""
        node = command["node"]
        try:
            child_registration = run.registration.subgraphs[node]
            state = new_state(child_registration, command["child_input"], from_parent=True)
            emits = None if self.emits is None else ParentRunEmits(self.emits, run.run_id)
            child = RunDriver(clock=self.clock, sync_pool=self.sync_pool,
                              sync_threads_per_run=self.sync_threads_per_run, emits=emits)
            active, _ = child.start(
                child_registration,
                state,
                run_id=command["child_run_id"],
                metadata=command.get("metadata"),
                graph=run.graph.child(node),
            )
            await child.drive(active)
        except Exception as exc:  # noqa: BLE001 - reported as the task's failure
            return {"ok": False, "error": failure_record(exc, command)}
        status = active.snapshot["status"]
        if status == COMPLETED:
            return {"ok": True, "update": to_json(active.snapshot["state"]), "route": None}
        error = active.snapshot.get("error") or {}
        message = error.get("message") or f"subgraph '{command['child_graph']}' ended {status}"
        if status == WAITING:
            message = f"subgraph '{command['child_graph']}' stopped to wait for an event; waits inside subgraphs are not supported"
        return {
            "ok": False,
            "error": {
                "type": "SubgraphFailed",
                "code": "SUBGRAPH_FAILED",
                "message": message,
                "node": node,
                "attempt": command["attempt"],
                "retryable": status != WAITING,
            },
        }


def _take_finished(
    in_flight: dict[str, asyncio.Future[dict[str, Any]]], commands: dict[str, TaskCommand],
    threaded: dict[str, TaskThreads],
) -> list[tuple[TaskCommand, dict[str, Any]]]:
    """The finished tasks to apply now, in the order they started.

    A task whose sync code ran in threads waits (in memory) for the tasks started before it,
    so parallel sync branches are recorded in task order, as when they ran inline one after
    another; a failure goes at once (its retry backoff starts), as does an async task.
    """
    taken: list[tuple[TaskCommand, dict[str, Any]]] = []
    earlier_running = False
    for task_id, future in list(in_flight.items()):
        if not future.done():
            earlier_running = True
            continue
        result = future.result()
        threads = threaded.get(task_id)
        if earlier_running and threads is not None and threads.used and result.get("ok"):
            continue
        del in_flight[task_id]
        threaded.pop(task_id, None)
        taken.append((commands.pop(task_id), result))
    return taken


__all__ = ["ActiveRun", "CancelInput", "EventInput", "NullHooks", "RunDriver", "RunHooks", "RunInput", "new_state"]

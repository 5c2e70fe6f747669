"""In-process runner: ``registration.invoke(...)`` runs a graph with no persistence.

For scripts and tests. It uses the same interpreter and driving loop as the engines. When the
run waits for an event that was not supplied, the result is ``waiting`` and can be resumed.
``GraphRegistration.invoke`` reaches :func:`invoke` through ``graph.registration.install_runner``
(the package root installs it); :class:`RunResult` and :class:`StepRecord` are declared there.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import threading
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from pydantic import BaseModel

from ..core import COMPLETED, FINISHED, WAITING, TaskCommand
from ..graph.errors import DurableGraphError, EventNotDeclaredError
from ..graph.registration import GraphRegistration, RunResult, StepRecord
from .clock import Clock, SystemClock
from .driver import ActiveRun, RunDriver, new_state
from .emits import EmitRow, EmitSink
from .executor import validate_event_payload
from .json_limits import check_event_json, check_start_json
from .sync_pool import DEFAULT_SYNC_THREADS_PER_RUN, SyncPool, check_thread_count, shared_pool


class _MemoryHooks:
    """Collects step records from the interpreter's progress events (and passes them on)."""

    def __init__(self, steps: list[StepRecord],
                 on_events: Callable[[list[dict[str, Any]]], None] | None = None) -> None:
        self.steps = steps
        self.on_events = on_events

    async def committed_result(self, run: ActiveRun, task_id: str) -> dict[str, Any] | None:
        return None

    async def record_result(
        self, run: ActiveRun, command: TaskCommand, result: dict[str, Any]
    ) -> None:
        return None

    async def record_transition(self, run: ActiveRun, events: list[dict[str, Any]]) -> None:
        if self.on_events is not None:
            self.on_events(events)
        for event in events:
            if event["type"] == "task_completed":
                self.steps.append(
                    StepRecord(
                        event["node"],
                        event["step"],
                        event["task_id"],
                        event["attempt"],
                        update=event["update"],
                        route=event["route"],
                    )
                )
            elif event["type"] == "task_failed":
                self.steps.append(
                    StepRecord(
                        event["node"],
                        event["step"],
                        event["task_id"],
                        event["attempt"],
                        error=event["error"],
                    )
                )


def invoke(registration: GraphRegistration, input: Any = None, **options: Any) -> RunResult:
    """Run ``registration`` in this process until it finishes or waits.

    Options: ``events`` (a list of ``(name, payload)`` pairs, buffered at start, or bare payloads
    given in order to whichever wait comes next), ``run_id``, ``metadata``, ``clock`` (a
    :class:`ManualClock` makes retry backoff instant), ``cancel`` (a reason, applied once the
    run parks), ``resume`` (a previous waiting :class:`RunResult`).

    Threads: the sync handlers and routers of a superstep's tasks run in threads, at most
    ``sync_threads_per_run`` (default 32) at once, taken from ``sync_executor`` (default a
    pool of 64 threads shared by the process's runs); a lone task runs inline.
    """
    return _run_sync(ainvoke(registration, input, **options))


def _run_sync(coroutine: Any) -> RunResult:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        outcome: list[RunResult] = []

        async def main() -> None:
            outcome.append(await coroutine)

        # The result is handed over outside the main task: on Python 3.11 ``asyncio.run``
        # formats the finished main task, result included, when it restores the SIGINT handler,
        # and the repr of a whole run's result costs more than a step of the run.
        asyncio.run(main())
        return outcome[0]
    coroutine.close()
    raise DurableGraphError(
        "invoke() was called inside a running event loop; use 'await registration.ainvoke(...)'",
        code="EVENT_LOOP_RUNNING",
    )


async def ainvoke(
    registration: GraphRegistration,
    input: Any = None,
    *,
    events: Iterable[Any] | None = None,
    run_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    clock: Clock | None = None,
    cancel: str | None = None,
    resume: RunResult | None = None,
    emits: EmitSink | None = None,
    on_events: Callable[[list[dict[str, Any]]], None] | None = None,
    sync_threads_per_run: int = DEFAULT_SYNC_THREADS_PER_RUN,
    sync_executor: concurrent.futures.Executor | None = None,
) -> RunResult:
    """Async form of :func:`invoke`.

    For readers of the run's progress (:func:`astream`): ``emits`` takes what the nodes'
    ``ctx.emit`` calls write, ``on_events`` every batch of progress events.
    """
    clock = clock or (resume.clock if resume else None) or SystemClock()
    steps: list[StepRecord] = list(resume.steps) if resume else []
    per_run = check_thread_count("invoke", "sync_threads_per_run", sync_threads_per_run)
    pool = shared_pool() if sync_executor is None else SyncPool(executor=sync_executor, owner="invoke")
    driver = RunDriver(clock=clock, hooks=_MemoryHooks(steps, on_events), emits=emits,
                       sync_pool=pool, sync_threads_per_run=per_run)
    if resume is not None:
        from ..core import compile_manifest

        # A copy: resuming the same waiting result twice must give the same outcome.
        snapshot = json.loads(json.dumps(resume.snapshot))
        run = ActiveRun(registration, compile_manifest(registration.manifest), snapshot)
    else:
        check_start_json(registration.graph_name, input, metadata)
        state = new_state(registration, input)
        run, started = driver.start(
            registration, state, run_id=run_id or uuid.uuid4().hex, metadata=metadata
        )
        if on_events is not None:
            on_events(started)
    bare: list[Any] = []
    for item in events or ():
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
            _post_checked(run, item[0], item[1])
        else:
            bare.append(item)
    await driver.drive(run)
    while run.snapshot["status"] == WAITING and bare and run.snapshot["waits"]:
        _post_checked(run, run.snapshot["waits"][0]["event"], bare.pop(0))
        await driver.drive(run)
    if cancel is not None and run.snapshot["status"] not in FINISHED:
        run.post_cancel(cancel)
        await driver.drive(run)
    return _result(registration, run, steps, clock)


async def astream(registration: GraphRegistration, input: Any = None,
                  **options: Any) -> AsyncIterator[dict[str, Any]]:
    """Run like :func:`ainvoke`, yielding the run's progress as it happens.

    The events are those of ``GET /runs/{id}/stream``, each with its ``seq``: the steps
    (``task_completed``...), the nodes' emits (``{"type": "emit", node, step, attempt, kind,
    data}``), waits, and last ``{"type": "end", status, instance_id, output}``. Closing the
    iterator early cancels the run's remaining work.
    """
    progress = _ProgressQueue(asyncio.get_running_loop())
    run_task = asyncio.ensure_future(ainvoke(
        registration, input, emits=progress, on_events=progress.put_all, **options))
    run_task.add_done_callback(lambda _: progress.put(_END))
    seq = 0
    items = progress.items
    try:
        while True:
            while items:
                item = items.popleft()
                if item is _END:
                    result = run_task.result()
                    yield {"type": "end", "status": result.status, "instance_id": result.run_id,
                           "output": result.output}
                    return
                seq += 1
                # An emit arrives as its JSON text: decoded here, a copy the node cannot change.
                event = json.loads(item) if isinstance(item, str) else item
                event["seq"] = seq
                yield event
            progress.wake.clear()
            await progress.wake.wait()
    finally:
        run_task.cancel()


_END = object()


class _ProgressQueue:
    """An in-process stream's queue: progress events and emits, in the order they happen.

    Also the run's emit sink: each emit goes to the reader at once (nothing is batched).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.items: deque[Any] = deque()
        self.wake = asyncio.Event()
        self.thread = threading.get_ident()

    def put(self, item: Any) -> None:
        """Queue one item (on the loop's thread)."""
        self.items.append(item)
        self.wake.set()

    def put_all(self, events: list[dict[str, Any]]) -> None:
        """Queue a transition's progress events (copies: the reader's seq goes into them)."""
        self.items.extend(dict(event) for event in events)
        self.wake.set()

    def add(self, run_id: str, row: EmitRow) -> None:
        """Queue an emit's event text; thread-safe."""
        if threading.get_ident() == self.thread:
            self.items.append(row[1])
            self.wake.set()
        else:  # a sync node on a thread (in a superstep of several tasks, or with a timeout)
            self.loop.call_soon_threadsafe(self.put, row[1])

    def add_event(self, event: dict[str, Any]) -> None:
        """Queue an emit already built as a dict (its data is immutable); thread-safe."""
        if threading.get_ident() == self.thread:
            self.items.append(event)
            self.wake.set()
        else:
            self.loop.call_soon_threadsafe(self.put, event)

    def flush(self, run_id: str) -> None:
        """Nothing is held back."""


def _post_checked(run: ActiveRun, name: str, payload: Any) -> None:
    """Refuse an undeclared event or an invalid payload when it is raised, as engines do."""
    if name not in run.graph.events:
        raise EventNotDeclaredError.for_event(run.graph.graph_name, name, run.graph.events,
                                              instance_id=run.run_id)
    check_event_json(run.graph.graph_name, name, payload)
    validate_event_payload(run.registration, name, payload)
    run.post_event(name, payload)


def _result(
    registration: GraphRegistration, run: ActiveRun, steps: list[StepRecord], clock: Clock
) -> RunResult:
    from ..core import build_output

    snapshot = run.snapshot
    status = snapshot["status"]
    state: BaseModel | None
    try:
        state = registration.state_model.model_validate(snapshot["state"])
    except Exception:  # noqa: BLE001 - a failed run may hold a state that no longer validates
        state = None
    return RunResult(
        run_id=run.run_id,
        status=status,
        state=state,
        output=build_output(run.graph, snapshot) if status == COMPLETED else None,
        steps=steps,
        error=snapshot.get("error"),
        waiting_for=[dict(w) for w in snapshot["waits"]],
        snapshot=snapshot,
        registration=registration,
        clock=clock,
    )


__all__ = ["RunResult", "StepRecord", "ainvoke", "astream", "invoke"]

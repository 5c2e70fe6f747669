"""``DurableEmulator``: a Functions host with the Durable extension, for one Python v2 app.

Pure-Python use drives the work explicitly with :meth:`DurableEmulator.run_until_idle`;
under :class:`EmulatorServer` a background dispatcher processes work as soon as it exists.
All coroutine methods must run on the loop the emulator is used from.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from azure.durable_functions.models.utils.df_serialization import df_dumps

from ...api.dispatch import DEFAULT_MAX_BODY
from ...execution.clock import Clock, SystemClock
from ...execution.instance_ids import durable_id_problem
from . import history as h
from .client_binding import client_binding_json
from .emits import keep_emits_in_memory
from .engine import Engine
from .errors import (
    EmulatorError,
    EmulatorTimeoutError,
    FunctionNotFoundError,
    InstanceNotFoundError,
    InstanceStateError,
    InvalidInstanceIdError,
)
from .functions import FunctionIndex, index_app
from .instances import PENDING, RUNNING, SUSPENDED, Instance, InstanceState
from .stats import EmulatorStats

log = logging.getLogger(__name__)


class DurableEmulator:
    """Runs any ``DFApp``/``FunctionApp`` through the real SDKs, as the host would.

    ``clock`` (default :class:`SystemClock`) stamps history and decides when timers fire;
    ``task_hub`` names the hub in client bindings; ``route_prefix`` is the HTTP route prefix
    (``api`` like ``host.json``'s default); ``upper_schema_version`` is the newest replay
    schema offered to the SDK (2 = V3, as current extensions offer); ``max_request_body`` is
    the most bytes of body an HTTP function is given (default the API's limit): a longer body
    is refused with 413 as soon as it passes, unread beyond that.
    """

    def __init__(self, app: Any, *, clock: Clock | None = None, task_hub: str = "EmulatorHub",
                 route_prefix: str = "api", upper_schema_version: int = 2,
                 max_request_body: int = DEFAULT_MAX_BODY) -> None:
        self.app = app
        keep_emits_in_memory(app)
        self.max_request_body = max_request_body
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.task_hub = task_hub
        self.route_prefix = route_prefix.strip("/")
        self.functions: FunctionIndex = index_app(app)
        self.stats = EmulatorStats()
        #: Where the webhook/RPC API is served; set by :class:`EmulatorServer`.
        self.base_url: str | None = None
        self._engine = Engine(self.functions, self.clock, self.stats,
                              upper_schema_version=upper_schema_version)
        self._engine.on_change = self._notify
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._change = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        self._asgi: Any = None

    def redeploy(self, app: Any) -> None:
        """Swap in a new version of the app, as a deployment does: Durable state (instances,
        history, timers) stays; the next episode of every instance runs the new code."""
        self.app = app
        keep_emits_in_memory(app)
        self.functions = index_app(app)
        self._engine.index = self.functions
        self._asgi = None  # HTTP triggers of the new app (an already served app keeps its router)

    # ------------------------------------------------------------------ plumbing

    def _bind_loop(self) -> None:
        # asyncio primitives belong to one loop; a new loop (another asyncio.run) gets new ones.
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop = loop
            self._lock = asyncio.Lock()
            self._wake = asyncio.Event()
            self._change = asyncio.Event()

    def _notify(self) -> None:
        self._wake.set()
        changed, self._change = self._change, asyncio.Event()
        changed.set()

    def _require(self, instance_id: str) -> Instance:
        inst = self._engine.store.get(instance_id)
        if inst is None:
            raise InstanceNotFoundError(f"no orchestration instance with id '{instance_id}'")
        return inst

    def _require_active(self, instance_id: str, operation: str) -> Instance:
        inst = self._require(instance_id)
        if inst.is_finished:
            raise InstanceStateError(
                f"cannot {operation} instance '{instance_id}': it is {inst.runtime_status}")
        return inst

    # ----------------------------------------------------------------- client API

    async def start_new(self, orchestrator_name: str, instance_id: str | None = None,
                        input: Any = None) -> str:
        """Start an orchestration, as ``DurableOrchestrationClient.start_new`` does; its id."""
        # The Python client posts the SDK-encoded input as a JSON string; the host stores the body.
        body = json.dumps(df_dumps(input)) if input is not None else None
        return await self.start_from_json(orchestrator_name, instance_id, body)

    async def start_from_json(self, orchestrator_name: str, instance_id: str | None,
                              input_json: str | None) -> str:
        """Start an orchestration whose ``ExecutionStarted`` input is the JSON text given."""
        self._bind_loop()
        if orchestrator_name not in self.functions.orchestrators:
            raise FunctionNotFoundError(
                f"The function '{orchestrator_name}' doesn't exist, is disabled, or is not an "
                "orchestrator function.")
        problem = durable_id_problem(instance_id) if instance_id else None
        if problem is not None:
            # DurableClient.StartNewAsync throws ArgumentException(nameof(instanceId), text) for
            # '@' and the characters, its arguments swapped, so .NET shows the text as the
            # parameter name; the length check passes its text as the message.
            raise InvalidInstanceIdError(problem if problem.startswith("Instance ID lengths")
                                         else f"instanceId (Parameter '{problem}')")
        new_id = instance_id or uuid.uuid4().hex
        existing = self._engine.store.get(new_id)
        if existing is not None and not existing.is_finished:
            raise InstanceStateError(
                f"An Orchestration instance with the status {existing.runtime_status} already "
                f"exists (instance '{new_id}').")
        self._engine.create(orchestrator_name, new_id, input_json)
        return new_id

    async def raise_event(self, instance_id: str, name: str, data: Any = None) -> None:
        """Deliver external event ``name`` with ``data`` (serialised once, like .NET clients)."""
        await self.raise_event_json(instance_id, name, json.dumps(data))

    async def raise_event_json(self, instance_id: str, name: str, input_json: str | None) -> None:
        """Deliver external event ``name`` whose payload is the JSON text given."""
        self._bind_loop()
        inst = self._require_active(instance_id, "raise an event on")
        event = h.event_raised(self.clock.now(), name, input_json)
        self._engine.deliver(inst.instance_id, inst.generation, event)

    async def terminate(self, instance_id: str, reason: str | None = None) -> None:
        """Terminate a running, pending or suspended instance."""
        self._bind_loop()
        self._engine.terminate(self._require_active(instance_id, "terminate"), reason)

    async def suspend(self, instance_id: str, reason: str | None = None) -> None:
        """Suspend an instance: events that arrive are held until :meth:`resume`."""
        self._bind_loop()
        inst = self._require_active(instance_id, "suspend")
        if inst.runtime_status == SUSPENDED:
            return
        inst.held = [h.execution_suspended(self.clock.now(), reason), *inst.inbox]
        inst.inbox = []
        self._engine.ready.pop(instance_id, None)
        inst.runtime_status = SUSPENDED
        inst.last_updated_time = self.clock.now()
        self._notify()

    async def resume(self, instance_id: str, reason: str | None = None) -> None:
        """Resume a suspended instance and deliver the events held meanwhile."""
        self._bind_loop()
        inst = self._require_active(instance_id, "resume")
        if inst.runtime_status != SUSPENDED:
            return
        inst.runtime_status = RUNNING if inst.history else PENDING
        held, inst.held = inst.held, []
        for event in [*held, h.execution_resumed(self.clock.now(), reason)]:
            self._engine.deliver(inst.instance_id, inst.generation, event)
        inst.last_updated_time = self.clock.now()

    async def purge(self, instance_id: str) -> bool:
        """Delete a finished instance's history; ``False`` if there is no such instance."""
        self._bind_loop()
        inst = self._engine.store.get(instance_id)
        if inst is None:
            return False
        if not inst.is_finished:
            raise InstanceStateError(
                f"Only orchestrations in a terminal state can be purged, but the orchestration "
                f"with instance ID {instance_id} has status {inst.runtime_status}")
        self._engine.store.delete(instance_id)
        self._notify()
        return True

    async def purge_by(self, *, created_from: float, created_to: float | None = None,
                       statuses: Iterable[str] | None = None) -> int:
        """Delete every instance created in the window (and with one of ``statuses``)."""
        self._bind_loop()
        found = self._engine.store.query(created_from=created_from, created_to=created_to,
                                         statuses=statuses)
        for inst in found:
            self._engine.timers.drop_instance(inst.instance_id)
            self._engine.store.delete(inst.instance_id)
        self._notify()
        return len(found)

    async def restart(self, instance_id: str, *, new_instance_id: bool = True) -> str:
        """Start the instance's orchestrator again with its original input; the new id."""
        inst = self._require(instance_id)
        target = uuid.uuid4().hex if new_instance_id else instance_id
        return await self.start_from_json(inst.name, target, inst.input_json)

    # ------------------------------------------------------------------ queries

    def get_instance(self, instance_id: str) -> InstanceState | None:
        """A snapshot of the instance, or ``None`` if there is none."""
        inst = self._engine.store.get(instance_id)
        return inst.snapshot() if inst is not None else None

    def list_instances(self) -> list[InstanceState]:
        """Snapshots of every instance, oldest first."""
        return [inst.snapshot() for inst in self._engine.store.all()]

    def instance_record(self, instance_id: str) -> Instance | None:
        """The live record (for the webhook layer; do not mutate)."""
        return self._engine.store.get(instance_id)

    def query(self, **filters: Any) -> list[Instance]:
        """Live records matching the host's list filters (see ``InstanceStore.query``)."""
        return self._engine.store.query(**filters)

    # ----------------------------------------------------------------- driving

    async def run_until_idle(self) -> None:
        """Run episodes, activities and due timers until nothing runnable is left."""
        self._bind_loop()
        async with self._lock:
            await self._drain()

    async def _drain(self) -> None:
        engine = self._engine
        while True:
            engine.fire_due_timers()
            if engine.ready:
                await engine.run_episode(next(iter(engine.ready)))
                continue
            if not engine.activities:
                return
            self._wake.clear()
            waker = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait({*engine.activities, waker},
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                waker.cancel()

    async def wait_for(self, instance_id: str,
                       predicate: Callable[[InstanceState], bool] | None = None,
                       timeout: float = 10.0) -> InstanceState:
        """Wait until the instance finished (or ``predicate(state)`` holds); its snapshot.

        Without a running dispatcher this drives the work itself (and waits on the clock for
        the next timer). ``timeout`` is in real seconds.
        """
        self._bind_loop()

        def satisfied(inst: Instance) -> InstanceState | None:
            state = inst.snapshot()
            ok = predicate(state) if predicate is not None else state.is_finished
            return state if ok else None

        async def watch() -> InstanceState:
            while True:
                state = satisfied(self._require(instance_id))
                if state is not None:
                    return state
                waits: list[Any] = []
                if not self.dispatching:
                    await self.run_until_idle()
                    state = satisfied(self._require(instance_id))
                    if state is not None:
                        return state
                    due = self._engine.timers.next_due()
                    if due is not None:
                        waits.append(self.clock.sleep_until(due))
                waits.append(self._change.wait())
                await _first_of(waits)

        try:
            return await asyncio.wait_for(watch(), timeout)
        except asyncio.TimeoutError:
            inst = self._engine.store.get(instance_id)
            status = inst.runtime_status if inst else "missing"
            raise EmulatorTimeoutError(
                f"instance '{instance_id}' did not reach the awaited state within {timeout}s "
                f"(status {status})") from None

    def hold_activity_results(self) -> None:
        """From now on keep each activity's completion until :meth:`release_result` is called
        (tests choose the order in which completions reach orchestrators)."""
        self._engine.hold_results = True

    def held_results(self) -> list[tuple[str, str]]:
        """The completions held back, oldest first: (instance id, activity name) each."""
        return [(r.instance_id, r.activity) for r in self._engine.held]

    def release_result(self, index: int) -> None:
        """Deliver the held completion at ``index`` (it is applied by the next episode)."""
        held = self._engine.held.pop(index)
        self._engine.deliver(held.instance_id, held.generation, held.event)

    def pending_timers(self, instance_id: str) -> list[float]:
        """When the instance's armed timers are due (epoch seconds), earliest first."""
        return self._engine.timers.due_times(instance_id)

    def advance_clock(self, seconds: float) -> float:
        """Move a manual clock forward and queue the timers now due; the new time."""
        advance = getattr(self.clock, "advance", None)
        if advance is None:
            raise EmulatorError("advance_clock needs a clock with advance() (ManualClock)")
        now = float(advance(seconds))
        if self._loop is not None:
            self._engine.fire_due_timers()
            self._notify()
        return now

    # ------------------------------------------------------------- dispatcher

    @property
    def dispatching(self) -> bool:
        """Whether the background dispatcher is running."""
        return self._dispatcher is not None and not self._dispatcher.done()

    def start_dispatcher(self) -> None:
        """Process work continuously on the running loop (used by :class:`EmulatorServer`)."""
        self._bind_loop()
        if not self.dispatching:
            self._dispatcher = asyncio.get_running_loop().create_task(
                self._dispatch_forever(), name="durable-emulator-dispatcher")

    async def _dispatch_forever(self) -> None:
        while True:
            self._wake.clear()
            try:
                async with self._lock:
                    await self._drain()
            except Exception:  # keep serving; the failure is a bug worth a log line
                log.exception("durable emulator dispatcher step failed")
            if self._wake.is_set():
                continue
            waits: list[Any] = [self._wake.wait()]
            due = self._engine.timers.next_due()
            if due is not None:
                waits.append(self.clock.sleep_until(due))
            await _first_of(waits)

    async def aclose(self) -> None:
        """Stop the dispatcher and cancel running activities."""
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            await asyncio.gather(self._dispatcher, return_exceptions=True)
            self._dispatcher = None
        pending = list(self._engine.activities)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    # -------------------------------------------------------------------- HTTP

    def client_binding(self, base_url: str | None = None) -> str:
        """The ``durableClient`` binding value (JSON text) pointing at ``base_url``."""
        url = base_url or self.base_url
        if url is None:
            raise EmulatorError("client functions need a served emulator (EmulatorServer)")
        return client_binding_json(url, self.task_hub)

    def asgi_app(self) -> Any:
        """A Starlette app serving the durable webhook/RPC API and the app's HTTP triggers."""
        if self._asgi is None:
            from .asgi import build_asgi_app

            self._asgi = build_asgi_app(self)
        return self._asgi


async def _first_of(awaitables: list[Any]) -> None:
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


__all__ = ["DurableEmulator"]

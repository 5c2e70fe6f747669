"""The emulated Durable extension: episodes, history, activities, timers, sub-orchestrations.

Everything here runs on one event loop. An instance with new events in its inbox is
*ready*; running it is one *episode*: the host appends ``OrchestratorStarted`` and the new
events, calls the orchestrator with the whole history, checks the returned actions against
the recorded ones (non-determinism) and records the newly scheduled work.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from azure.durable_functions.models.history.HistoryEventType import HistoryEventType

from . import history as h
from .actions import (
    ACTIVITY,
    CONTINUE_AS_NEW,
    SUB_ORCHESTRATION,
    TIMER,
    UNSUPPORTED,
    PlannedAction,
    check_replay,
)
from .errors import NonDeterminismError
from .functions import FunctionIndex
from .instances import (
    COMPLETED,
    FAILED,
    PENDING,
    RUNNING,
    SUSPENDED,
    TERMINATED,
    Instance,
    InstanceStore,
    ParentLink,
)
from .invoke import call_activity, call_orchestrator
from .replay import orchestrator_context_json
from .shim import ShimError, walk
from .stats import EmulatorStats
from .status import custom_status_error
from .timers import TimerQueue

_MISSING_FUNCTION = ("The function '{name}' doesn't exist, is disabled, or is not {kind} function. "
                     "Additional info: the app declares no such function.")


@dataclass(frozen=True)
class HeldResult:
    """An activity's completion kept back from its instance until a test releases it."""

    instance_id: str
    generation: int
    activity: str
    event: h.Event


class Engine:
    """The host's state and the work it can do; driven by :class:`DurableEmulator`."""

    def __init__(self, index: FunctionIndex, clock: Any, stats: EmulatorStats, *,
                 upper_schema_version: int = 2) -> None:
        self.index = index
        self.clock = clock
        self.stats = stats
        self.store = InstanceStore()
        self.timers = TimerQueue()
        self.ready: dict[str, None] = {}  # an ordered set
        self.activities: set[asyncio.Task[None]] = set()
        self.upper_schema_version = upper_schema_version
        # Tests that choose the order in which results reach the orchestrator hold them here.
        self.hold_results = False
        self.held: list[HeldResult] = []
        self.on_change: Callable[[], None] = lambda: None

    # ----------------------------------------------------------------- instances

    def create(self, name: str, instance_id: str, input_json: str | None, *,
               parent: ParentLink | None = None) -> Instance:
        """Create (or replace) an instance and queue its ``ExecutionStarted``."""
        now = self.clock.now()
        old = self.store.get(instance_id)
        if old is not None:
            self._forget_work(old)
        inst = Instance(instance_id=instance_id, name=name, execution_id=uuid.uuid4().hex,
                        input_json=input_json, created_time=now, last_updated_time=now,
                        parent=parent, generation=(old.generation + 1) if old else 0)
        inst.inbox.append(self._started_event(inst, now))
        self.store.put(inst)
        self._mark_ready(inst)
        return inst

    def _started_event(self, inst: Instance, now: float) -> h.Event:
        parent = None
        if inst.parent is not None:
            parent = {"Name": inst.parent.name, "TaskScheduleId": inst.parent.sequence,
                      "OrchestrationInstance": {"InstanceId": inst.parent.instance_id,
                                                "ExecutionId": inst.parent.execution_id}}
        return h.execution_started(now, name=inst.name, input_json=inst.input_json,
                                   instance_id=inst.instance_id, execution_id=inst.execution_id,
                                   parent=parent, version=inst.version)

    def deliver(self, instance_id: str, generation: int, event: h.Event) -> None:
        """Hand an event to an instance: queued, held while suspended, dropped if stale."""
        inst = self.store.get(instance_id)
        if inst is None or inst.generation != generation or inst.is_finished:
            return  # the execution it was meant for is gone (finished, purged, continued)
        if inst.runtime_status == SUSPENDED:
            inst.held.append(event)
        else:
            inst.inbox.append(event)
            self._mark_ready(inst)
        self.on_change()

    def _mark_ready(self, inst: Instance) -> None:
        self.ready[inst.instance_id] = None
        self.on_change()

    def _forget_work(self, inst: Instance) -> None:
        self.ready.pop(inst.instance_id, None)
        self.timers.drop_instance(inst.instance_id)
        inst.inbox.clear()
        inst.held.clear()

    def _touch(self, inst: Instance) -> None:
        inst.last_updated_time = self.clock.now()

    # ------------------------------------------------------------------ episodes

    def _context_json(self, inst: Instance, new_events: list[h.Event]) -> str:
        played = [dict(e, IsPlayed=True) for e in inst.history]
        return orchestrator_context_json(
            played + new_events, input_json=inst.context_input, instance_id=inst.instance_id,
            parent_instance_id=inst.parent.instance_id if inst.parent else None,
            upper_schema_version=self.upper_schema_version)

    async def run_episode(self, instance_id: str) -> None:
        """Run one episode of a ready instance (no-op if it has nothing new)."""
        self.ready.pop(instance_id, None)
        inst = self.store.get(instance_id)
        if inst is None or inst.is_finished or inst.runtime_status == SUSPENDED or not inst.inbox:
            return
        function = self.index.orchestrators.get(inst.name)
        now = self.clock.now()
        batch = [h.orchestrator_started(now), *inst.inbox]
        inst.inbox = []
        generation = inst.generation
        if inst.runtime_status == PENDING:
            inst.runtime_status = RUNNING
        if function is None:
            inst.history.extend(batch)
            self._fail(inst, _MISSING_FUNCTION.format(name=inst.name, kind="an orchestrator"),
                       error_type="FunctionNotFound", code="EMULATOR_FUNCTION_NOT_FOUND")
            return
        body = self._context_json(inst, batch)
        started = time.perf_counter()
        # Orchestrators are sync and may be slow to replay: keep the loop (and server) free.
        outcome = await asyncio.to_thread(call_orchestrator, function, body)
        self.stats.record_episode(instance_id, len(inst.history) + len(batch),
                                  time.perf_counter() - started)
        if self.store.get(instance_id) is not inst or inst.generation != generation \
                or inst.is_finished:
            return  # terminated, purged or replaced while the orchestrator ran
        for event in inst.history:
            event["IsPlayed"] = True
        inst.history.extend(batch)
        self._touch(inst)
        state = outcome.state or {}
        inst.custom_status = state.get("customStatus")
        # ScheduleDurableTaskEvents (OutOfProcOrchestrationShim.cs): SetCustomStatus, then the
        # walk over the actions, then the orchestrator's error or output.
        status_error = custom_status_error(inst.custom_status)
        if status_error is not None:
            self._fail(inst, status_error, error_type="ArgumentException", code="CUSTOM_STATUS_TOO_LARGE")
            return
        if outcome.error is not None and outcome.state is None:
            self._fail_orchestrator(inst, outcome.error)
            return
        try:
            reached = walk(state.get("actions") or [], inst.history,
                           schema_v2=int(state.get("schemaVersion") or 0) >= 1)
            new_actions = check_replay(instance_id, inst.history, reached.scheduled)
        except NonDeterminismError as err:
            self._fail(inst, err.message, error_type="NonDeterministicOrchestrationException",
                       code=err.code)
            return
        except ShimError as err:
            self._fail_orchestrator(inst, str(err), error_type="ArgumentException")
            return
        unsupported = [a for a in new_actions if a.kind == UNSUPPORTED]
        if unsupported:
            self._fail(inst, (f"The Durable Functions emulator does not support action type "
                              f"{unsupported[0].action_type} (retries, entities and durable HTTP "
                              f"are not emulated) in orchestrator '{inst.name}'."),
                       error_type="NotSupportedException", code="EMULATOR_UNSUPPORTED")
            return
        for action in reached.scheduled:
            if action.kind == TIMER and action.is_canceled and action.sequence is not None:
                self.timers.cancel(instance_id, generation, action.sequence)
        # The error, the output and continue-as-new are reached only once the walk has passed
        # every action: until then the instance stays Running, whatever Python returned.
        if reached.finished and outcome.error is not None:
            self._fail_orchestrator(inst, outcome.error)
            return
        if reached.finished and state.get("isDone"):
            restart = next((a for a in reached.scheduled if a.kind == CONTINUE_AS_NEW), None)
            if restart is not None:
                self._continue_as_new(inst, restart)
            else:
                self._complete(inst, state.get("output"))
            return
        now = self.clock.now()
        for action in new_actions:
            self._schedule(inst, action, now)
        inst.history.append(h.orchestrator_completed(now))
        self.on_change()

    def _fail_orchestrator(self, inst: Instance, error: str, *,
                           error_type: str = "OrchestrationFailureException") -> None:
        self._fail(inst, f"Orchestrator function '{inst.name}' failed: {error}",
                   error_type=error_type, code="ORCHESTRATOR_FAILED")

    # --------------------------------------------------------------- scheduling

    def _schedule(self, inst: Instance, action: PlannedAction, now: float) -> None:
        seq = action.sequence
        assert seq is not None
        if action.kind == ACTIVITY:
            name = str(action.name)
            inst.history.append(h.task_scheduled(now, seq, name=name, input_json=action.input))
            self._start_activity(inst, seq, name, action.input)
        elif action.kind == TIMER:
            fire_at = str(action.fire_at)
            inst.history.append(h.timer_created(now, seq, fire_at))
            if not action.is_canceled:
                self.timers.add(h.parse_timestamp(fire_at), inst.instance_id, inst.generation,
                                seq, fire_at)
        elif action.kind == SUB_ORCHESTRATION:
            self._start_child(inst, action, seq, now)

    def _start_activity(self, inst: Instance, seq: int, name: str, input_json: str | None) -> None:
        function = self.index.activities.get(name)
        key = (inst.instance_id, inst.generation)
        if function is None:
            reason = _MISSING_FUNCTION.format(name=name, kind="an activity")
            self.deliver(*key, h.task_failed(self.clock.now(), seq, reason=reason, details=None))
            return

        async def run() -> None:
            self.stats.record_activity(name)
            result = await call_activity(function, input_json)
            now = self.clock.now()
            if result.failed:
                event = h.task_failed(now, seq, reason=str(result.reason), details=result.details)
            else:
                event = h.task_completed(now, seq, result.result)
            if self.hold_results:
                self.held.append(HeldResult(key[0], key[1], name, event))
                self.on_change()
            else:
                self.deliver(*key, event)

        task = asyncio.get_running_loop().create_task(run(), name=f"activity:{name}")
        self.activities.add(task)
        task.add_done_callback(self.activities.discard)

    def _start_child(self, inst: Instance, action: PlannedAction, seq: int, now: float) -> None:
        name = str(action.name)
        # The extension's default child id: deterministic from the parent and the sequence.
        child_id = action.instance_id or f"{inst.instance_id}:{seq}"
        # The extension serialises the SDK's (already JSON) input once more as the child's input.
        child_input = json.dumps(action.input) if action.input is not None else None
        inst.history.append(h.sub_orchestration_created(
            now, seq, name=name, instance_id=child_id, input_json=child_input))
        if name not in self.index.orchestrators:
            reason = _MISSING_FUNCTION.format(name=name, kind="an orchestrator")
            self.deliver(inst.instance_id, inst.generation,
                         h.sub_orchestration_failed(now, seq, reason=reason, details=None))
            return
        link = ParentLink(inst.instance_id, seq, inst.name, inst.execution_id)
        self.create(name, child_id, child_input, parent=link)

    # ---------------------------------------------------------------- endings

    def _notify_parent(self, inst: Instance, event_for: Callable[[float, int], h.Event]) -> None:
        link = inst.parent
        if link is None:
            return
        parent = self.store.get(link.instance_id)
        if parent is None or parent.execution_id != link.execution_id:
            return
        self.deliver(parent.instance_id, parent.generation, event_for(self.clock.now(),
                                                                     link.sequence))

    def _complete(self, inst: Instance, output: Any) -> None:
        now = self.clock.now()
        result = json.dumps(output) if output is not None else None
        inst.output_json = result
        inst.runtime_status = COMPLETED
        inst.history.append(h.execution_completed(now, status=COMPLETED, result=result))
        inst.history.append(h.orchestrator_completed(now))
        self._touch(inst)
        self._notify_parent(inst, lambda t, seq: h.sub_orchestration_completed(t, seq, result))
        self.on_change()

    def _fail(self, inst: Instance, message: str, *, error_type: str, code: str) -> None:
        now = self.clock.now()
        inst.failure = {"code": code, "errorType": error_type, "message": message}
        inst.output_json = json.dumps(message)
        inst.runtime_status = FAILED
        details = {"ErrorType": error_type, "ErrorMessage": message}
        inst.history.append(h.execution_completed(now, status=FAILED, result=inst.output_json,
                                                  failure=details))
        inst.history.append(h.orchestrator_completed(now))
        self._forget_work(inst)
        self._touch(inst)
        self._notify_parent(inst, lambda t, seq: h.sub_orchestration_failed(
            t, seq, reason=message, details=json.dumps(details)))
        self.on_change()

    def terminate(self, inst: Instance, reason: str | None) -> None:
        """End an instance now with status ``Terminated`` (its parent sees a failure)."""
        now = self.clock.now()
        inst.runtime_status = TERMINATED
        inst.output_json = json.dumps(reason)
        inst.history.append(h.execution_terminated(now, reason))
        self._forget_work(inst)
        self._touch(inst)
        message = f"Sub-orchestration '{inst.instance_id}' was terminated: {reason}"
        self._notify_parent(inst, lambda t, seq: h.sub_orchestration_failed(
            t, seq, reason=message, details=None))
        self.on_change()

    def _continue_as_new(self, inst: Instance, action: PlannedAction) -> None:
        now = self.clock.now()
        late = inst.inbox  # arrived while the last episode ran: meant for the next execution
        carried: list[h.Event] = []
        if action.raw.get("preserveUnprocessedEvents"):
            carried = [e for e in inst.history if e["EventType"] == HistoryEventType.EVENT_RAISED
                       and not e.get("IsPlayed")]
        inst.history.append(h.continue_as_new(now, action.input))
        self.ready.pop(inst.instance_id, None)
        self.timers.drop_instance(inst.instance_id)
        inst.generation += 1
        inst.execution_id = uuid.uuid4().hex
        inst.input_json = json.dumps(action.input) if action.input is not None else None
        inst.history = []
        inst.runtime_status = RUNNING
        inst.inbox = [self._started_event(inst, now), *carried, *late]
        self._touch(inst)
        self._mark_ready(inst)

    # ------------------------------------------------------------------ timers

    def fire_due_timers(self) -> int:
        """Queue ``TimerFired`` for every timer due on the clock; how many fired."""
        due = self.timers.pop_due(self.clock.now())
        for timer in due:
            self.deliver(timer.instance_id, timer.generation,
                         h.timer_fired(self.clock.now(), timer.sequence, timer.fire_at))
        return len(due)


__all__ = ["Engine", "HeldResult"]

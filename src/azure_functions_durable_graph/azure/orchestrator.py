"""The orchestrator: a Durable generator that drives ``core/`` and nothing else.

Replay-safe by construction: it reads only its input (which carries the run's manifest), the
results Durable replays to it and ``context.current_utc_datetime``; it never imports or calls
user code, never reads the clock, never does I/O. Each superstep's tasks are scheduled as
activities (one per node run: node + router in one call); subgraphs run as sub-orchestrations;
timers (retry backoff, wait deadlines) are durable timers; events and graceful cancels arrive on
one internal event raced against everything in flight. Long runs continue as new at a superstep
boundary.

Shim-safe by construction too. The host replays the action list in order and awaits each
yield's action before it schedules the next one, and a yield's action carries only the tasks
that yield is the first to schedule (DESIGN.md section 7). So Python may move on from a yield
(an older task finished) while the host still waits on it, and then nothing Python schedules
later reaches the host. The rule here: **every yield races a fresh guard timer, and the guard is
cancelled as soon as the yield resolves**: a cancelled timer ends its .NET task at once, so the
host passes every yield that Python has passed, in the same episode. And **every timer the
orchestrator stops racing is cancelled** (a wait's deadline once its event came, everything when
the run ends), and no timer is set beyond the storage provider's short-timer limit (longer ones
are re-armed in steps), so the SDK's long-timer tasks, whose cancel leaves their interval timers
armed, are never used.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from datetime import datetime, timezone
from typing import Any

from ..core import (
    COMPLETED,
    FAILED,
    READY,
    WAITING,
    Snapshot,
    TaskCommand,
    TimerRecord,
    apply_cancel,
    apply_event,
    apply_task_result,
    apply_timer_fired,
    decide,
    mark_compacted,
    start_run,
)
from .protocol import (
    ACTIVITY,
    INPUT_EVENT,
    ORCHESTRATOR,
    continue_payload,
    graph_of,
    policy_of,
    progress_status,
    run_output,
    start_payload,
)

EVENT_RAISED = 15  # Durable HistoryEventType.EVENT_RAISED (a test pins it to the SDK)

# The Azure Storage provider's limits (extension, AzureStorageDurabilityProvider.cs): timers up to
# MaximumDelayTime (6 days) are plain; the SDK splits longer ones into 3-day intervals. Ours are
# re-armed in steps of at most TIMER_STEP, and a yield's guard fires after GUARD_SECONDS (both
# under the limit, so neither takes the SDK's long-timer path on any backend).
TIMER_STEP = 3 * 86_400.0
SHORT_TIMER_LIMIT = 6 * 86_400.0
GUARD_SECONDS = 5 * 86_400.0


class RunFailedError(Exception):
    """Raised by the orchestrator so Durable records the run as Failed (message: the error)."""


def _now(context: Any) -> float:
    return float(context.current_utc_datetime.replace(tzinfo=timezone.utc).timestamp())


def _fire_at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def _inputs_in_history(context: Any) -> int:
    """How many run inputs this generation's history holds (consumed or not yet)."""
    count = 0
    for event in context.histories:
        if int(getattr(event, "event_type", -1)) == EVENT_RAISED and getattr(event, "Name", None) == INPUT_EVENT:
            count += 1
    return count


class _Orchestration:
    """One generation of one run: its snapshot and what is in flight."""

    def __init__(self, context: Any, payload: dict[str, Any], names: dict[str, str]) -> None:
        self.context = context
        self.payload = payload
        self.names = names
        self.graph = graph_of(payload)
        self.policy = policy_of(payload)
        self.parent_task: dict[str, Any] | None = payload.get("parent_task")
        snapshot = payload.get("snapshot")
        if snapshot is None:
            snapshot, _ = start_run(
                self.graph, payload["input"], run_id=context.instance_id,
                metadata=payload.get("metadata") or {}, now=_now(context),
            )
        self.snapshot: Snapshot = snapshot
        self.in_flight: dict[str, tuple[TaskCommand, Any]] = {}
        # core timer id -> (Durable timer task, the time that task fires)
        self.timers: dict[str, tuple[Any, float]] = {}
        self.inbox: Any = None
        self.inputs_consumed = 0
        self.results_applied = 0
        self.durable_tasks = 0  # activities, sub-orchestrations and timers scheduled
        self.last_status: dict[str, Any] | None = None

    # -- scheduling --------------------------------------------------------------------------
    def estimated_history(self) -> int:
        """This generation's Durable history length, estimated from what it did so far.

        Every scheduled task or timer costs two events (scheduled, completed), every consumed
        input one, and the start two. ``len(context.histories)`` would be wrong here: a replay
        sees the whole history, so a decision based on it could differ from the original one.
        """
        return 2 + 2 * self.durable_tasks + self.inputs_consumed

    def schedule(self, command: TaskCommand) -> Any:
        self.durable_tasks += 1
        if command["kind"] == "subgraph":
            child = self.graph.child(command["node"])
            parent_task = {k: command[k] for k in ("task_id", "node", "step", "attempt")}
            child_input = start_payload(
                child.manifest.model_dump(mode="json"), command["child_input"],
                metadata=command.get("metadata") or {}, created_at=_now(self.context),
                root={**self.payload["root"], "path": [*self.payload["root"].get("path", []), command["node"]],
                      # whose stream the child's emits join (the top-level run's), and the
                      # top-level task whose step event they come before
                      "instance_id": self.payload["root"].get("instance_id", self.context.instance_id),
                      "task": self.payload["root"].get("task") or {
                          "task_id": command["task_id"], "attempt": command["attempt"]}},
                policy=self.policy, parent_task=parent_task,
            )
            return self.context.call_sub_orchestrator(
                self.names["orchestrator"], child_input, command["child_run_id"]
            )
        return self.context.call_activity(self.names["activity"], {**command, "root": self.payload["root"]})

    def publish(self) -> None:
        status = progress_status(self.graph, self.snapshot, self.payload.get("results_before", 0) + self.results_applied)
        if status != self.last_status:
            self.context.set_custom_status(status)
            self.last_status = status

    # -- applying ----------------------------------------------------------------------------
    def apply_input(self, message: Any) -> None:
        self.inputs_consumed += 1
        if isinstance(message, str):
            message = json.loads(message)
        if not isinstance(message, dict):
            return
        now = _now(self.context)
        if message.get("kind") == "cancel":
            apply_cancel(self.graph, self.snapshot, message.get("reason"), now=now)
        elif message.get("kind") == "event":
            try:
                apply_event(self.graph, self.snapshot, str(message.get("name")), message.get("payload"),
                            now=now, event_id=message.get("id"))
            except Exception:  # noqa: BLE001 - an undeclared event is refused at the API; never fail a run on it
                return

    def apply_finished_tasks(self) -> None:
        finished = [(tid, cmd, task) for tid, (cmd, task) in self.in_flight.items() if task.is_completed]
        now = _now(self.context)
        for task_id, command, task in finished:
            del self.in_flight[task_id]
            result = _task_result(command, task)
            apply_task_result(self.graph, self.snapshot, task_id, result, now=now)
            self.results_applied += 1

    def arm_timers(self, timers: list[TimerRecord]) -> None:
        """Cancel the Durable timers the snapshot no longer has; arm the ones it has."""
        wanted = {t["id"]: float(t["fire_at"]) for t in timers}
        for timer_id in [t for t in self.timers if t not in wanted]:
            _cancel(self.timers.pop(timer_id)[0])
        now = _now(self.context)
        for timer_id, fire_at in wanted.items():
            if timer_id in self.timers:
                continue
            # Beyond the short-timer limit, arm one step; it is re-armed when it fires.
            step_at = fire_at if fire_at - now <= SHORT_TIMER_LIMIT else now + TIMER_STEP
            self.durable_tasks += 1
            self.timers[timer_id] = (self.context.create_timer(_fire_at(step_at)), step_at)

    def disarm_timers(self) -> None:
        """Cancel every timer still armed (the run ends or continues as new)."""
        for task, _ in self.timers.values():
            _cancel(task)
        self.timers.clear()

    def apply_fired_timers(self, timers: list[TimerRecord]) -> None:
        wanted = {t["id"]: float(t["fire_at"]) for t in timers}
        for timer_id, (task, step_at) in list(self.timers.items()):
            if task.is_completed:
                del self.timers[timer_id]
                # A step short of the timer's time is re-armed by the next arm_timers.
                if timer_id in wanted and step_at >= wanted[timer_id]:
                    apply_timer_fired(self.graph, self.snapshot, timer_id, now=_now(self.context))

    def may_continue_as_new(self) -> bool:
        """Compaction only where nothing is in flight and no received input is unconsumed.

        Durable drops events not consumed before continue-as-new; counting the inputs in this
        generation's history (a replay sees a superset, so the answer never flips from "no" to
        "yes" on replay) keeps every accepted event.
        """
        if self.in_flight:
            return False
        return _inputs_in_history(self.context) == self.inputs_consumed


def _cancel(timer: Any) -> None:
    """Cancel a Durable timer unless it already fired (the SDK refuses that)."""
    if not timer.is_completed:
        timer.cancel()


def _task_result(command: TaskCommand, task: Any) -> dict[str, Any]:
    """The interpreter's result record for a finished activity or sub-orchestration."""
    value = task.result
    failed = getattr(task.state, "name", "") == "FAILED" or isinstance(value, Exception)
    if isinstance(value, str) and not failed:
        try:
            value = json.loads(value)
        except ValueError:
            pass
    if not failed and isinstance(value, dict):
        if command["kind"] == "subgraph":
            if value.get("status") == COMPLETED:
                return {"ok": True, "update": value.get("state", {}), "route": None}
            value = RuntimeError(f"subgraph '{command.get('child_graph')}' ended {value.get('status')}")
        elif "ok" in value:
            return {k: value[k] for k in ("ok", "update", "route", "error") if k in value}
    message = str(value).split("\n")[0].strip() if value is not None else "task failed"
    return {
        "ok": False,
        "error": {
            "type": "SubgraphFailed" if command["kind"] == "subgraph" else "ActivityFailed",
            "code": "SUBGRAPH_FAILED" if command["kind"] == "subgraph" else "ACTIVITY_FAILED",
            "message": message or "task failed",
            "node": command["node"],
            "attempt": command["attempt"],
            "retryable": True,
        },
    }


def orchestrate(context: Any, names: dict[str, str] | None = None) -> Generator[Any, Any, Any]:
    """The orchestrator body (a generator Durable replays); see the module docstring."""
    names = names or {"orchestrator": ORCHESTRATOR, "activity": ACTIVITY}
    payload = context.get_input()
    if isinstance(payload, str):
        payload = json.loads(payload)
    run = _Orchestration(context, payload, names)
    while True:
        decision = decide(run.graph, run.snapshot, compact_after_steps=run.policy.after_steps)
        run.publish()
        if decision.finished:
            break
        history_full = run.estimated_history() > run.policy.max_history_events
        at_boundary = decision.compact or (history_full and _at_boundary(run.snapshot))
        if at_boundary and run.may_continue_as_new():
            run.disarm_timers()
            mark_compacted(run.snapshot)
            context.continue_as_new(continue_payload(run.payload, run.snapshot, run.results_applied))
            return None
        if run.parent_task is not None and decision.status == WAITING and not decision.tasks and not run.in_flight:
            run.disarm_timers()
            raise RunFailedError(
                f"subgraph '{run.graph.graph_name}' stopped to wait for an event; waits inside subgraphs are not supported"
            )
        new = [c for c in decision.tasks if c["task_id"] not in run.in_flight]
        for command in new:
            run.in_flight[command["task_id"]] = (command, run.schedule(command))
        run.arm_timers(decision.timers)
        if run.inbox is None:
            run.inbox = context.wait_for_external_event(INPUT_EVENT)
        run.durable_tasks += 1
        guard = context.create_timer(_fire_at(_now(context) + GUARD_SECONDS))
        pending = [task for _, task in run.in_flight.values() if not task.is_completed]
        racers = [context.task_all(pending)] if len(pending) > 1 else pending
        racers += [task for _, (task, _) in sorted(run.timers.items())] + [run.inbox, guard]
        yield context.task_any(racers)
        _cancel(guard)  # the host passes this yield now too (see the module docstring)
        # A cancel or event that arrived with results is applied first: a cancel must stop
        # the boundary those results close from starting another superstep.
        if run.inbox.is_completed:
            message = run.inbox.result
            run.inbox = None
            run.apply_input(message)
        run.apply_finished_tasks()
        run.apply_fired_timers(decision.timers)
    run.disarm_timers()
    if run.snapshot["status"] == FAILED:
        error = run.snapshot.get("error") or {}
        raise RunFailedError(str(error.get("message") or "the run failed"))
    return run_output(run.graph, run.snapshot, run.parent_task)


def _at_boundary(snapshot: Snapshot) -> bool:
    tasks = snapshot["tasks"]
    return bool(tasks) and all(t["status"] == READY and t["attempt"] == 1 for t in tasks)


__all__ = ["EVENT_RAISED", "RunFailedError", "orchestrate"]

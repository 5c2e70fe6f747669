"""The Durable extension's replay of an out-of-process action list, modelled from its source.

The host does not schedule the list of actions a Python orchestrator returns as such.
``OutOfProcOrchestrationShim`` (Azure/azure-functions-durable-extension,
``src/WebJobs.Extensions.DurableTask/Listener/OutOfProcOrchestrationShim.cs``) *replays* it as
.NET code while the Durable Task Framework replays the history:

- ``ProcessAsyncActionsV2`` (replay schema V2/V3) walks the single action list in order; for
  each action it builds the .NET task (``InvokeAPIFromAction``) and **awaits it** before it
  touches the next one. An action after a pending one is not scheduled at all.
- ``WhenAny``/``WhenAll`` are ``Task.WhenAny``/``Task.WhenAll`` over the children the action
  carries, and the Python SDK leaves out of a compound every child an earlier yield already
  scheduled (SDK ``models/Task.py``, ``CompoundTask``). ``Task.WhenAny`` of no task throws.
- A timer whose action says ``isCanceled`` is created with a cancelled token: it is still
  scheduled (``TimerCreated``) but its task ends at once.
- ``ProcessAsyncActionsV1`` (schema V1) schedules each inner list and awaits ``WhenAny`` of it.
- ``SetOutput`` is reached only when the walk ends (``ScheduleDurableTaskEvents``): a done
  orchestration whose walk is blocked stays Running.
- External events go through ``DurableOrchestrationContext`` (``ContextImplementations/
  DurableOrchestrationContext.cs``, ``WaitForExternalEvent``/``RaiseEvent``): per event name the
  pending waiters are a stack (the newest waiter gets the next event) and events raised with no
  waiter are buffered FIFO; a new waiter takes the oldest buffered event at once.

:func:`walk` runs that model over one episode: the history in order (the framework replays it
event by event), the walk advancing whenever the task it awaits completes. What it reached is
what the host schedules; the rest waits for a later episode.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from azure.durable_functions.models.actions.ActionType import ActionType as A
from azure.durable_functions.models.history.HistoryEventType import HistoryEventType as T

from .actions import _KINDS, _NUMBERED, UNSUPPORTED, PlannedAction

_COMPLETIONS = {
    T.TASK_COMPLETED: "TaskScheduledId",
    T.TASK_FAILED: "TaskScheduledId",
    T.SUB_ORCHESTRATION_INSTANCE_COMPLETED: "TaskScheduledId",
    T.SUB_ORCHESTRATION_INSTANCE_FAILED: "TaskScheduledId",
    T.TIMER_FIRED: "TimerId",
}


class ShimError(Exception):
    """The shim threw while building a task (the orchestration fails with this message)."""


@dataclass(eq=False)
class _NetTask:
    """A .NET task built from one action: a leaf, or ``WhenAll``/``WhenAny`` of children."""

    compound: int | None = None  # A.WHEN_ALL or A.WHEN_ANY
    children: list[_NetTask] = field(default_factory=list)
    done: bool = False

    def is_done(self) -> bool:
        if self.compound == A.WHEN_ALL:
            return all(child.is_done() for child in self.children)
        if self.compound == A.WHEN_ANY:
            return any(child.is_done() for child in self.children)
        return self.done


@dataclass
class WalkResult:
    """What the host reached in one episode."""

    scheduled: list[PlannedAction]  # every numbered action reached, in sequence order
    finished: bool  # the walk passed the last action (only then is SetOutput reached)


class _Walk:
    def __init__(self, actions: list[list[dict[str, Any]]], schema_v2: bool) -> None:
        if schema_v2:
            if len(actions) > 1:
                raise ShimError(f"With OOProc schema V2, expected actions array to be of length 1 "
                                f"in outer layer but got size: {len(actions)}")
            # V2: one awaited step per action.
            self.steps: list[list[dict[str, Any]]] = [[a] for a in (actions[0] if actions else [])]
        else:
            self.steps = [list(group or []) for group in actions or []]
        self.position = 0
        self.awaiting: _NetTask | None = None
        self.sequence = 0
        self.scheduled: list[PlannedAction] = []
        self.by_sequence: dict[int, _NetTask] = {}
        self.completed_early: set[int] = set()
        self.waiters: dict[str, list[_NetTask]] = {}
        self.buffered: dict[str, deque[None]] = {}
        self.started = False

    # -- building tasks (InvokeAPIFromAction) ---------------------------------------------
    def invoke(self, action: dict[str, Any]) -> _NetTask:
        action_type = int(action.get("actionType", -1))
        if action_type in (A.WHEN_ALL, A.WHEN_ANY):
            children = [self.invoke(child) for child in action.get("compoundActions") or []]
            if action_type == A.WHEN_ANY and not children:
                raise ShimError("The tasks argument contains no tasks.")
            return _NetTask(compound=action_type, children=children)
        kind = _KINDS.get(action_type, UNSUPPORTED)
        task = _NetTask()
        if action_type in _NUMBERED:
            number = self.sequence
            self.sequence += 1
            self.scheduled.append(PlannedAction(kind, action_type, number, action))
            self.by_sequence[number] = task
            if number in self.completed_early:
                task.done = True
        if action_type == A.CREATE_TIMER and action.get("isCanceled"):
            task.done = True  # created with a cancelled token: the await ends at once
        elif action_type in (A.CONTINUE_AS_NEW, A.SIGNAL_ENTITY):
            task.done = True  # fire and forget (Task.CompletedTask)
        elif action_type == A.WAIT_FOR_EXTERNAL_EVENT:
            name = str(action.get("externalEventName"))
            self.waiters.setdefault(name, []).append(task)
            queue = self.buffered.get(name)
            if queue:
                queue.popleft()
                if not queue:
                    del self.buffered[name]
                self.raise_event(name)
        return task

    # -- the framework's side ---------------------------------------------------------------
    def raise_event(self, name: str) -> None:
        stack = self.waiters.get(name)
        if stack:
            stack.pop().done = True  # the newest waiter (a stack, see the module docstring)
            if not stack:
                del self.waiters[name]
        else:
            self.buffered.setdefault(name, deque()).append(None)

    def complete(self, sequence: int) -> None:
        task = self.by_sequence.get(sequence)
        if task is None:
            self.completed_early.add(sequence)
        else:
            task.done = True

    def advance(self) -> None:
        """Await the current step; when it is done, build and await the next ones."""
        if not self.started:
            return
        while self.position < len(self.steps):
            if self.awaiting is None:
                built = [self.invoke(action) for action in self.steps[self.position]]
                # V1 awaits WhenAny of the set; V2 awaits its one action.
                self.awaiting = _NetTask(compound=A.WHEN_ANY, children=built) if built else _NetTask(done=True)
            if not self.awaiting.is_done():
                return
            self.awaiting = None
            self.position += 1

    def replay(self, history: list[dict[str, Any]]) -> WalkResult:
        for event in history:
            kind = int(event.get("EventType", -1))
            if kind == T.EXECUTION_STARTED:
                self.started = True
            elif kind == T.EVENT_RAISED:
                self.raise_event(str(event.get("Name")))
            elif kind in _COMPLETIONS:
                self.complete(int(event[_COMPLETIONS[T(kind)]]))
            self.advance()
        finished = self.started and self.position >= len(self.steps)
        return WalkResult(sorted(self.scheduled, key=lambda a: a.sequence or 0), finished)


def walk(actions: list[list[dict[str, Any]]], history: list[dict[str, Any]], *,
         schema_v2: bool) -> WalkResult:
    """Replay ``actions`` (an OrchestratorState's) against ``history`` as the extension does.

    ``history`` is the whole history of the execution including this episode's new events.
    Raises :class:`ShimError` where the shim itself would throw.
    """
    return _Walk(actions, schema_v2).replay(history)


__all__ = ["ShimError", "WalkResult", "walk"]

"""Reading the actions an orchestrator episode returns, and the host's replay check.

The SDK returns *every* action the orchestration has scheduled since it started (the list
is append-only), grouped as a list of lists. With replay schema V1 each inner list is one
``yield``; with V2/V3 there is a single inner list and ``task_all``/``task_any`` appear as
``WhenAll``/``WhenAny`` actions holding ``compoundActions``. Either way the order of the
leaves is the order in which the SDK handed out sequence numbers, so numbering the leaves
that take one (activities, timers, sub-orchestrations, entity and HTTP calls) reproduces the
``EventId`` the host records for each.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from azure.durable_functions.models.actions.ActionType import ActionType as A
from azure.durable_functions.models.history.HistoryEventType import HistoryEventType as T

from .errors import NonDeterminismError

# Action types that consume an orchestrator sequence number.
_NUMBERED = {
    A.CALL_ACTIVITY, A.CALL_ACTIVITY_WITH_RETRY, A.CALL_SUB_ORCHESTRATOR,
    A.CALL_SUB_ORCHESTRATOR_WITH_RETRY, A.CONTINUE_AS_NEW, A.CREATE_TIMER, A.CALL_ENTITY,
    A.CALL_HTTP, A.SIGNAL_ENTITY,
}
_COMPOUND = {A.WHEN_ALL, A.WHEN_ANY}

ACTIVITY = "activity"
TIMER = "timer"
SUB_ORCHESTRATION = "sub_orchestration"
WAIT_EVENT = "wait_event"
CONTINUE_AS_NEW = "continue_as_new"
UNSUPPORTED = "unsupported"

_KINDS = {
    A.CALL_ACTIVITY: ACTIVITY,
    A.CREATE_TIMER: TIMER,
    A.CALL_SUB_ORCHESTRATOR: SUB_ORCHESTRATION,
    A.WAIT_FOR_EXTERNAL_EVENT: WAIT_EVENT,
    A.CONTINUE_AS_NEW: CONTINUE_AS_NEW,
}

# The DTFx action class names, used in the host's replay-mismatch messages.
_HOST_ACTION_NAMES = {
    ACTIVITY: "ScheduleTaskOrchestratorAction",
    TIMER: "CreateTimerOrchestratorAction",
    SUB_ORCHESTRATION: "CreateSubOrchestrationAction",
    CONTINUE_AS_NEW: "OrchestrationCompleteOrchestratorAction",
    UNSUPPORTED: "OrchestratorAction",
}


@dataclass(frozen=True)
class PlannedAction:
    """One leaf action, with the sequence number the host gives it (``None`` if it takes none)."""

    kind: str
    action_type: int
    sequence: int | None
    raw: dict[str, Any]

    @property
    def name(self) -> str | None:
        """Function, event or orchestrator name, when the action has one."""
        value = self.raw.get("functionName") or self.raw.get("externalEventName")
        return str(value) if value is not None else None

    @property
    def input(self) -> str | None:
        """The action's input: JSON text already encoded by the SDK."""
        value = self.raw.get("input")
        return None if value is None else str(value)

    @property
    def fire_at(self) -> str | None:
        """A timer's due time (SDK timestamp text)."""
        value = self.raw.get("fireAt")
        return None if value is None else str(value)

    @property
    def is_canceled(self) -> bool:
        """Whether a timer was cancelled by the orchestrator."""
        return bool(self.raw.get("isCanceled"))

    @property
    def instance_id(self) -> str | None:
        """A sub-orchestration's requested instance id."""
        value = self.raw.get("instanceId")
        return None if value is None else str(value)


def _leaves(action: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if action.get("actionType") in _COMPOUND:
        for child in action.get("compoundActions") or []:
            yield from _leaves(child)
    else:
        yield action


def plan(actions: Iterable[Iterable[dict[str, Any]]]) -> list[PlannedAction]:
    """Flatten an OrchestratorState ``actions`` payload into numbered leaf actions."""
    planned: list[PlannedAction] = []
    sequence = 0
    for group in actions or []:
        for action in group or []:
            for leaf in _leaves(action):
                action_type = int(leaf.get("actionType", -1))
                kind = _KINDS.get(action_type, UNSUPPORTED)  # IntEnum keys match plain ints
                number: int | None = None
                if action_type in _NUMBERED:
                    number = sequence
                    sequence += 1
                planned.append(PlannedAction(kind, action_type, number, leaf))
    return planned


def check_replay(instance_id: str, history: list[dict[str, Any]],
                 planned: list[PlannedAction]) -> list[PlannedAction]:
    """Compare ``planned`` with the scheduling events in ``history``; return the new actions.

    Raises :class:`NonDeterminismError` (the framework's wording) when the replay scheduled
    something else at a recorded sequence number, or did not schedule a recorded one.
    """
    by_sequence = {a.sequence: a for a in planned if a.sequence is not None}
    recorded: set[int] = set()
    for event in history:
        kind = event["EventType"]
        if kind not in (T.TASK_SCHEDULED, T.TIMER_CREATED, T.SUB_ORCHESTRATION_INSTANCE_CREATED):
            continue
        seq = int(event["EventId"])
        recorded.add(seq)
        action = by_sequence.get(seq)
        if kind == T.TASK_SCHEDULED:
            _check_task(instance_id, event, seq, action)
        elif kind == T.TIMER_CREATED:
            _check_timer(instance_id, seq, action)
        else:
            _check_sub_orchestration(instance_id, event, seq, action)
    return [a for a in planned if a.sequence is not None and a.sequence not in recorded]


_CHANGED = "Was a change made to the orchestrator code after this instance had already started running?"


def _host_name(action: PlannedAction) -> str:
    return _HOST_ACTION_NAMES.get(action.kind, "OrchestratorAction")


def _check_task(instance_id: str, event: dict[str, Any], seq: int,
                action: PlannedAction | None) -> None:
    name = event.get("Name")
    if action is None:
        raise NonDeterminismError(instance_id, (
            f"A previous execution of this orchestration scheduled an activity task with sequence ID "
            f"{seq} and name '{name}' (version '{event.get('Version') or ''}'), but the current replay "
            f"execution hasn't (yet?) scheduled this task. {_CHANGED}"), sequence=seq)
    if action.kind != ACTIVITY:
        raise NonDeterminismError(instance_id, (
            f"A previous execution of this orchestration scheduled an activity task with sequence number "
            f"{seq} named '{name}', but the current orchestration replay instead produced a "
            f"{_host_name(action)} action with this sequence number. {_CHANGED}"), sequence=seq)
    if str(action.name).lower() != str(name).lower():
        raise NonDeterminismError(instance_id, (
            f"A previous execution of this orchestration scheduled an activity task with sequence number "
            f"{seq} named '{name}', but the current orchestration replay instead scheduled an activity "
            f"task named '{action.name}' with this sequence number.  {_CHANGED}"), sequence=seq)


def _check_timer(instance_id: str, seq: int, action: PlannedAction | None) -> None:
    if action is None:
        raise NonDeterminismError(instance_id, (
            f"A previous execution of this orchestration scheduled a timer task with sequence number "
            f"{seq} but the current replay execution hasn't (yet?) scheduled this task. {_CHANGED}"),
            sequence=seq)
    if action.kind != TIMER:
        raise NonDeterminismError(instance_id, (
            f"A previous execution of this orchestration scheduled a timer task with sequence number "
            f"{seq} but the current orchestration replay instead produced a {_host_name(action)} "
            f"action with this sequence number. {_CHANGED}"), sequence=seq)


def _check_sub_orchestration(instance_id: str, event: dict[str, Any], seq: int,
                             action: PlannedAction | None) -> None:
    head = (f"A previous execution of this orchestration scheduled a sub-orchestration task with "
            f"sequence ID {seq} and name '{event.get('Name')}' (version '{event.get('Version') or ''}', "
            f"instance ID '{event.get('InstanceId')}')")
    if action is None:
        raise NonDeterminismError(instance_id, (
            f"{head}, but the current replay execution hasn't (yet?) scheduled this task. {_CHANGED}"),
            sequence=seq)
    if action.kind != SUB_ORCHESTRATION:
        raise NonDeterminismError(instance_id, (
            f"{head}, but the current orchestration replay instead produced a {_host_name(action)} "
            f"action at this sequence number. {_CHANGED}"), sequence=seq)
    if str(action.name).lower() != str(event.get("Name")).lower():
        raise NonDeterminismError(instance_id, (
            f"{head}, but the current orchestration replay instead scheduled a sub-orchestration task "
            f"with name {action.name} at this sequence number. {_CHANGED}"), sequence=seq)


__all__ = [
    "ACTIVITY",
    "CONTINUE_AS_NEW",
    "SUB_ORCHESTRATION",
    "TIMER",
    "UNSUPPORTED",
    "WAIT_EVENT",
    "PlannedAction",
    "check_replay",
    "plan",
]

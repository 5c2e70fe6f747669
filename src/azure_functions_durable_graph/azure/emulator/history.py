"""History events in the JSON shape the Durable Functions Python SDK reads.

The SDK builds ``HistoryEvent(**event)`` from each dict, so every event carries ``EventType``
(``HistoryEventType`` value), ``EventId``, ``IsPlayed`` and ``Timestamp``; the other keys are
the Durable Task Framework's property names (``Name``, ``Input``, ``Result``, ``TaskScheduledId``,
``TimerId``, ``FireAt``, ``Reason``, ``Details``, ...). Scheduling events (task, timer,
sub-orchestration) use the orchestrator's sequence number as ``EventId``; every other event
uses -1, as the framework does.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from azure.durable_functions.models.history.HistoryEventType import HistoryEventType as T

# The SDK's own wire format for timestamps (``azure.durable_functions.constants``).
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

Event = dict[str, Any]


def to_datetime(epoch_seconds: float) -> datetime:
    """An aware UTC datetime for ``epoch_seconds``."""
    return datetime.fromtimestamp(epoch_seconds, tz=timezone.utc)


def format_timestamp(epoch_seconds: float) -> str:
    """``epoch_seconds`` in the SDK's history timestamp format."""
    return to_datetime(epoch_seconds).strftime(TIMESTAMP_FORMAT)


def parse_timestamp(text: str) -> float:
    """Seconds since the epoch for an SDK timestamp (``fireAt`` of a timer action, ...)."""
    from dateutil.parser import parse  # the SDK's own parser, so both sides agree

    value = parse(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return float(value.timestamp())


def _event(kind: T, now: float, *, event_id: int = -1, **fields: Any) -> Event:
    event: Event = {
        "EventType": int(kind),
        "EventId": event_id,
        "IsPlayed": False,
        "Timestamp": format_timestamp(now),
    }
    event.update(fields)
    return event


def orchestrator_started(now: float) -> Event:
    """Opens an episode; its timestamp becomes ``context.current_utc_datetime``."""
    return _event(T.ORCHESTRATOR_STARTED, now)


def orchestrator_completed(now: float) -> Event:
    """Closes an episode."""
    return _event(T.ORCHESTRATOR_COMPLETED, now)


def execution_started(
    now: float, *, name: str, input_json: str | None, instance_id: str, execution_id: str,
    parent: dict[str, Any] | None = None, version: str = "",
) -> Event:
    """First event of an execution. ``Version`` must be present: the SDK reads it unguarded."""
    return _event(
        T.EXECUTION_STARTED, now, Name=name, Input=input_json, Version=version,
        OrchestrationInstance={"InstanceId": instance_id, "ExecutionId": execution_id},
        ParentInstance=parent, Tags=None,
    )


def execution_completed(now: float, *, status: str, result: str | None,
                        failure: dict[str, Any] | None = None) -> Event:
    """The execution finished (``status`` is ``Completed`` or ``Failed``)."""
    return _event(T.EXECUTION_COMPLETED, now, OrchestrationStatus=status, Result=result,
                  FailureDetails=failure)


def execution_terminated(now: float, reason: str | None) -> Event:
    """A client terminated the instance."""
    return _event(T.EXECUTION_TERMINATED, now, Input=reason)


def execution_suspended(now: float, reason: str | None) -> Event:
    """A client suspended the instance."""
    return _event(T.EXECUTION_SUSPENDED, now, Reason=reason)


def execution_resumed(now: float, reason: str | None) -> Event:
    """A client resumed the instance."""
    return _event(T.EXECUTION_RESUMED, now, Reason=reason)


def continue_as_new(now: float, input_json: str | None) -> Event:
    """The execution restarts with new input (closes the old generation's history)."""
    return _event(T.CONTINUE_AS_NEW, now, Result=input_json)


def task_scheduled(now: float, sequence: int, *, name: str, input_json: str | None) -> Event:
    """An activity was scheduled at ``sequence``."""
    return _event(T.TASK_SCHEDULED, now, event_id=sequence, Name=name, Version="", Input=input_json)


def task_completed(now: float, sequence: int, result: str | None) -> Event:
    """The activity scheduled at ``sequence`` returned ``result`` (JSON text)."""
    return _event(T.TASK_COMPLETED, now, TaskScheduledId=sequence, Result=result)


def task_failed(now: float, sequence: int, *, reason: str, details: str | None) -> Event:
    """The activity scheduled at ``sequence`` raised."""
    return _event(T.TASK_FAILED, now, TaskScheduledId=sequence, Reason=reason, Details=details)


def timer_created(now: float, sequence: int, fire_at: str) -> Event:
    """A durable timer was created at ``sequence``."""
    return _event(T.TIMER_CREATED, now, event_id=sequence, FireAt=fire_at)


def timer_fired(now: float, sequence: int, fire_at: str) -> Event:
    """The timer created at ``sequence`` is due."""
    return _event(T.TIMER_FIRED, now, TimerId=sequence, FireAt=fire_at)


def event_raised(now: float, name: str, input_json: str | None) -> Event:
    """An external event arrived (the SDK matches it by ``Name``, payload in ``Input``)."""
    return _event(T.EVENT_RAISED, now, Name=name, Input=input_json)


def sub_orchestration_created(now: float, sequence: int, *, name: str, instance_id: str,
                              input_json: str | None, version: str = "") -> Event:
    """A sub-orchestration was started at ``sequence``."""
    return _event(T.SUB_ORCHESTRATION_INSTANCE_CREATED, now, event_id=sequence, Name=name,
                  Version=version, InstanceId=instance_id, Input=input_json)


def sub_orchestration_completed(now: float, sequence: int, result: str | None) -> Event:
    """The sub-orchestration started at ``sequence`` completed with ``result`` (JSON text)."""
    return _event(T.SUB_ORCHESTRATION_INSTANCE_COMPLETED, now, TaskScheduledId=sequence,
                  Result=result)


def sub_orchestration_failed(now: float, sequence: int, *, reason: str,
                             details: str | None) -> Event:
    """The sub-orchestration started at ``sequence`` failed or was terminated."""
    return _event(T.SUB_ORCHESTRATION_INSTANCE_FAILED, now, TaskScheduledId=sequence,
                  Reason=reason, Details=details)


def event_type_name(event: Event) -> str:
    """The history event type's name as the host's status API prints it (``TaskScheduled``)."""
    name = T(event["EventType"]).name
    return "".join(part.capitalize() for part in name.split("_"))


def for_status(event: Event, *, show_output: bool) -> dict[str, Any]:
    """One event as the status endpoint lists it with ``showHistory=true``."""
    out: dict[str, Any] = {"EventType": event_type_name(event), "Timestamp": event["Timestamp"]}
    for key in ("EventId", "Name", "FireAt", "TaskScheduledId", "TimerId", "Reason",
                "Details", "InstanceId", "OrchestrationStatus"):
        if event.get(key) is not None and not (key == "EventId" and event[key] < 0):
            out[key] = event[key]
    if show_output:
        for key in ("Input", "Result"):
            if event.get(key) is not None:
                out[key] = event[key]
    return out


__all__ = [
    "TIMESTAMP_FORMAT",
    "Event",
    "event_type_name",
    "for_status",
    "format_timestamp",
    "parse_timestamp",
    "to_datetime",
]

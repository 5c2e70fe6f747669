"""Replaying a recorded history against an app's current orchestrator, as the host does.

The orchestrator trigger payload is built here (the engine uses it for every episode), and
:func:`replay_history` runs one episode over a complete recorded history: the current code must
schedule exactly what the history recorded (else :class:`NonDeterminismError`, the host's
message) and reach the same end.
"""

from __future__ import annotations

import json
from typing import Any

from .actions import check_replay
from .errors import EmulatorError
from .functions import index_app
from .invoke import call_orchestrator
from .shim import walk

MAXIMUM_SHORT_TIMER = "6.00:00:00"
LONG_TIMER_INTERVAL = "3.00:00:00"


def orchestrator_context_json(history: list[dict[str, Any]], *, input_json: Any, instance_id: str,
                              parent_instance_id: str | None, upper_schema_version: int) -> str:
    """The orchestration trigger's payload: the history (earlier events marked played)."""
    return json.dumps({
        "history": history,
        "input": input_json,
        "instanceId": instance_id,
        "isReplaying": any(e.get("IsPlayed") for e in history),
        "parentInstanceId": parent_instance_id,
        # Older SDKs read only ``upperSchemaVersion`` (V2 at most); newer ones also read
        # ``upperSchemaVersionNew``, as the extension sends both.
        "upperSchemaVersion": min(upper_schema_version, 1),
        "upperSchemaVersionNew": upper_schema_version,
        # What the extension sends for the Azure Storage provider (AzureStorageDurabilityProvider
        # .cs: MaximumDelayTime 6 days, LongRunningTimerIntervalLength 3 days), as .NET TimeSpan
        # text (OrchestrationTriggerAttributeBindingProvider.cs): the SDK splits longer timers.
        "maximumShortTimerDuration": MAXIMUM_SHORT_TIMER,
        "longRunningTimerIntervalDuration": LONG_TIMER_INTERVAL,
    })


def replay_history(app: Any, orchestrator: str, history: list[dict[str, Any]], *, input_json: Any,
                   instance_id: str, upper_schema_version: int = 2) -> dict[str, Any]:
    """Run ``orchestrator`` of ``app`` over a whole recorded history; its OrchestratorState.

    Raises :class:`NonDeterminismError` when the replay schedules other work than recorded.
    """
    function = index_app(app).orchestrators.get(orchestrator)
    if function is None:
        raise EmulatorError(f"the app has no orchestrator '{orchestrator}'")
    played = [dict(e, IsPlayed=True) for e in history]
    body = orchestrator_context_json(played, input_json=input_json, instance_id=instance_id,
                                     parent_instance_id=None, upper_schema_version=upper_schema_version)
    outcome = call_orchestrator(function, body)
    if outcome.error is not None:
        raise EmulatorError(f"orchestrator '{orchestrator}' failed on replay: {outcome.error}")
    state = outcome.state or {}
    reached = walk(state.get("actions") or [], history,
                   schema_v2=int(state.get("schemaVersion") or 0) >= 1)
    check_replay(instance_id, history, reached.scheduled)
    return state


__all__ = ["LONG_TIMER_INTERVAL", "MAXIMUM_SHORT_TIMER", "orchestrator_context_json", "replay_history"]

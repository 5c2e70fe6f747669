"""Calling the app's functions the way the Python worker does, through the SDK's converters.

The worker turns each binding payload into a Python value with the ``azure.functions``
converter registered for the binding type, calls the user function, and encodes the return
value with the same converter. Going through the real converters keeps the emulator's
payloads identical to what the SDK sees under the Functions host.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import traceback
from dataclasses import dataclass
from typing import Any

from azure.functions import meta
from azure.functions.durable_functions import (
    ActivityTriggerConverter,
    OrchestrationTriggerConverter,
)

from .functions import IndexedFunction

# The SDK appends the orchestration state after this marker when the orchestrator raises.
OUT_OF_PROC_MARKER = "\n\n$OutOfProcData$:"


@dataclass(frozen=True)
class OrchestratorResult:
    """What one orchestrator invocation returned: a state, or an error (maybe with a state)."""

    state: dict[str, Any] | None
    error: str | None = None


def call_orchestrator(function: IndexedFunction, context_json: str) -> OrchestratorResult:
    """Invoke an orchestrator with the trigger payload ``context_json`` (blocking)."""
    context = OrchestrationTriggerConverter.decode(
        meta.Datum(type="json", value=context_json), trigger_metadata=None)
    try:
        returned = function.user_function(context)
    except Exception as exc:  # the orchestrator's failure is data for the host
        message = str(exc) or type(exc).__name__
        state: dict[str, Any] | None = None
        if OUT_OF_PROC_MARKER in message:
            message, _, state_text = message.partition(OUT_OF_PROC_MARKER)
            try:
                state = json.loads(state_text)
            except ValueError:
                state = None
        return OrchestratorResult(state=state, error=message)
    datum = OrchestrationTriggerConverter.encode(returned, expected_type=None)
    value = datum.value
    if not isinstance(value, str):
        return OrchestratorResult(state=None, error=(
            f"orchestrator '{function.name}' returned {type(value).__name__}, not the SDK's "
            "state JSON; register it with DFApp.orchestration_trigger"))
    return OrchestratorResult(state=json.loads(value))


@dataclass(frozen=True)
class ActivityResult:
    """An activity's JSON result, or the host's failure reason and details."""

    result: str | None = None
    reason: str | None = None
    details: str | None = None

    @property
    def failed(self) -> bool:
        """Whether the activity raised."""
        return self.reason is not None


async def call_activity(function: IndexedFunction, input_json: str | None) -> ActivityResult:
    """Run an activity with its scheduled input: sync ones in a worker thread, async awaited."""
    try:
        argument = ActivityTriggerConverter.decode(
            meta.Datum(type="json", value=input_json if input_json is not None else "null"),
            trigger_metadata=None)
        kwargs = {function.trigger_param: argument}
        target = function.user_function
        if inspect.iscoroutinefunction(target):
            returned = await target(**kwargs)
        else:
            returned = await asyncio.to_thread(target, **kwargs)
            if inspect.isawaitable(returned):
                returned = await returned
        encoded = ActivityTriggerConverter.encode(returned, expected_type=None)
        return ActivityResult(result=str(encoded.value))
    except Exception as exc:  # reported to the orchestrator as TaskFailed
        return ActivityResult(
            reason=f"Activity function '{function.name}' failed: {type(exc).__name__}: {exc}",
            details=json.dumps({
                "$type": type(exc).__name__,
                "Message": str(exc),
                "StackTrace": "".join(traceback.format_exception(exc)).rstrip(),
            }),
        )


__all__ = [
    "OUT_OF_PROC_MARKER",
    "ActivityResult",
    "OrchestratorResult",
    "call_activity",
    "call_orchestrator",
]

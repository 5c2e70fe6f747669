"""Step history of a run read back from its Durable history.

Every activity returns a self-describing result (task id, node, step, attempt, timings) and a
subgraph's orchestration output names the parent task, so the steps can be rebuilt from the
``TaskCompleted`` and ``SubOrchestrationInstanceCompleted`` events Durable keeps.
"""

from __future__ import annotations

import json
from typing import Any

from ..core import COMPLETED

STEP_EVENTS = ("TaskCompleted", "SubOrchestrationInstanceCompleted")


def decoded(value: Any) -> Any:
    """A JSON text decoded (Durable hands payloads back as text or values); else as is."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _event_type(event: Any) -> str:
    raw = event.get("EventType", event.get("eventType"))
    names = {5: "TaskCompleted", 8: "SubOrchestrationInstanceCompleted"}  # HistoryEventType values
    return names.get(raw, str(raw)) if isinstance(raw, int) else str(raw)


def steps_from_history(events: list[Any]) -> list[dict[str, Any]]:
    """The run's steps (node, step, attempt, update, route, error, timings), oldest first."""
    steps: list[dict[str, Any]] = []
    for event in events:
        if not isinstance(event, dict) or _event_type(event) not in STEP_EVENTS:
            continue
        result = decoded(event.get("Result", event.get("result")))
        if not isinstance(result, dict):
            continue
        if "parent_task" in result and isinstance(result["parent_task"], dict):
            task = result["parent_task"]
            steps.append({**task, "ok": result.get("status") == COMPLETED,
                          "update": result.get("state"), "route": None, "error": None,
                          "started_at": None, "finished_at": None})
        elif "task_id" in result:
            steps.append({k: result.get(k) for k in (
                "step", "task_id", "node", "attempt", "ok", "update", "route", "error",
                "started_at", "finished_at")})
    # Parallel tasks finish in any order; like the local store, list a superstep's tasks in
    # the order they were created (task ids are "{step}:{index}:{node}").
    steps.sort(key=_creation_order)
    return steps


def _creation_order(step: dict[str, Any]) -> tuple[int, int]:
    parts = str(step.get("task_id", "")).split(":")
    index = int(parts[1]) if len(parts) >= 3 and parts[1].isdigit() else 0
    return (int(step.get("step") or 0), index)


__all__ = ["decoded", "steps_from_history"]

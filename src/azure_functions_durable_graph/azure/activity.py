"""The one activity: runs one task (a node and its router, an event handler, or custom
reducers) with the handlers of the current deployment, looked up by name.

The run's manifest travels with the run, so the task command says which graph (and which
subgraph path) it belongs to; only the user code comes from the code deployed now. A graph or
handler missing from this deployment fails the task with a clear, non-retryable error.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from ..execution.emits import EmitSink, ParentRunEmits
from ..execution.executor import execute_task, failure_record
from ..execution.registry import GraphRegistry
from ..graph.errors import HandlerNotFoundError


async def run_task(graphs: GraphRegistry, command: dict[str, Any],
                   emits: EmitSink | None = None) -> dict[str, Any]:
    """Execute one task command; the result names the task (history is rebuilt from it).

    The task's emits go to ``emits``; a subgraph's belong to the stream of its top-level run.
    """
    started = time.time()
    root = command.get("root") or {"graph": command["graph"]}
    if emits is not None and root.get("instance_id"):
        emits = ParentRunEmits(emits, root["instance_id"], root.get("task"))
    try:
        # The run's version when still registered, else the latest of its graph; then down
        # the subgraph path (GraphRegistry.code_for_task).
        registration = graphs.code_for_task(root)
        result = await execute_task(registration, command, emits=emits)
    except HandlerNotFoundError as exc:
        result = {"ok": False, "error": failure_record(exc, command)}
    return {
        **result,
        "task_id": command["task_id"], "node": command["node"], "step": command["step"],
        "attempt": command["attempt"], "kind": command.get("kind", "node"),
        "started_at": started, "finished_at": time.time(),
    }


def activity_body(graphs: GraphRegistry, command: Any, emits: EmitSink | None = None) -> dict[str, Any]:
    """The activity function's body. Sync on purpose: the Functions worker runs it on a
    thread, so a blocking node never stalls the worker's event loop."""
    if isinstance(command, str):
        command = json.loads(command)
    return asyncio.run(run_task(graphs, command, emits))


__all__ = ["activity_body", "run_task"]

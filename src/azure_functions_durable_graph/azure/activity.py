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
from typing import TYPE_CHECKING, Any

from ..execution.executor import execute_task, failure_record
from ..graph.errors import HandlerNotFoundError
from ..graph.registration import GraphRegistration

if TYPE_CHECKING:
    from .app import DurableGraphApp


def find_registration(owner: DurableGraphApp, root: dict[str, Any]) -> GraphRegistration:
    """The registration a task's code comes from: the run's version when still registered,
    else the latest version of that graph; then down the subgraph path."""
    name = str(root.get("graph"))
    versions = [owner.get(name, v) for v in owner.versions(name)]
    if not versions:
        raise HandlerNotFoundError(f"graph '{name}' is not registered in this deployment")
    registration = next((r for r in versions if r.manifest.graph_hash == root.get("hash")), versions[-1])
    for node in root.get("path", []):
        child = registration.subgraphs.get(node)
        if child is None:
            raise HandlerNotFoundError(
                f"graph '{registration.graph_name}': subgraph node '{node}' is not in this deployment"
            )
        registration = child
    return registration


async def run_task(owner: DurableGraphApp, command: dict[str, Any]) -> dict[str, Any]:
    """Execute one task command; the result names the task (history is rebuilt from it)."""
    started = time.time()
    try:
        registration = find_registration(owner, command.get("root") or {"graph": command["graph"]})
        result = await execute_task(registration, command)
    except HandlerNotFoundError as exc:
        result = {"ok": False, "error": failure_record(exc, command)}
    return {
        **result,
        "task_id": command["task_id"], "node": command["node"], "step": command["step"],
        "attempt": command["attempt"], "kind": command.get("kind", "node"),
        "started_at": started, "finished_at": time.time(),
    }


def activity_body(owner: DurableGraphApp, command: Any) -> dict[str, Any]:
    """The activity function's body. Sync on purpose: the Functions worker runs it on a
    thread, so a blocking node never stalls the worker's event loop."""
    if isinstance(command, str):
        command = json.loads(command)
    return asyncio.run(run_task(owner, command))


__all__ = ["activity_body", "find_registration", "run_task"]

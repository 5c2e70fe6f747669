"""The pure interpreter: snapshot + input in, next snapshot and commands out.

Every function here is deterministic: no clock (``now`` is passed in by the driver), no I/O,
no randomness, no user code. Drivers (the in-process runner, the local engine, the Azure
orchestrator) call :func:`start_run` once, then loop: :func:`decide` says what must be in
flight; each finished task, fired timer, delivered event or cancel request is applied with the
matching ``apply_*`` function. ``apply_*`` functions update the snapshot in place and return the
run events (progress records) they produced.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..graph.errors import EventNotDeclaredError
from ..graph.manifest import GraphManifest, shown_state
from .boundary import RunEvents, advance, fail_run, start_superstep
from .compiled import CompiledGraph, compile_manifest
from .records import (
    ErrorRecord,
    RunStatus,
    Snapshot,
    TaskCommand,
    TaskRecord,
    TaskResult,
    TimerRecord,
    WaitRecord,
)
from .snapshot import (
    COMPLETED,
    DONE,
    FINISHED,
    READY,
    REDUCE,
    RETRY_WAIT,
    SUBGRAPH,
    check_snapshot,
    find_task,
    new_snapshot,
)
from .superstep import (
    RunFailure,
)

ManifestLike = GraphManifest | CompiledGraph | dict[str, Any]


@dataclass
class Commands:
    """What the driver must have in flight for a run right now."""

    status: RunStatus
    tasks: list[TaskCommand] = field(default_factory=list)
    timers: list[TimerRecord] = field(default_factory=list)
    waits: list[WaitRecord] = field(default_factory=list)
    output: dict[str, Any] | None = None
    error: ErrorRecord | None = None
    compact: bool = False

    @property
    def finished(self) -> bool:
        """Whether the run reached a final status."""
        return self.status in FINISHED


def _graph(manifest: ManifestLike) -> CompiledGraph:
    return manifest if isinstance(manifest, CompiledGraph) else compile_manifest(manifest)


def start_run(
    manifest: ManifestLike,
    state: dict[str, Any],
    *,
    run_id: str,
    metadata: dict[str, Any] | None = None,
    now: float = 0.0,
) -> tuple[Snapshot, RunEvents]:
    """A new run's snapshot with its first superstep (the entrypoint) ready to run.

    ``state`` must already be validated against the state model and in JSON mode.
    """
    graph = _graph(manifest)
    m = graph.manifest
    snapshot = new_snapshot(run_id, m.graph_name, m.graph_hash, dict(state), metadata)
    events: RunEvents = [{"type": "run_started", "graph": m.graph_name, "graph_hash": m.graph_hash}]
    try:
        start_superstep(graph, snapshot, [{"node": m.entrypoint}], events, now)
    except RunFailure as failure:
        events += fail_run(snapshot, failure.error)
    return snapshot, events


def decide(
    manifest: ManifestLike, snapshot: Snapshot, *, compact_after_steps: int | None = None
) -> Commands:
    """The work a driver must have in flight; reading only, the snapshot is not changed."""
    graph = _graph(manifest)
    status = snapshot["status"]
    if status in FINISHED:
        output = build_output(graph, snapshot) if status == COMPLETED else None
        return Commands(status=status, output=output, error=snapshot["error"])
    tasks = [task_command(graph, snapshot, t) for t in snapshot["tasks"] if t["status"] == READY]
    at_boundary = bool(snapshot["tasks"]) and all(
        t["status"] == READY and t["attempt"] == 1 for t in snapshot["tasks"]
    )
    compact = (
        compact_after_steps is not None
        and at_boundary
        and snapshot["steps_since_compaction"] > compact_after_steps
    )
    return Commands(
        status=status,
        tasks=tasks,
        timers=list(snapshot["timers"]),
        waits=list(snapshot["waits"]),
        compact=compact,
    )


def task_command(graph: CompiledGraph, snapshot: Snapshot, task: TaskRecord) -> TaskCommand:
    """Everything an executor needs to run ``task``; plain JSON."""
    run_id = snapshot["run_id"]
    command: TaskCommand = {
        "run_id": run_id,
        "graph": graph.graph_name,
        "graph_hash": graph.manifest.graph_hash,
        "task_id": task["id"],
        "node": task["node"],
        "kind": task["kind"],
        "step": task["step"],
        "attempt": task["attempt"],
        "state": snapshot["state"],
        "metadata": snapshot["metadata"],
        "idempotency_key": f"{run_id}:{task['id']}",
    }
    if "payload" in task:
        command["payload"] = task["payload"]
    if "error" in task:
        command["error"] = task["error"]
    if "event" in task:
        command["event"] = task["event"]
    if "resume" in task:
        command["resume"] = task["resume"]
    if "base" in task:
        command["base"] = task["base"]
    if "updates" in task:
        command["updates"] = task["updates"]
    if task["kind"] == SUBGRAPH:
        child = graph.child(task["node"])
        command["child_graph"] = child.graph_name
        command["child_run_id"] = f"{run_id}:{task['id']}:{task['attempt']}"
        command["child_input"] = {k: v for k, v in snapshot["state"].items() if k in child.fields}
    spec = graph.nodes.get(task["node"])
    if spec is not None and spec.timeout is not None:
        command["timeout"] = spec.timeout
    return command


def apply_task_result(
    manifest: ManifestLike, snapshot: Snapshot, task_id: str, result: TaskResult | dict[str, Any], *, now: float
) -> RunEvents:
    """Record a task's result (``{"ok": true, "update", "route"}`` or ``{"ok": false, "error"}``).

    A result for an unknown or already finished task is ignored: applying twice is impossible.
    """
    graph = _graph(manifest)
    check_snapshot(snapshot)
    task = find_task(snapshot, task_id)
    if task is None or task["status"] != READY or snapshot["status"] in FINISHED:
        return []
    events: RunEvents = []
    base = {
        "task_id": task_id,
        "node": task["node"],
        "step": task["step"],
        "attempt": task["attempt"],
    }
    if result.get("ok"):
        task["status"] = DONE
        update = result.get("update") or {}
        if task["kind"] == SUBGRAPH:  # the child's final state merges back by field name
            update = {k: v for k, v in update.items() if k in graph.fields}
        task["result"] = {"update": update, "route": result.get("route")}
        if task["kind"] == REDUCE:
            return advance(graph, snapshot, events, now)
        events.append(
            {
                "type": "task_completed",
                **base,
                "update": task["result"]["update"],
                "route": task["result"]["route"],
            }
        )
    else:
        error = dict(result.get("error") or {})
        error.setdefault("node", task["node"])
        error.setdefault("attempt", task["attempt"])
        delay = _retry_delay(graph, task, error)
        events.append(
            {"type": "task_failed", **base, "error": error, "will_retry": delay is not None}
        )
        if delay is not None:
            task["status"] = RETRY_WAIT
            timer_id = f"retry:{task_id}:{task['attempt'] + 1}"
            snapshot["timers"].append(
                {"id": timer_id, "fire_at": now + delay, "kind": "retry", "task": task_id}
            )
        else:
            spec = graph.nodes.get(task["node"])
            if spec is not None and spec.on_error is not None:
                task["status"] = DONE
                task["result"] = {"update": {}, "route": None}
                task["error_route"] = spec.on_error
                task["error"] = error
            else:
                return events + fail_run(
                    snapshot,
                    {"code": error.get("code") or "NODE_FAILED", **error, "step": task["step"]},
                )
    return events + advance(graph, snapshot, [], now)


def _retry_delay(graph: CompiledGraph, task: TaskRecord, error: ErrorRecord) -> float | None:
    spec = graph.nodes.get(task["node"])
    if spec is None or spec.retry is None or error.get("retryable") is False:
        return None
    policy = spec.retry
    if error.get("type") in policy.non_retryable or task["attempt"] >= policy.max_attempts:
        return None
    return policy.delay_before(task["attempt"] + 1)


def apply_timer_fired(
    manifest: ManifestLike, snapshot: Snapshot, timer_id: str, *, now: float
) -> RunEvents:
    """A durable timer fired: retry a task, or time out a wait. Stale timers are ignored."""
    graph = _graph(manifest)
    timer = next((t for t in snapshot["timers"] if t["id"] == timer_id), None)
    if timer is None or snapshot["status"] in FINISHED:
        return []
    snapshot["timers"].remove(timer)
    events: RunEvents = []
    if timer["kind"] == "retry":
        task = find_task(snapshot, timer["task"])
        if task is not None and task["status"] == RETRY_WAIT:
            task["status"] = READY
            task["attempt"] += 1
            events.append(
                {
                    "type": "task_retrying",
                    "task_id": task["id"],
                    "node": task["node"],
                    "attempt": task["attempt"],
                }
            )
        return events
    wait = next((w for w in snapshot["waits"] if w["id"] == timer["wait"]), None)
    if wait is None:
        return events
    snapshot["waits"].remove(wait)
    events.append(
        {
            "type": "wait_timed_out",
            "event": wait["event"],
            "node": wait["node"],
            "on_timeout": wait["on_timeout"],
        }
    )
    if wait["on_timeout"] is None:
        return events + fail_run(
            snapshot,
            {
                "code": "WAIT_TIMEOUT",
                "type": "WAIT_TIMEOUT",
                "node": wait["node"],
                "message": f"graph '{graph.graph_name}', node '{wait['node']}': no '{wait['event']}' event arrived before the deadline",
            },
        )
    snapshot["ready"].append({"node": wait["on_timeout"]})
    return events + advance(graph, snapshot, [], now)


def apply_event(
    manifest: ManifestLike,
    snapshot: Snapshot,
    name: str,
    payload: Any,
    *,
    now: float,
    event_id: str | None = None,
) -> RunEvents:
    """Deliver an external event: buffered until a wait of that name consumes it (FIFO)."""
    graph = _graph(manifest)
    if name not in graph.events:
        raise EventNotDeclaredError.for_event(graph.graph_name, name, graph.events,
                                              instance_id=str(snapshot["run_id"]))
    if snapshot["status"] in FINISHED:
        return []
    if event_id is None:
        event_id = f"e{snapshot['next_event_id']}"
    if event_id in snapshot["consumed_events"] or any(
        e["id"] == event_id for e in snapshot["inbox"]
    ):
        return []  # the same event delivered twice (at-least-once transports) counts once
    snapshot["next_event_id"] += 1
    snapshot["inbox"].append({"id": event_id, "name": name, "payload": payload})
    events: RunEvents = [{"type": "event_received", "event": name, "event_id": event_id}]
    return events + advance(graph, snapshot, [], now)


def apply_cancel(
    manifest: ManifestLike, snapshot: Snapshot, reason: str | None = None, *, now: float
) -> RunEvents:
    """Graceful cancel: at once when nothing runs, else at the next superstep boundary."""
    graph = _graph(manifest)
    if snapshot["status"] in FINISHED:
        return []
    snapshot["cancel"] = {"reason": reason}
    events: RunEvents = [{"type": "cancel_requested", "reason": reason}]
    return events + advance(graph, snapshot, [], now)


def mark_compacted(snapshot: Snapshot) -> None:
    """The driver compacted its history (e.g. continue-as-new) at this boundary."""
    snapshot["steps_since_compaction"] = 0


def build_output(manifest: ManifestLike, snapshot: Snapshot) -> dict[str, Any]:
    """The output of a completed run: final state, final nodes, graph identity, step count."""
    graph = _graph(manifest)
    m = graph.manifest
    state = snapshot["state"]
    if m.output_fields is not None:  # the graph's output schema: only these fields
        state = {k: state[k] for k in m.output_fields if k in state}
    state = shown_state(state, m.hidden_fields)  # bookkeeping fields are never output
    return {
        "state": state,
        "final_nodes": list(snapshot["final_nodes"]),
        "graph_name": m.graph_name,
        "graph_version": m.version,
        "graph_hash": m.graph_hash,
        "steps": snapshot["step"],
    }


__all__ = [
    "Commands",
    "apply_cancel",
    "apply_event",
    "apply_task_result",
    "apply_timer_fired",
    "build_output",
    "decide",
    "mark_compacted",
    "start_run",
    "task_command",
]

"""Closing a superstep and opening the next: the part of the interpreter every input ends in.

When no task of the current superstep is left to run, :func:`advance` applies the superstep
(updates through reducers, then routes), and :func:`start_superstep` announces waits, matches
buffered events and creates the next tasks, or completes, parks or fails the run. Pure: the
time is an argument.
"""

from __future__ import annotations

from .compiled import CompiledGraph
from .records import Activation, ErrorRecord, RunEvent, Snapshot
from .snapshot import (
    CANCELLED,
    COMPLETED,
    FAILED,
    FINISHED,
    READY,
    REDUCE,
    RETRY_WAIT,
    RUNNING,
    WAITING,
)
from .superstep import (
    RunFailure,
    apply_updates,
    create_tasks,
    match_waits,
    plan_next,
    reduce_task,
    route_tasks,
)

RunEvents = list[RunEvent]


def fail_run(snapshot: Snapshot, error: ErrorRecord) -> RunEvents:
    """End the run as failed with ``error``; its timers and waits are dropped."""
    snapshot["status"] = FAILED
    snapshot["error"] = error
    snapshot["timers"] = []
    snapshot["waits"] = []
    return [{"type": "run_failed", "error": error}]


def advance(graph: CompiledGraph, snapshot: Snapshot, events: RunEvents, now: float) -> RunEvents:
    """If the current superstep is over, apply it and start the next one (or finish)."""
    if snapshot["status"] in FINISHED:
        return events
    tasks = snapshot["tasks"]
    if any(t["status"] == READY for t in tasks):
        return events
    if snapshot["cancel"] is not None:
        snapshot["status"] = CANCELLED
        snapshot["tasks"], snapshot["timers"], snapshot["waits"] = [], [], []
        return events + [{"type": "run_cancelled", "reason": snapshot["cancel"]["reason"]}]
    if any(t["status"] == RETRY_WAIT for t in tasks):
        return events
    try:
        if tasks and tasks[0]["kind"] == REDUCE:
            snapshot["state"].update(tasks[0]["result"]["update"])
            frontier = snapshot["frontier"] or []
            snapshot["frontier"] = None
        elif tasks:
            custom = apply_updates(graph, snapshot, tasks)
            activations = route_tasks(graph, snapshot, tasks, now)
            if custom:
                snapshot["frontier"] = activations
                snapshot["tasks"] = [reduce_task(snapshot, custom)]
                return events
            frontier = activations
        else:
            frontier = []
        snapshot["tasks"] = []
        start_superstep(graph, snapshot, frontier, events, now)
    except RunFailure as failure:
        return events + fail_run(snapshot, failure.error)
    return events


def start_superstep(
    graph: CompiledGraph,
    snapshot: Snapshot,
    activations: list[Activation],
    events: RunEvents,
    now: float,
) -> None:
    """Announce new waits, then open the next superstep from ``activations`` (or finish)."""
    for wait in snapshot["waits"]:
        if not wait.get("announced"):
            wait["announced"] = True
            events.append(
                {
                    "type": "waiting",
                    "event": wait["event"],
                    "node": wait["node"],
                    "resume_node": wait["resume_node"],
                    "deadline": wait["deadline"],
                }
            )
    snapshot["ready"].extend(match_waits(snapshot))
    frontier = plan_next(graph, snapshot, activations)
    if not frontier:
        if snapshot["waits"]:
            snapshot["status"] = WAITING
            return
        snapshot["status"] = COMPLETED
        snapshot["timers"] = []
        events.append({"type": "run_completed", "final_nodes": list(snapshot["final_nodes"])})
        return
    max_steps = graph.manifest.max_steps
    if snapshot["step"] >= max_steps:
        raise RunFailure(
            "MAX_STEPS_EXCEEDED",
            f"graph '{graph.graph_name}': run '{snapshot['run_id']}' exceeded max_steps={max_steps}",
        )
    snapshot["status"] = RUNNING
    tasks = create_tasks(graph, snapshot, frontier)
    events.append(
        {
            "type": "step_started",
            "step": snapshot["step"],
            "tasks": [{"task_id": t["id"], "node": t["node"]} for t in tasks],
        }
    )


__all__ = ["RunEvents", "advance", "fail_run", "start_superstep"]

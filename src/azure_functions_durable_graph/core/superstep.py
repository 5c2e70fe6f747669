"""The superstep boundary: apply every finished task's update, route, and start the next step.

Updates are applied in task-creation order through each field's reducer. Routing turns each
task's route into activations (the tasks of the next superstep), waits and finished branches.
"""

from __future__ import annotations

from typing import Any

from ..graph.reducers import CUSTOM, REPLACE, apply_builtin
from ..graph.routing import END, RouteAction
from .compiled import CompiledGraph
from .records import Activation, InboxEvent, Snapshot, TaskKind, TaskRecord
from .snapshot import EVENT, NODE, READY, REDUCE, SUBGRAPH

_NO_VALUE = object()


class RunFailure(Exception):
    """Raised inside the interpreter when the run must fail; carries the error record."""

    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.error: dict[str, Any] = {"code": code, "type": code, "message": message, **extra}


def apply_updates(
    graph: CompiledGraph, snapshot: Snapshot, tasks: list[TaskRecord]
) -> dict[str, list[Any]]:
    """Apply the built-in-reducer part of every task's update, in order.

    Returns the updates of fields with a custom reducer (field -> values in task order), which
    must be reduced by user code before the state is complete.
    """
    state: dict[str, Any] = snapshot["state"]
    written: dict[str, tuple[str, Any]] = {}
    custom: dict[str, list[Any]] = {}
    g = graph.graph_name
    for task in tasks:
        update: dict[str, Any] = task["result"].get("update") or {}
        whole_values = task["kind"] in (SUBGRAPH, REDUCE)
        for field, value in update.items():
            if field not in graph.fields:
                raise RunFailure(
                    "INVALID_UPDATE",
                    f"graph '{g}', node '{task['node']}': update names unknown field '{field}'",
                    node=task["node"],
                    field=field,
                )
            reducer = REPLACE if whole_values else graph.reducers.get(field, REPLACE)
            if reducer == CUSTOM:
                custom.setdefault(field, []).append(value)
                continue
            if reducer == REPLACE:
                previous = written.get(field)
                if previous is not None and previous[1] != value:
                    raise RunFailure(
                        "INVALID_UPDATE",
                        f"graph '{g}': nodes '{previous[0]}' and '{task['node']}' wrote different "
                        f"values to field '{field}' in the same superstep; give it a reducer",
                        node=task["node"],
                        field=field,
                    )
                written[field] = (task["node"], value)
            try:
                state[field] = apply_builtin(reducer, field, state.get(field), value)
            except Exception as exc:  # reducer errors carry a message naming the field
                raise RunFailure(
                    "INVALID_UPDATE",
                    f"graph '{g}', node '{task['node']}': {getattr(exc, 'message', exc)}",
                    node=task["node"],
                    field=field,
                ) from None
    return custom


def route_tasks(
    graph: CompiledGraph, snapshot: Snapshot, tasks: list[TaskRecord], now: float
) -> list[Activation]:
    """Turn each finished task's route into next activations; record waits and ended branches."""
    activations: list[Activation] = []
    for task in tasks:
        if task["kind"] == EVENT:
            activations.append({"node": task["resume"]})
            continue
        spec = graph.nodes[task["node"]]
        route: dict[str, Any] = task["result"].get("route") or {"action": RouteAction.DEFAULT}
        # RouteAction is a str enum: it equals the action's JSON text.
        action = route.get("action", RouteAction.DEFAULT)
        if task.get("error_route"):
            activations.append({"node": task["error_route"], "error": task["error"]})
        elif spec.terminal or action == RouteAction.COMPLETE:
            snapshot["final_nodes"].append(spec.name)
        elif action == RouteAction.DEFAULT:
            if spec.next:
                activations.extend(
                    _node_targets(graph, spec.name, spec.next, declared=False, snapshot=snapshot)
                )
            else:
                snapshot["final_nodes"].append(spec.name)
        elif action == RouteAction.NEXT:
            targets = route.get("targets") or []
            activations.extend(
                _node_targets(graph, spec.name, targets, declared=True, snapshot=snapshot)
            )
        elif action == RouteAction.SEND:
            for send in route.get("sends") or []:
                _check_target(graph, spec.name, send["node"], declared=True)
                activations.append({"node": send["node"], "payload": send.get("payload") or {}})
        elif action == RouteAction.WAIT_FOR_EVENT:
            _add_wait(graph, snapshot, spec.name, route, now)
        else:
            raise RunFailure(
                "INVALID_ROUTE",
                f"graph '{graph.graph_name}', node '{spec.name}': unknown route action {action!r}",
                node=spec.name,
            )
    return activations


def _node_targets(
    graph: CompiledGraph, source: str, targets: list[str], *, declared: bool, snapshot: Snapshot
) -> list[Activation]:
    result: list[Activation] = []
    for target in targets:
        if target == END:
            # Ending a branch is always allowed: route_targets restricts nodes and waits.
            snapshot["final_nodes"].append(source)
            continue
        _check_target(graph, source, target, declared=declared)
        activation: Activation = {"node": target}
        if graph.nodes[target].join_on is not None:
            activation["source"] = source
        result.append(activation)
    return result


def _check_target(graph: CompiledGraph, source: str, target: str, *, declared: bool) -> None:
    g = graph.graph_name
    if target not in graph.nodes:
        raise RunFailure(
            "INVALID_ROUTE",
            f"graph '{g}', node '{source}': route target '{target}' is not a node",
            node=source,
            target=target,
        )
    allowed = graph.nodes[source].route_targets
    if (
        declared
        and allowed is not None
        and target not in allowed
        and target not in graph.nodes[source].next
    ):
        raise RunFailure(
            "INVALID_ROUTE",
            f"graph '{g}', node '{source}': router went to '{target}' which is not in its route_targets {allowed}",
            node=source,
            target=target,
        )


def _check_wait_declared(graph: CompiledGraph, source: str, route: dict[str, Any]) -> None:
    """A router that declares route_targets may wait only for a wait it declared there.

    Declared means a ``WaitSpec`` with the same event and resume_node, and either the same
    on_timeout or none (a wait without a timeout target takes no undeclared edge).
    """
    spec = graph.nodes[source]
    if spec.route_targets is None:
        return
    event, resume, on_timeout = route.get("event"), route.get("resume_node"), route.get("on_timeout")
    for wait in spec.waits:
        if wait.event == event and wait.resume_node == resume and on_timeout in (None, wait.on_timeout):
            return
    asked = f"event '{event}' resuming at '{resume}'" + (
        f" (on_timeout '{on_timeout}')" if on_timeout is not None else ""
    )
    declared = ", ".join(
        f"'{w.event}' -> '{w.resume_node}'" + (f" (on_timeout '{w.on_timeout}')" if w.on_timeout else "")
        for w in spec.waits
    ) or "none"
    raise RunFailure(
        "INVALID_ROUTE",
        f"graph '{graph.graph_name}', node '{source}': router waited for {asked}, which is not a "
        f"wait declared in its route_targets (declared waits: {declared})",
        node=source,
        event=event,
    )


def _add_wait(
    graph: CompiledGraph, snapshot: Snapshot, source: str, route: dict[str, Any], now: float
) -> None:
    g = graph.graph_name
    event = route.get("event")
    if event not in graph.events:
        raise RunFailure(
            "INVALID_ROUTE",
            f"graph '{g}', node '{source}': waits for event '{event}' which the graph does not declare",
            node=source,
        )
    for key in ("resume_node", "on_timeout"):
        target = route.get(key)
        if target is not None and target not in graph.nodes:
            raise RunFailure(
                "INVALID_ROUTE",
                f"graph '{g}', node '{source}': wait {key} '{target}' is not a node",
                node=source,
            )
    if route.get("resume_node") is None:
        raise RunFailure(
            "INVALID_ROUTE",
            f"graph '{g}', node '{source}': wait for '{event}' has no resume_node",
            node=source,
        )
    _check_wait_declared(graph, source, route)
    wait_id = f"w{snapshot['next_wait_id']}"
    snapshot["next_wait_id"] += 1
    timeout = route.get("timeout")
    deadline = now + float(timeout) if timeout is not None else None
    snapshot["waits"].append(
        {
            "id": wait_id,
            "event": event,
            "node": source,
            "resume_node": route["resume_node"],
            "on_timeout": route.get("on_timeout"),
            "deadline": deadline,
            "note": route.get("note"),
        }
    )
    if deadline is not None:
        snapshot["timers"].append(
            {
                "id": f"timeout:{wait_id}",
                "fire_at": deadline,
                "kind": "wait_timeout",
                "wait": wait_id,
            }
        )


def match_waits(snapshot: Snapshot) -> list[Activation]:
    """Give each wait the oldest buffered event of its name (one event per wait, FIFO)."""
    matched: list[Activation] = []
    remaining_waits = []
    inbox: list[InboxEvent] = snapshot["inbox"]
    for wait in snapshot["waits"]:
        event = next((e for e in inbox if e["name"] == wait["event"]), None)
        if event is None:
            remaining_waits.append(wait)
            continue
        inbox.remove(event)
        snapshot["consumed_events"].append(event["id"])
        snapshot["timers"] = [t for t in snapshot["timers"] if t.get("wait") != wait["id"]]
        matched.append({"node": wait["resume_node"], "event": event, "wait": wait["id"]})
    snapshot["waits"] = remaining_waits
    return matched


def plan_next(
    graph: CompiledGraph, snapshot: Snapshot, activations: list[Activation]
) -> list[Activation]:
    """The next superstep's activations: deduplicated; joins held until branches finish, join_on
    nodes until every named predecessor arrived."""
    frontier: list[Activation] = []
    seen: set[str] = set()
    for activation in activations + snapshot["ready"]:
        node = activation["node"]
        plain = "payload" not in activation and "event" not in activation and "error" not in activation
        if graph.nodes[node].join and plain:
            if node not in snapshot["pending_joins"]:
                snapshot["pending_joins"].append(node)
            continue
        if plain and "source" in activation and not _arrive(graph, snapshot, node, activation["source"]):
            continue
        if plain:
            if node in seen:
                continue
            seen.add(node)
        frontier.append(activation)
    snapshot["ready"] = []
    if not frontier and snapshot["pending_joins"] and not snapshot["waits"]:
        frontier = [{"node": name} for name in snapshot["pending_joins"]]
        snapshot["pending_joins"] = []
    return frontier


def _arrive(graph: CompiledGraph, snapshot: Snapshot, node: str, source: str) -> bool:
    """Record that ``source`` reached ``node`` (a ``join_on`` node); True when it is released.

    An activation from a node outside ``join_on`` releases it at once, as another edge would.
    The arrivals are cleared when the set is complete.
    """
    expected = graph.nodes[node].join_on or []
    if source not in expected:
        return True
    arrivals = snapshot.setdefault("join_arrivals", {})
    arrived = arrivals.setdefault(node, [])
    if source not in arrived:
        arrived.append(source)
    if not set(expected) <= set(arrived):
        return False
    del arrivals[node]
    if not arrivals:
        del snapshot["join_arrivals"]
    return True


def create_tasks(
    graph: CompiledGraph, snapshot: Snapshot, frontier: list[Activation]
) -> list[TaskRecord]:
    """Tasks of a new superstep; ids derive from (step, position, node) so replay names them alike."""
    snapshot["step"] += 1
    snapshot["steps_since_compaction"] += 1
    step = snapshot["step"]
    tasks: list[TaskRecord] = []
    for index, activation in enumerate(frontier):
        node = activation["node"]
        kind: TaskKind = (
            EVENT
            if "event" in activation
            else (SUBGRAPH if graph.nodes[node].kind == "subgraph" else NODE)
        )
        label = f"event:{activation['event']['name']}" if kind == EVENT else node
        task: TaskRecord = {
            "id": f"{step}:{index}:{label}",
            "node": label,
            "kind": kind,
            "step": step,
            "attempt": 1,
            "status": READY,
        }
        if kind == EVENT:
            task["event"] = activation["event"]
            task["resume"] = node
        if "payload" in activation:
            task["payload"] = activation["payload"]
        if "error" in activation:
            task["error"] = activation["error"]
        tasks.append(task)
    snapshot["tasks"] = tasks
    snapshot["last_nodes"] = [t["node"] for t in tasks]
    return tasks


def reduce_task(snapshot: Snapshot, custom: dict[str, list[Any]]) -> TaskRecord:
    """A task that runs custom reducers (user code) over this superstep's updates, in order."""
    state = snapshot["state"]
    return {
        "id": f"{snapshot['step']}:reduce",
        "node": "__reduce__",
        "kind": REDUCE,
        "step": snapshot["step"],
        "attempt": 1,
        "status": READY,
        "base": {f: state.get(f) for f in custom},
        "updates": custom,
    }


__all__ = [
    "RunFailure",
    "apply_updates",
    "create_tasks",
    "match_waits",
    "plan_next",
    "reduce_task",
    "route_tasks",
]

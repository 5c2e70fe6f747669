"""Build-time validation: every problem of a graph, each with a stable code, found at once."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .errors import ValidationProblem
from .input_model import INPUT_MODEL_INVALID, input_model_problems
from .manifest import GraphManifest, RetryPolicy
from .reducers import CUSTOM, reducer_fits
from .routing import END, RESERVED_NAMES
from .signatures import EVENT_HANDLER, NODE, REDUCER, ROUTER, signature_problem
from .state import is_state_model, state_reducers

# Stable problem codes.
STATE_MODEL_INVALID = "STATE_MODEL_INVALID"
GRAPH_NAME_INVALID = "GRAPH_NAME_INVALID"
ENTRYPOINT_MISSING = "ENTRYPOINT_MISSING"
ENTRYPOINT_UNKNOWN = "ENTRYPOINT_UNKNOWN"
NODE_DUPLICATE = "NODE_DUPLICATE"
NODE_NAME_INVALID = "NODE_NAME_INVALID"
HANDLER_NOT_CALLABLE = "HANDLER_NOT_CALLABLE"
HANDLER_SIGNATURE = "HANDLER_SIGNATURE"
TARGET_UNKNOWN = "TARGET_UNKNOWN"
ROUTE_TARGET_UNKNOWN = "ROUTE_TARGET_UNKNOWN"
TERMINAL_WITH_EDGES = "TERMINAL_WITH_EDGES"
NODE_NO_EXIT = "NODE_NO_EXIT"
NODE_UNREACHABLE = "NODE_UNREACHABLE"
EVENT_DUPLICATE = "EVENT_DUPLICATE"
EVENT_PAYLOAD_MODEL_INVALID = "EVENT_PAYLOAD_MODEL_INVALID"
WAIT_EVENT_UNKNOWN = "WAIT_EVENT_UNKNOWN"
WAIT_NODE_UNKNOWN = "WAIT_NODE_UNKNOWN"
ERROR_ROUTE_UNKNOWN = "ERROR_ROUTE_UNKNOWN"
REDUCER_MISMATCH = "REDUCER_MISMATCH"
SETTING_INVALID = "SETTING_INVALID"
SUBGRAPH_INVALID = "SUBGRAPH_INVALID"
JOIN_ON_INVALID = "JOIN_ON_INVALID"
JOIN_ON_UNKNOWN = "JOIN_ON_UNKNOWN"
JOIN_ON_NO_EDGE = "JOIN_ON_NO_EDGE"

PROBLEM_CODES = (
    STATE_MODEL_INVALID,
    GRAPH_NAME_INVALID,
    ENTRYPOINT_MISSING,
    ENTRYPOINT_UNKNOWN,
    NODE_DUPLICATE,
    NODE_NAME_INVALID,
    HANDLER_NOT_CALLABLE,
    HANDLER_SIGNATURE,
    TARGET_UNKNOWN,
    ROUTE_TARGET_UNKNOWN,
    TERMINAL_WITH_EDGES,
    NODE_NO_EXIT,
    NODE_UNREACHABLE,
    EVENT_DUPLICATE,
    EVENT_PAYLOAD_MODEL_INVALID,
    WAIT_EVENT_UNKNOWN,
    WAIT_NODE_UNKNOWN,
    ERROR_ROUTE_UNKNOWN,
    REDUCER_MISMATCH,
    SETTING_INVALID,
    SUBGRAPH_INVALID,
    INPUT_MODEL_INVALID,
    JOIN_ON_INVALID,
    JOIN_ON_UNKNOWN,
    JOIN_ON_NO_EDGE,
)


@dataclass
class BuilderView:
    """What the builder collected, as validation sees it."""

    graph_name: str
    state_model: Any
    entrypoint: str | None
    nodes: Sequence[Any]
    events: Sequence[Any]
    max_steps: Any
    input_model: Any = None
    output_fields: Any = None
    hidden_fields: Any = None


def validate_graph(view: BuilderView) -> list[ValidationProblem]:
    """Every problem in the graph, in a stable order; empty when the graph is valid."""
    problems: list[ValidationProblem] = []
    add = problems.append
    g = view.graph_name
    if not isinstance(g, str) or not g.strip():
        add(
            ValidationProblem(
                GRAPH_NAME_INVALID, f"graph name must be a non-empty string, got {g!r}"
            )
        )
    problems.extend(_check_state_model(view))
    if is_state_model(view.state_model):
        problems.extend(input_model_problems(g, view.state_model, view.input_model))
    for setting, fields in (("output_fields", view.output_fields), ("hidden_fields", view.hidden_fields)):
        if fields is None or not is_state_model(view.state_model):
            continue
        unknown = [f for f in fields if f not in view.state_model.model_fields]
        if unknown or not all(isinstance(f, str) for f in fields):
            add(
                ValidationProblem(
                    SETTING_INVALID,
                    f"graph '{g}': {setting} names unknown state field(s) {unknown} "
                    f"(state fields: {', '.join(view.state_model.model_fields)})",
                )
            )
    if isinstance(view.max_steps, bool) or not isinstance(view.max_steps, int) or view.max_steps < 1:
        add(
            ValidationProblem(
                SETTING_INVALID,
                f"graph '{g}': max_steps must be an integer >= 1, got {view.max_steps!r}",
            )
        )

    names: list[str] = []
    for node in view.nodes:
        if not isinstance(node.name, str) or not node.name or node.name in RESERVED_NAMES:
            add(
                ValidationProblem(
                    NODE_NAME_INVALID,
                    f"graph '{g}': node name {node.name!r} is empty or reserved",
                    node.name if isinstance(node.name, str) else None,
                )
            )
        elif node.name in names:
            add(
                ValidationProblem(
                    NODE_DUPLICATE,
                    f"graph '{g}': node '{node.name}' is declared more than once",
                    node.name,
                )
            )
        if isinstance(node.name, str):
            names.append(node.name)
    known = set(names)

    if view.entrypoint is None:
        add(
            ValidationProblem(
                ENTRYPOINT_MISSING, f"graph '{g}' has no entrypoint; call set_entrypoint(name)"
            )
        )
    elif view.entrypoint not in known:
        add(
            ValidationProblem(
                ENTRYPOINT_UNKNOWN,
                f"graph '{g}': entrypoint '{view.entrypoint}' is not a node",
                view.entrypoint,
            )
        )

    event_names: list[str] = []
    for event in view.events:
        if event.name in event_names:
            add(
                ValidationProblem(
                    EVENT_DUPLICATE, f"graph '{g}': event '{event.name}' is declared more than once"
                )
            )
        event_names.append(event.name)
        if event.handler is not None and not callable(event.handler):
            add(
                ValidationProblem(
                    HANDLER_NOT_CALLABLE,
                    f"graph '{g}': handler of event '{event.name}' is not callable",
                )
            )
        elif event.handler is not None:
            reason = signature_problem(event.handler, EVENT_HANDLER)
            if reason is not None:
                add(
                    ValidationProblem(
                        HANDLER_SIGNATURE,
                        f"graph '{g}', event '{event.name}': {reason}",
                        extra={"event": event.name},
                    )
                )
        if event.payload_model is not None and not is_state_model(event.payload_model):
            add(
                ValidationProblem(
                    EVENT_PAYLOAD_MODEL_INVALID,
                    f"graph '{g}': payload_model of event '{event.name}' is not a Pydantic v2 model",
                )
            )

    for node in view.nodes:
        problems.extend(_check_node(g, node, known, set(event_names)))
    problems.extend(_check_join_on(g, view.nodes, known))

    if view.entrypoint in known and not any(p.code == NODE_DUPLICATE for p in problems):
        problems.extend(_check_reachability(g, view))
    return problems


def _check_state_model(view: BuilderView) -> list[ValidationProblem]:
    g = view.graph_name
    if not is_state_model(view.state_model):
        return [
            ValidationProblem(
                STATE_MODEL_INVALID,
                f"graph '{g}': state_model must be a Pydantic v2 BaseModel subclass, got {view.state_model!r}",
            )
        ]
    problems = []
    for field_name, reducer in state_reducers(view.state_model).items():
        if reducer.name == CUSTOM:
            reason = signature_problem(reducer.function, REDUCER) if reducer.function else None
            if reason is not None:
                problems.append(
                    ValidationProblem(
                        HANDLER_SIGNATURE,
                        f"graph '{g}': field '{field_name}': {reason}",
                        extra={"field": field_name},
                    )
                )
            continue
        annotation = view.state_model.model_fields[field_name].annotation
        if not reducer_fits(reducer.name, annotation):
            problems.append(
                ValidationProblem(
                    REDUCER_MISMATCH,
                    f"graph '{g}': field '{field_name}' has reducer '{reducer.name}' which does not fit type {annotation!r}",
                    extra={"field": field_name},
                )
            )
    return problems


def _check_node(g: str, node: Any, known: set[str], events: set[str]) -> list[ValidationProblem]:
    problems: list[ValidationProblem] = []
    name = node.name

    def add(code: str, message: str) -> None:
        problems.append(ValidationProblem(code, f"graph '{g}', node '{name}': {message}", name))

    if node.kind == "subgraph":
        from .registration import GraphRegistration

        if not isinstance(node.subgraph, GraphRegistration):
            add(SUBGRAPH_INVALID, "add_subgraph needs a GraphRegistration (the result of build())")
    elif not callable(node.handler):
        add(HANDLER_NOT_CALLABLE, f"handler {node.handler!r} is not callable")
    elif (reason := signature_problem(node.handler, NODE)) is not None:
        add(HANDLER_SIGNATURE, reason)
    if node.route is not None and not callable(node.route):
        add(HANDLER_NOT_CALLABLE, f"route {node.route!r} is not callable")
    elif node.route is not None and (reason := signature_problem(node.route, ROUTER)) is not None:
        add(HANDLER_SIGNATURE, reason)
    for target in node.next:
        if target != END and target not in known:
            add(TARGET_UNKNOWN, f"next_node '{target}' is not a node")
    for target in node.route_targets or []:
        if target != END and target not in known:
            add(ROUTE_TARGET_UNKNOWN, f"route target '{target}' is not a node")
    for wait in node.waits:
        if wait.event not in events:
            add(
                WAIT_EVENT_UNKNOWN,
                f"waits for event '{wait.event}' which is not declared (add_event_handler)",
            )
        for target in (wait.resume_node, wait.on_timeout):
            if target is not None and target not in known:
                add(
                    WAIT_NODE_UNKNOWN,
                    f"wait for '{wait.event}' names node '{target}' which does not exist",
                )
    if node.on_error is not None and node.on_error not in known:
        add(ERROR_ROUTE_UNKNOWN, f"on_error '{node.on_error}' is not a node")
    has_edges = (
        bool(node.next) or node.route is not None or bool(node.route_targets) or bool(node.waits)
    )
    if node.terminal and has_edges:
        add(TERMINAL_WITH_EDGES, "is terminal but also has next_node/route")
    if not node.terminal and not has_edges:
        add(NODE_NO_EXIT, "has no next_node, no route and is not terminal=True")
    if node.retry is not None and not isinstance(node.retry, RetryPolicy):
        add(SETTING_INVALID, f"retry must be a RetryPolicy, got {node.retry!r}")
    if node.timeout is not None and (
        isinstance(node.timeout, bool)
        or not isinstance(node.timeout, (int, float))
        or not math.isfinite(node.timeout)
        or node.timeout <= 0
    ):
        add(SETTING_INVALID, f"timeout must be a positive number of seconds, got {node.timeout!r}")
    return problems


def _check_join_on(g: str, nodes: Sequence[Any], known: set[str]) -> list[ValidationProblem]:
    """``join_on`` names other existing nodes, each with an edge to the joined node."""
    problems: list[ValidationProblem] = []
    by_name = {n.name: n for n in nodes if isinstance(n.name, str)}
    for node in nodes:
        names = getattr(node, "join_on", None)
        if names is None:
            continue

        def add(code: str, message: str, node_name: Any = node.name) -> None:
            problems.append(ValidationProblem(code, f"graph '{g}', node '{node_name}': {message}", node_name))

        if node.join:
            add(JOIN_ON_INVALID, "sets both join=True and join_on; use one")
        if not names:
            add(JOIN_ON_INVALID, "join_on is empty; name the nodes to wait for")
        seen: set[str] = set()
        for name in names:
            if not isinstance(name, str) or name not in known:
                add(JOIN_ON_UNKNOWN, f"join_on names {name!r}, which is not a node")
                continue
            if name == node.name:
                add(JOIN_ON_INVALID, "join_on names the node itself")
                continue
            if name in seen:
                add(JOIN_ON_INVALID, f"join_on names '{name}' more than once")
                continue
            seen.add(name)
            source = by_name[name]
            if source.route is not None and source.route_targets is None:
                continue  # where its router goes is not known before the run
            if node.name not in [*source.next, *(source.route_targets or [])]:
                add(
                    JOIN_ON_NO_EDGE,
                    f"join_on names '{name}', which has no edge to it "
                    f"(give '{name}' next_node or route_targets '{node.name}')",
                )
    return problems


def _check_reachability(g: str, view: BuilderView) -> list[ValidationProblem]:
    """Nodes no path reaches; only judged when every router declares its targets."""
    if any(n.route is not None and n.route_targets is None for n in view.nodes):
        return []
    by_name = {n.name: n for n in view.nodes}
    seen: set[str] = set()
    stack: list[str] = [view.entrypoint or ""]
    while stack:
        current = stack.pop()
        if current in seen or current not in by_name:
            continue
        seen.add(current)
        node = by_name[current]
        stack.extend(node.next)
        stack.extend(node.route_targets or [])
        for wait in node.waits:
            stack.append(wait.resume_node)
            if wait.on_timeout:
                stack.append(wait.on_timeout)
        if node.on_error:
            stack.append(node.on_error)
    return [
        ValidationProblem(
            NODE_UNREACHABLE,
            f"graph '{g}', node '{n.name}': no path from the entrypoint reaches it",
            n.name,
        )
        for n in view.nodes
        if n.name not in seen
    ]


def manifest_warnings(manifest: GraphManifest) -> list[str]:
    """What is legal but weakens checks and diagrams: routers that declare no route_targets."""
    undeclared = [n.name for n in manifest.nodes if n.has_router and n.route_targets is None]
    if not undeclared:
        return []
    names = ", ".join(f"'{name}'" for name in undeclared)
    return [
        f"graph '{manifest.graph_name}': router of node(s) {names} declares no route_targets, so "
        "its edges are missing from the diagram and reachability is not checked; "
        "pass route_targets=[...] to add_node"
    ]


__all__ = ["BuilderView", "PROBLEM_CODES", "manifest_warnings", "validate_graph"]

"""``ManifestBuilder``: the typed, fluent way to declare a graph.

The builder collects nodes, routers and event handlers; ``build()`` validates everything at once
(raising one :class:`GraphValidationError` listing every problem) and returns a
:class:`GraphRegistration`: the portable :class:`GraphManifest` plus the process-local handlers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from .errors import GraphValidationError, ValidationProblem
from .manifest import (
    DEFAULT_MAX_STEPS,
    EventSpec,
    GraphManifest,
    NodeSpec,
    RetryPolicy,
    WaitSpec,
    canonical_json,
)
from .reducers import FieldReducer
from .registration import GraphRegistration
from .routing import END, RouteAction, RouteDecision
from .state import state_json_schema, state_reducers
from .validation import SETTING_INVALID, BuilderView, validate_graph

Handler = Callable[..., Any]
RouteTarget = str | RouteDecision | WaitSpec


@dataclass
class _NodeEntry:
    name: str
    handler: Any
    kind: str = "node"
    next: list[str] = field(default_factory=list)
    route: Any = None
    route_targets: list[str] | None = None
    waits: list[WaitSpec] = field(default_factory=list)
    terminal: bool = False
    join: bool = False
    join_on: list[str] | None = None
    retry: Any = None
    timeout: Any = None
    on_error: str | None = None
    subgraph: Any = None


@dataclass
class _EventEntry:
    name: str
    handler: Any
    payload_model: Any


class ManifestBuilder:
    """Declare a graph: nodes are plain functions, routing is data, state is a Pydantic model.

    >>> builder = ManifestBuilder(graph_name="my_graph", state_model=MyState)  # doctest: +SKIP
    >>> builder.set_entrypoint("process")                                      # doctest: +SKIP
    >>> builder.add_node("process", process, next_node="finalize")             # doctest: +SKIP
    >>> registration = builder.build()                                         # doctest: +SKIP

    ``input_model`` (default: the state model) is what starting a run asks for: a model whose
    fields are state fields with types the state accepts; other state fields start at their
    defaults. ``output_fields`` names the state fields a completed run's output shows;
    ``hidden_fields`` names bookkeeping fields no view of a run shows (its input, step
    updates, progress events, output).
    """

    def __init__(
        self,
        graph_name: str,
        state_model: type[BaseModel],
        version: str = "0.1.0",
        metadata: dict[str, Any] | None = None,
        max_steps: int = DEFAULT_MAX_STEPS,
        input_model: type[BaseModel] | None = None,
        output_fields: Iterable[str] | None = None,
        hidden_fields: Iterable[str] | None = None,
    ) -> None:
        self.graph_name = graph_name
        # The state fields a completed run's output shows; None: every field.
        self.output_fields = None if output_fields is None else list(output_fields)
        # State fields never shown (input, updates, progress, output); None or empty: none.
        self.hidden_fields = list(hidden_fields) if hidden_fields else None
        self.state_model = state_model
        # The state model itself is the default: giving it explicitly declares nothing new.
        self.input_model = None if input_model is state_model else input_model
        self.version = version
        self.metadata = dict(metadata or {})
        self.max_steps = max_steps
        self._entrypoint: str | None = None
        self._nodes: list[_NodeEntry] = []
        self._events: list[_EventEntry] = []

    def set_entrypoint(self, name: str) -> ManifestBuilder:
        """The node every run starts with."""
        self._entrypoint = name
        return self

    def add_node(
        self,
        name: str,
        handler: Handler,
        *,
        next_node: str | list[str] | None = None,
        route: Handler | None = None,
        terminal: bool = False,
        route_targets: Iterable[RouteTarget] | None = None,
        join: bool = False,
        join_on: Iterable[str] | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
        on_error: str | None = None,
    ) -> ManifestBuilder:
        """Add a node.

        ``handler(state)`` or ``handler(state, ctx)`` (sync or async) returns an update: a dict
        of fields, a model instance, or None. After it, ``route`` (same signatures) decides where
        to go; without a router (or when it returns None) ``next_node`` is followed; ``terminal``
        ends the branch. ``route_targets`` declares where the router may go (node names, END, or
        ``RouteDecision.wait_for_event(...)`` waits). ``join`` runs the node once after every
        other branch finished; ``join_on=[a, b]`` runs it once all of the named nodes, each with
        an edge to it, finished since it last ran (LangGraph's ``add_edge([a, b], node)``).
        ``retry``/``timeout`` (seconds) govern failures; ``on_error``
        names a node that receives the failure in ``ctx.error`` instead of failing the run.
        """
        targets, waits = _split_targets(route_targets)
        self._nodes.append(
            _NodeEntry(
                name=name,
                handler=handler,
                next=_as_list(next_node),
                route=route,
                route_targets=targets,
                waits=waits,
                terminal=terminal,
                join=join,
                join_on=_join_names(join_on),
                retry=retry,
                timeout=timeout,
                on_error=on_error,
            )
        )
        return self

    def add_subgraph(
        self,
        name: str,
        registration: GraphRegistration,
        *,
        next_node: str | list[str] | None = None,
        terminal: bool = False,
        join: bool = False,
        join_on: Iterable[str] | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
        on_error: str | None = None,
    ) -> ManifestBuilder:
        """Use another registered graph as a node.

        The child run starts from the parent's state fields that the child's state model
        declares; its final state is merged back into the parent by field name. ``join`` and
        ``join_on`` are as in :meth:`add_node`.
        """
        self._nodes.append(
            _NodeEntry(
                name=name,
                handler=None,
                kind="subgraph",
                next=_as_list(next_node),
                terminal=terminal,
                join=join,
                join_on=_join_names(join_on),
                retry=retry,
                timeout=timeout,
                on_error=on_error,
                subgraph=registration,
            )
        )
        return self

    def add_event_handler(
        self,
        event_name: str,
        handler: Handler | None = None,
        *,
        payload_model: type[BaseModel] | None = None,
    ) -> ManifestBuilder:
        """Declare an event the graph accepts.

        ``handler(state, payload)`` (or ``(state, payload, ctx)``) returns a state update when
        the event resumes a wait; without a handler the payload itself (a dict of state fields)
        is the update. ``payload_model`` validates payloads when they are raised.
        """
        self._events.append(_EventEntry(event_name, handler, payload_model))
        return self

    def build(self) -> GraphRegistration:
        """Validate the whole graph and return its registration (raises GraphValidationError)."""
        view = BuilderView(
            graph_name=self.graph_name,
            state_model=self.state_model,
            entrypoint=self._entrypoint,
            nodes=list(self._nodes),
            events=list(self._events),
            max_steps=self.max_steps,
            input_model=self.input_model,
            output_fields=self.output_fields,
            hidden_fields=self.hidden_fields,
        )
        problems = validate_graph(view)
        try:
            canonical_json(self.metadata)
        except (TypeError, ValueError) as exc:
            problems.append(ValidationProblem(
                SETTING_INVALID, f"graph '{self.graph_name}': metadata is not JSON-serialisable: {exc}"
            ))
        if problems:
            raise GraphValidationError(self.graph_name, problems)
        reducers = state_reducers(self.state_model)
        try:
            manifest = self._manifest(reducers)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            raise GraphValidationError(self.graph_name, [ValidationProblem(
                SETTING_INVALID, f"graph '{self.graph_name}': {where}: {first.get('msg')}",
            )]) from None
        return GraphRegistration(
            manifest=manifest,
            state_model=self.state_model,
            handlers={n.name: n.handler for n in self._nodes if n.kind == "node"},
            routers={n.name: n.route for n in self._nodes if n.route is not None},
            event_handlers={e.name: e.handler for e in self._events},
            event_models={e.name: e.payload_model for e in self._events if e.payload_model},
            custom_reducers={
                name: r.function for name, r in reducers.items() if r.function is not None
            },
            subgraphs={n.name: n.subgraph for n in self._nodes if n.kind == "subgraph"},
            input_model=self.input_model,
        )

    def _manifest(self, reducers: dict[str, FieldReducer]) -> GraphManifest:
        return GraphManifest(
            graph_name=self.graph_name,
            version=self.version,
            entrypoint=self._entrypoint or "",
            nodes=[_node_spec(entry) for entry in self._nodes],
            events=[
                EventSpec(
                    name=e.name,
                    payload_schema=e.payload_model.model_json_schema() if e.payload_model else None,
                    has_handler=e.handler is not None,
                )
                for e in self._events
            ],
            state_schema=state_json_schema(self.state_model),
            input_schema=state_json_schema(self.input_model) if self.input_model is not None else None,
            output_fields=self.output_fields,
            hidden_fields=self.hidden_fields,
            reducers={name: r.name for name, r in reducers.items()},
            max_steps=self.max_steps,
            metadata=self.metadata,
        )

def _as_list(value: str | list[str] | tuple[str, ...] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


def _join_names(value: Iterable[str] | None) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)  # set order depends on the hash seed
    return list(value)


def _split_targets(
    targets: Iterable[RouteTarget] | None,
) -> tuple[list[str] | None, list[WaitSpec]]:
    if targets is None:
        return None, []
    names: list[str] = []
    waits: list[WaitSpec] = []
    if isinstance(targets, (set, frozenset)):
        # Set order depends on the hash seed; sort so the manifest hash is stable.
        targets = sorted(targets, key=str)
    for target in targets:
        if isinstance(target, WaitSpec):
            waits.append(target)
        elif isinstance(target, RouteDecision) and target.action is RouteAction.WAIT_FOR_EVENT:
            waits.append(
                WaitSpec(
                    event=target.event_name or "",
                    resume_node=target.resume_node or "",
                    on_timeout=target.on_timeout,
                )
            )
        elif isinstance(target, RouteDecision) and target.action is RouteAction.COMPLETE:
            names.append(END)
        elif isinstance(target, RouteDecision):
            names.extend(target.targets)
        else:
            names.append(target)
    return names, waits


def _node_spec(entry: _NodeEntry) -> NodeSpec:
    return NodeSpec(
        name=entry.name,
        kind="subgraph" if entry.kind == "subgraph" else "node",
        next=entry.next,
        has_router=entry.route is not None,
        route_targets=entry.route_targets,
        waits=entry.waits,
        terminal=entry.terminal,
        join=entry.join,
        join_on=entry.join_on,
        retry=entry.retry,
        timeout=entry.timeout,
        on_error=entry.on_error,
        subgraph=entry.subgraph.manifest if entry.subgraph is not None else None,
    )


__all__ = ["ManifestBuilder"]

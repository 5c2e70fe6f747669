"""``from_langgraph``: a LangGraph ``StateGraph`` as a :class:`GraphRegistration`."""

from __future__ import annotations

import dataclasses
import inspect
from datetime import timedelta
from typing import Any

from pydantic import BaseModel

from ..graph.builder import ManifestBuilder
from ..graph.manifest import DEFAULT_MAX_STEPS, RetryPolicy, WaitSpec
from ..graph.registration import GraphRegistration
from ..graph.routing import END
from .edges import LG_START, RESUME_EVENT, join_groups, node_edges
from .error_handlers import error_handler, error_options, guarded, handler_edges, is_error_handler
from .managed import ManagedSteps
from .nodes import NOT_RETRIED, AfterNode, Router, StartNode, node_handler
from .plan import START_NODE, GraphPlan, after_node
from .refusals import checkpointer_call, refuse
from .resume import ResumePayload, resume_handler
from .state import HIDDEN_FIELDS, build_state_plan
from .subgraphs import add_subgraph_node, is_compiled_graph


@dataclasses.dataclass(frozen=True)
class LangGraphRegistration(GraphRegistration):
    """A registration made by :func:`from_langgraph`; ``output_keys`` are the graph's output schema keys."""

    output_keys: tuple[str, ...] = ()

    def output(self, state: Any) -> dict[str, Any]:
        """The graph's output (its output schema's keys) from a final state (model or dict)."""
        values = state.model_dump(mode="json") if isinstance(state, BaseModel) else dict(state)
        return {k: values[k] for k in self.output_keys if k in values and k not in HIDDEN_FIELDS}

    def get_state(self, *args: Any, **kwargs: Any) -> Any:
        """Refused: a durable run has no checkpointer to read; see the message."""
        raise checkpointer_call(self.graph_name, "get_state")

    def update_state(self, *args: Any, **kwargs: Any) -> Any:
        """Refused: a durable run has no checkpointer to write; see the message."""
        raise checkpointer_call(self.graph_name, "update_state")

    def get_state_history(self, *args: Any, **kwargs: Any) -> Any:
        """Refused: a durable run has no checkpointer to read; see the message."""
        raise checkpointer_call(self.graph_name, "get_state_history")


def from_langgraph(graph: Any, *, name: str | None = None, version: str = "0.1.0",
                   recursion_limit: int | None = None) -> LangGraphRegistration:
    """Convert a LangGraph ``StateGraph`` (or its compiled graph) into a registration.

    The registration runs on ``invoke``, ``LocalEngine`` and ``DurableGraphApp`` like any
    other; a compiled graph also gives its ``interrupt_before``/``interrupt_after`` nodes and
    ``recursion_limit``. Constructs that cannot run durably raise
    :class:`LangGraphUnsupportedError` (code ``LANGGRAPH_UNSUPPORTED``) naming them.
    """
    builder, compiled = _builder_of(graph, name)
    graph_name = name or _graph_name(compiled)
    if getattr(compiled, "store", None) is not None:
        raise refuse(graph_name, "a store (compile(store=...))",
                     hint="keep what a node needs in the state or in your own service")
    before = _interrupt_nodes(builder, getattr(compiled, "interrupt_before_nodes", None))
    after = _interrupt_nodes(builder, getattr(compiled, "interrupt_after_nodes", None))
    limit = recursion_limit or (getattr(compiled, "config", None) or {}).get("recursion_limit")
    state = build_state_plan(builder, graph_name)
    order = {node: index for index, node in enumerate(builder.nodes)}
    edges = {node: node_edges(builder, graph_name, node) for node in [LG_START, *builder.nodes]}
    edges.update(handler_edges(builder))
    joins = join_groups(builder, graph_name)
    plan = GraphPlan(graph_name, builder, state, order, edges, frozenset(before), frozenset(after),
                     int(limit) if limit else DEFAULT_MAX_STEPS)
    start = edges[LG_START]
    entry_direct = (len(start.static) == 1 and not start.branches and start.static[0] not in before)
    ours = ManifestBuilder(
        graph_name=graph_name, state_model=state.model, version=version,
        max_steps=plan.max_steps + (0 if entry_direct else 1), input_model=state.input_model,
        metadata={"langgraph": {"output_keys": list(state.output_keys)}},
        # A run's output on every engine is the graph's output schema, without the hidden fields.
        output_fields=[k for k in state.output_keys if k not in HIDDEN_FIELDS],
        hidden_fields=HIDDEN_FIELDS,  # no view of a run (input, steps, progress) shows them
    )
    managed = ManagedSteps(state, ours.max_steps)  # RemainingSteps / IsLastStep from the step
    if entry_direct:
        ours.set_entrypoint(start.static[0])
    else:
        entry = StartNode(plan)
        ours.set_entrypoint(START_NODE)
        ours.add_node(START_NODE, entry.handler, route=managed(entry.router),
                      route_targets=_targets(plan, start.possible, []))
    for node, spec in builder.nodes.items():
        _check_node(plan, node, spec)
        options = _node_options(plan, node, spec, joins)
        if is_compiled_graph(spec.runnable):
            add_subgraph_node(ours, plan, node, spec, options, from_langgraph)
            continue
        waits = [WaitSpec(event=RESUME_EVENT, resume_node=node)] if _may_interrupt(spec.runnable) else []
        if node in after:
            waits.append(WaitSpec(event=RESUME_EVENT, resume_node=after_node(node)))
        handler = (error_handler(plan, node, spec) if is_error_handler(spec)
                   else guarded(node_handler(plan, node, spec), plan, node, spec))
        ours.add_node(node, managed(handler), route=managed(Router(plan, node, spec.input_schema)),
                      route_targets=_targets(plan, edges[node].possible, waits), **options)
        if node in after:
            continuation = AfterNode(plan, node)
            ours.add_node(after_node(node), continuation.handler, route=managed(continuation.router),
                          route_targets=_targets(plan, edges[node].possible, []))
    ours.add_event_handler(RESUME_EVENT, resume_handler(plan), payload_model=ResumePayload)
    built = ours.build()
    fields = {f.name: getattr(built, f.name) for f in dataclasses.fields(GraphRegistration)}
    return LangGraphRegistration(**fields, output_keys=tuple(state.output_keys))


def _builder_of(graph: Any, name: str | None) -> tuple[Any, Any]:
    from langgraph.graph.state import CompiledStateGraph, StateGraph
    from langgraph.pregel import Pregel

    label = name or getattr(graph, "name", None) or type(graph).__name__
    if isinstance(graph, CompiledStateGraph):
        return graph.builder, graph
    if isinstance(graph, StateGraph):
        return graph, graph.compile()
    if isinstance(graph, Pregel):
        raise refuse(str(label), "the Functional API (@entrypoint / @task)",
                     hint="write the workflow as a StateGraph")
    if callable(graph):
        raise refuse(str(label), "a graph built per config (a function returning a graph)",
                     hint="build the StateGraph once and pass it")
    raise refuse(str(label), f"a {type(graph).__name__} (not a StateGraph or compiled graph)")


def _graph_name(compiled: Any) -> str:
    label = getattr(compiled, "name", None)
    return label if isinstance(label, str) and label and label != "LangGraph" else "langgraph"


def _interrupt_nodes(builder: Any, nodes: Any) -> list[str]:
    if not nodes:
        return []
    if nodes == "*":
        return list(builder.nodes)
    return list(nodes)


def _check_node(plan: GraphPlan, node: str, spec: Any) -> None:
    if is_error_handler(spec) and is_compiled_graph(spec.runnable):
        raise refuse(plan.name, "a compiled graph as an error handler", node=node)
    accepts = getattr(spec.runnable, "func_accepts", {}) or {}
    if "store" in accepts and accepts["store"][1] is inspect.Parameter.empty:
        raise refuse(plan.name, "store injection (a BaseStore parameter)", node=node)
    if "previous" in accepts:
        raise refuse(plan.name, "the Functional API's 'previous' parameter", node=node)


def _node_options(plan: GraphPlan, node: str, spec: Any, joins: dict[str, list[str]]) -> dict[str, Any]:
    options: dict[str, Any] = {"join": bool(spec.defer), **error_options(spec)}
    policy = spec.retry_policy
    if isinstance(policy, (list, tuple)) and not hasattr(policy, "max_attempts"):
        if len(policy) != 1:
            raise refuse(plan.name, "a sequence of several RetryPolicy", node=node, hint="give one RetryPolicy")
        policy = policy[0]
    if policy is not None:
        options["retry"] = RetryPolicy(
            max_attempts=policy.max_attempts, initial_interval=policy.initial_interval,
            backoff=max(1.0, policy.backoff_factor), max_interval=policy.max_interval,
            non_retryable=(NOT_RETRIED, "LangGraphUnsupportedError"),
        )
    timeout = getattr(spec, "timeout", None)
    if timeout is not None:
        if getattr(timeout, "idle_timeout", None) is not None:
            raise refuse(plan.name, "TimeoutPolicy(idle_timeout=...)", node=node, hint="use run_timeout")
        seconds = getattr(timeout, "run_timeout", timeout)
        if isinstance(seconds, timedelta):
            seconds = seconds.total_seconds()
        if seconds is not None:
            options["timeout"] = float(seconds)
    if node in joins:
        if "join_on" not in inspect.signature(ManifestBuilder.add_node).parameters:
            raise refuse(plan.name, f"a waiting edge {joins[node]} -> '{node}'", node=node,
                         hint="this version of the package has no join_on")
        options["join_on"] = joins[node]
    return options


def _targets(plan: GraphPlan, possible: list[str], waits: list[WaitSpec]) -> list[Any]:
    targets: list[Any] = [t for t in possible if t == END or t not in plan.interrupt_before]
    for target in possible:
        if target in plan.interrupt_before:
            waits = [*waits, WaitSpec(event=RESUME_EVENT, resume_node=target)]
    if END not in targets:
        targets.append(END)
    return targets + waits


def _may_interrupt(runnable: Any) -> bool:
    """Whether a node may call ``interrupt()``: its code names it, or it is not a plain function."""
    function = getattr(runnable, "func", None) or getattr(runnable, "afunc", None)
    code = getattr(function, "__code__", None)
    if code is None:
        return True
    stack = [code]
    while stack:
        current = stack.pop()
        if "interrupt" in current.co_names or "interrupt" in current.co_freevars:  # also a closure's
            return True
        stack.extend(c for c in current.co_consts if inspect.iscode(c))
    return False


__all__ = ["LangGraphRegistration", "from_langgraph"]

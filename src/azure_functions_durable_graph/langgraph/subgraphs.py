"""A compiled LangGraph graph used as a node.

When every key of the subgraph's state is a key of the parent's, it becomes our subgraph node
(a child run: a sub-orchestration on Azure) that starts from the shared keys and merges its
final state back by key. Otherwise the node runs the subgraph's adapted registration in
process on the keys it shares with the parent, and returns its output keys the parent has.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from ..graph.builder import ManifestBuilder
from ..graph.registration import GraphRegistration
from .plan import GraphPlan
from .refusals import refuse
from .state import HIDDEN_FIELDS, state_values, to_update


def is_compiled_graph(runnable: Any) -> bool:
    """Whether a node's runnable is a compiled LangGraph graph."""
    from langgraph.pregel import Pregel

    return isinstance(runnable, Pregel)


def add_subgraph_node(ours: ManifestBuilder, plan: GraphPlan, node: str, spec: Any, options: dict[str, Any],
                      convert: Callable[..., GraphRegistration]) -> None:
    """Add LangGraph node ``node`` (a compiled graph) to ``ours``; ``convert`` is ``from_langgraph``."""
    child = convert(spec.runnable, name=f"{plan.name}__{node}")
    edges = plan.edges[node]
    if edges.branches or edges.ends:
        raise refuse(plan.name, "a subgraph node with conditional edges or Command destinations", node=node,
                     hint="route from a plain node after it")
    child_keys = set(child.state_model.model_fields) - set(HIDDEN_FIELDS)
    next_nodes = [t for t in edges.static if t != "__end__"]
    if child_keys <= set(plan.state.fields):
        ours.add_subgraph(node, child, next_node=next_nodes or None, terminal=not next_nodes, **options)
        return
    ours.add_node(node, InlineSubgraph(plan, child), next_node=next_nodes or None, terminal=not next_nodes,
                  **options)


class InlineSubgraph:
    """Runs a subgraph's registration in process on the keys it shares with the parent."""

    def __init__(self, plan: GraphPlan, child: GraphRegistration) -> None:
        self.plan = plan
        self.child = child

    async def __call__(self, state: BaseModel) -> dict[str, Any]:
        values = state.model_dump(mode="json")
        model = self.child.input_model or self.child.state_model
        given = {k: values[k] for k in model.model_fields if k in values and k not in HIDDEN_FIELDS}
        result = await self.child.ainvoke(given)
        if result.output is None or result.state is None:  # only a completed run has an output
            raise refuse(self.plan.name, f"a subgraph run that ended {result.status} ({result.error})")
        output = state_values(result.state)
        keys = getattr(self.child, "output_keys", ()) or tuple(output)
        return to_update(self.plan.state, [(k, output[k]) for k in keys if k in output])


__all__ = ["InlineSubgraph", "add_subgraph_node", "is_compiled_graph"]

"""LangGraph edges as our routes: every target known when the graph is converted.

A node's next tasks are the union of its ``add_edge`` targets, its conditional branches (each
with a path map or a ``Literal`` return annotation, so the targets are known) and the ``goto``
of a ``Command`` it returned (among its declared ``destinations``). Waiting edges
(``add_edge([a, b], c)``) become ``join_on``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic_core import to_jsonable_python

from ..errors import InvalidRouteError
from ..graph.routing import END, RouteDecision, Send
from .refusals import refuse
from .state import SEND_FIELD

LG_END = "__end__"
LG_START = "__start__"
RESUME_EVENT = "resume"
"""The event that answers an ``interrupt()`` and ends an ``interrupt_before``/``_after`` pause."""


@dataclass(frozen=True)
class NodeEdges:
    """Where one node (or START) may go."""

    static: tuple[str, ...]
    branches: tuple[tuple[str, Any], ...]
    ends: tuple[str, ...]
    joins: tuple[str, ...] = ()  # ends of the waiting edges this node is a start of

    @property
    def possible(self) -> list[str]:
        """Every target (node names, END as ours), without repeats, in a stable order."""
        found: list[str] = []
        for target in (*self.static, *self.joins, *self.ends,
                       *(t for _, b in self.branches for t in b.ends.values())):
            name = END if target == LG_END else target
            if name not in found:
                found.append(name)
        return found


def node_edges(builder: Any, graph: str, node: str) -> NodeEdges:
    """The edges leaving ``node`` (``__start__`` for the graph's entry), refusing unknown targets."""
    static = tuple(sorted(end for start, end in builder.edges if start == node))
    branches = tuple(builder.branches.get(node, {}).items())
    for name, branch in branches:
        if branch.ends is None:
            raise refuse(graph, f"conditional edge '{name}' without a path map or Literal return annotation",
                         node=node if node != LG_START else None,
                         hint="pass path_map=[...] or annotate the function's return as Literal[...]")
    spec = builder.nodes.get(node)
    ends: tuple[str, ...] = ()
    if spec is not None and spec.ends:
        ends = tuple(spec.ends) if not isinstance(spec.ends, Mapping) else tuple(spec.ends.keys())
    joins = tuple(sorted({end for starts, end in builder.waiting_edges if node in starts and end != LG_END}))
    return NodeEdges(static, branches, ends, joins)


def join_groups(builder: Any, graph: str) -> dict[str, list[str]]:
    """``add_edge([a, b], c)`` as ``{c: [a, b]}`` (one waiting edge per node)."""
    groups: dict[str, list[str]] = {}
    for starts, end in sorted(builder.waiting_edges):
        if end in groups:
            raise refuse(graph, f"a second waiting edge into '{end}'", node=end)
        groups[end] = list(starts)
    return groups


async def branch_targets(branch: Any, value: Any, config: Mapping[str, Any], *, graph: str, node: str) -> list[Any]:
    """Run one conditional edge's path on ``value``: node names and LangGraph ``Send`` objects."""
    from langgraph.types import Send as LGSend

    result = await branch.path.ainvoke(value, config)
    items = result if isinstance(result, (list, tuple)) else [result]
    found: list[Any] = []
    for item in items:
        if isinstance(item, LGSend):
            found.append(item)
        elif item in branch.ends:
            found.append(branch.ends[item])
        else:
            raise InvalidRouteError(
                f"graph '{graph}', node '{node}': conditional edge returned {item!r}, "
                f"not one of {sorted(map(str, branch.ends))}"
            )
    return found


def decide(targets: Sequence[Any], *, graph: str, node: str, order: Mapping[str, int],
           interrupt_before: frozenset[str]) -> RouteDecision:
    """Our routing decision for the union of a node's targets (names and LangGraph Sends)."""
    from langgraph.types import Send as LGSend

    sends = [t for t in targets if isinstance(t, LGSend)]
    names = sorted({t for t in targets if isinstance(t, str) and t not in (LG_END, END)},
                   key=lambda n: order.get(n, len(order)))
    for send in sends:
        if send.node not in order:
            raise InvalidRouteError(f"graph '{graph}', node '{node}': Send to unknown node '{send.node}'")
    if not sends and not names:
        return RouteDecision.complete()
    paused = [n for n in names if n in interrupt_before] + [s.node for s in sends if s.node in interrupt_before]
    if paused:
        if sends or len(names) != 1:
            raise refuse(graph, f"interrupt_before '{paused[0]}' reached together with other tasks", node=node,
                         hint="pause before a node that is reached alone")
        return RouteDecision.wait_for_event(RESUME_EVENT, names[0], note=f"interrupt_before {names[0]}")
    if sends:
        ours = [Send(s.node, {SEND_FIELD: to_jsonable_python(s.arg)}) for s in sends]
        return RouteDecision.send(ours + [Send(n, {}) for n in names])
    return RouteDecision.next(names)


__all__ = ["LG_END", "LG_START", "NodeEdges", "RESUME_EVENT", "branch_targets", "decide", "join_groups",
           "node_edges"]

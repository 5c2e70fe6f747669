"""The benchmark graphs, built with the package's own builder.

Each node does almost nothing so the figures measure the runtime, not the work: a 50-node
chain, a 5-way fan-out into a join, and a 100-task ``Send`` map.
"""

from __future__ import annotations

import operator
from typing import Annotated

from pydantic import BaseModel

from azure_functions_durable_graph import ManifestBuilder, Send
from azure_functions_durable_graph.graph.registration import GraphRegistration

CHAIN_LENGTH = 50
FAN_WIDTH = 5
MAP_SIZE = 100


class ChainState(BaseModel):
    """A small state: one counter."""

    count: int = 0


class FanState(BaseModel):
    """Branch results gathered with a list reducer."""

    items: list[int] = []
    results: Annotated[list[int], operator.add] = []
    total: int = 0
    item: int = 0


def _increment(state: ChainState) -> dict[str, int]:
    return {"count": state.count + 1}


def chain_graph(length: int = CHAIN_LENGTH) -> GraphRegistration:
    """``length`` nodes in a row, each incrementing a counter."""
    builder = ManifestBuilder(graph_name="bench_chain", state_model=ChainState, max_steps=length + 1)
    builder.set_entrypoint("n0")
    for i in range(length):
        if i == length - 1:
            builder.add_node(f"n{i}", _increment, terminal=True)
        else:
            builder.add_node(f"n{i}", _increment, next_node=f"n{i + 1}")
    return builder.build()


def _branch(index: int):  # type: ignore[no-untyped-def]
    def branch(state: FanState) -> dict[str, list[int]]:
        return {"results": [index]}

    return branch


def _sum(state: FanState) -> dict[str, int]:
    return {"total": sum(state.results)}


def fanout_graph(width: int = FAN_WIDTH) -> GraphRegistration:
    """A start node fanning out to ``width`` branches that meet in a join."""
    builder = ManifestBuilder(graph_name="bench_fanout", state_model=FanState)
    names = [f"b{i}" for i in range(width)]
    builder.set_entrypoint("start")
    builder.add_node("start", lambda s: None, next_node=names)
    for i, name in enumerate(names):
        builder.add_node(name, _branch(i), next_node="join")
    builder.add_node("join", _sum, join=True, terminal=True)
    return builder.build()


def _items(state: FanState) -> dict[str, list[int]]:
    return {"items": list(range(MAP_SIZE))}


def _sends(state: FanState) -> list[Send]:
    return [Send("work", {"item": i}) for i in state.items]


def _work(state: FanState) -> dict[str, list[int]]:
    return {"results": [state.item * 2]}


def map_graph() -> GraphRegistration:
    """A node that maps ``MAP_SIZE`` items with ``Send``, then a join that sums them."""
    builder = ManifestBuilder(graph_name="bench_map", state_model=FanState)
    builder.set_entrypoint("split")
    builder.add_node("split", _items, route=_sends, route_targets=["work"])
    builder.add_node("work", _work, next_node="join")
    builder.add_node("join", _sum, join=True, terminal=True)
    return builder.build()


# Nodes executed per run, to turn run time into time per node.
NODES_PER_RUN = {"chain": CHAIN_LENGTH, "fanout": FAN_WIDTH + 2, "map": MAP_SIZE + 2}

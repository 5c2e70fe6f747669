"""LangGraph equivalents of the benchmark graphs, as table cases.

Same shapes and the same (almost no) work per node as :mod:`bench.graphs`: a 50-node chain
that increments a counter, a 5-way fan-out whose branches append to a list (``operator.add``)
and meet in a join, and a 100-task ``Send`` map followed by a join that sums the results.

LangGraph is a bench-only dependency (the ``bench`` extra); :func:`available` says whether it
can be imported.
"""

from __future__ import annotations

import operator
import sqlite3
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypedDict

from .cases import Case
from .graphs import CHAIN_LENGTH, FAN_WIDTH, MAP_SIZE, NODES_PER_RUN

RUNNER_PLAIN = "langgraph (no checkpointer)"
RUNNER_SQLITE = "langgraph SqliteSaver sync"


def available() -> bool:
    """Whether LangGraph and its SQLite checkpointer can be imported."""
    try:
        import langgraph.checkpoint.sqlite  # noqa: F401
        import langgraph.graph  # noqa: F401
    except ImportError:
        return False
    return True


class ChainState(TypedDict):
    """One counter."""

    count: int


class FanState(TypedDict, total=False):
    """Branch results gathered with a list reducer."""

    items: list[int]
    results: Annotated[list[int], operator.add]
    total: int
    item: int


def _increment(state: ChainState) -> dict[str, int]:
    return {"count": state["count"] + 1}


def chain_graph(length: int = CHAIN_LENGTH) -> Any:
    """``length`` nodes in a row, each incrementing a counter (uncompiled builder)."""
    from langgraph.graph import END, START, StateGraph

    builder = StateGraph(ChainState)
    for i in range(length):
        builder.add_node(f"n{i}", _increment)
    builder.add_edge(START, "n0")
    for i in range(length - 1):
        builder.add_edge(f"n{i}", f"n{i + 1}")
    builder.add_edge(f"n{length - 1}", END)
    return builder


def _start(state: FanState) -> None:
    return None


def _branch(index: int) -> Callable[[FanState], dict[str, list[int]]]:
    def branch(state: FanState) -> dict[str, list[int]]:
        return {"results": [index]}

    return branch


def _sum(state: FanState) -> dict[str, int]:
    return {"total": sum(state.get("results", []))}


def fanout_graph(width: int = FAN_WIDTH) -> Any:
    """A start node fanning out to ``width`` branches that meet in a join (fan-in edge)."""
    from langgraph.graph import END, START, StateGraph

    builder = StateGraph(FanState)
    names = [f"b{i}" for i in range(width)]
    builder.add_node("start", _start)
    for i, name in enumerate(names):
        builder.add_node(name, _branch(i))
    builder.add_node("join", _sum)
    builder.add_edge(START, "start")
    for name in names:
        builder.add_edge("start", name)
    builder.add_edge(names, "join")  # the join waits for every branch
    builder.add_edge("join", END)
    return builder


def _items(state: FanState) -> dict[str, list[int]]:
    return {"items": list(range(MAP_SIZE))}


def _sends(state: FanState) -> list[Any]:
    from langgraph.types import Send

    return [Send("work", {"item": i}) for i in state["items"]]


def _work(state: FanState) -> dict[str, list[int]]:
    return {"results": [state["item"] * 2]}


def map_graph() -> Any:
    """A node that maps ``MAP_SIZE`` items with ``Send``, then a join that sums them."""
    from langgraph.graph import END, START, StateGraph

    builder = StateGraph(FanState)
    builder.add_node("split", _items)
    builder.add_node("work", _work)
    builder.add_node("join", _sum)
    builder.add_edge(START, "split")
    builder.add_conditional_edges("split", _sends, ["work"])
    builder.add_edge("work", "join")
    builder.add_edge("join", END)
    return builder


# Input and a check of the final state for each graph.
CASES: dict[str, tuple[Callable[[], Any], dict[str, Any], Callable[[dict[str, Any]], bool]]] = {
    "chain": (chain_graph, {"count": 0}, lambda out: out["count"] == CHAIN_LENGTH),
    "fanout": (fanout_graph, {"results": []},
               lambda out: out["total"] == sum(range(FAN_WIDTH))),
    "map": (map_graph, {"results": []},
            lambda out: out["total"] == 2 * sum(range(MAP_SIZE))),
}


def _config(thread_id: str | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {"recursion_limit": CHAIN_LENGTH + 10}
    if thread_id is not None:
        config["configurable"] = {"thread_id": thread_id}
    return config


def plain_cases() -> list[Case]:
    """LangGraph without a checkpointer (state kept in memory for the invoke only)."""
    cases = []
    for name, (build, payload, check) in CASES.items():
        graph = build().compile()

        def run(graph: Any = graph, payload: dict[str, Any] = payload,
                check: Callable[[dict[str, Any]], bool] = check) -> object:
            out = graph.invoke(dict(payload), _config())
            assert check(out), out
            return out

        cases.append(Case(name, RUNNER_PLAIN, NODES_PER_RUN[name], run))
    return cases


@contextmanager
def sqlite_cases() -> Iterator[list[Case]]:
    """LangGraph with ``SqliteSaver`` on a temporary file, ``durability="sync"``.

    Each run gets a fresh thread id; with ``sync`` durability every step's checkpoint is
    written (and committed) before the next step starts.
    """
    from langgraph.checkpoint.sqlite import SqliteSaver

    with tempfile.TemporaryDirectory(prefix="bench-langgraph-") as tmp:
        conn = sqlite3.connect(str(Path(tmp) / "checkpoints.db"), check_same_thread=False)
        try:
            saver = SqliteSaver(conn)
            saver.setup()
            cases = []
            for name, (build, payload, check) in CASES.items():
                graph = build().compile(checkpointer=saver)

                def run(graph: Any = graph, payload: dict[str, Any] = payload,
                        check: Callable[[dict[str, Any]], bool] = check) -> object:
                    out = graph.invoke(dict(payload), _config(uuid.uuid4().hex), durability="sync")
                    assert check(out), out
                    return out

                cases.append(Case(name, RUNNER_SQLITE, NODES_PER_RUN[name], run))
            yield cases
        finally:
            conn.close()


__all__ = [
    "CASES",
    "RUNNER_PLAIN",
    "RUNNER_SQLITE",
    "available",
    "chain_graph",
    "fanout_graph",
    "map_graph",
    "plain_cases",
    "sqlite_cases",
]

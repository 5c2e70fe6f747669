"""The converted graph: what the node handlers and routers of one adapted graph share."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .edges import NodeEdges
from .state import StatePlan

AFTER_PREFIX = "lg__after__"
"""Name prefix of the node that continues after an ``interrupt_after`` pause."""
START_NODE = "lg__start"
"""Name of the entry node added when START fans out, branches or pauses."""


def after_node(name: str) -> str:
    """The continuation node of ``interrupt_after`` node ``name``."""
    return f"{AFTER_PREFIX}{name}"


def is_internal_node(name: str) -> bool:
    """Whether ``name`` is a node the adapter added (not one of the LangGraph graph's nodes)."""
    return name == START_NODE or name.startswith(AFTER_PREFIX) or name.startswith("event:")


@dataclass
class GraphPlan:
    """One LangGraph graph, converted: schema, edges, pauses and the step limit."""

    name: str
    builder: Any
    state: StatePlan
    order: Mapping[str, int]
    edges: Mapping[str, NodeEdges]
    interrupt_before: frozenset[str]
    interrupt_after: frozenset[str]
    max_steps: int
    # What a node handler leaves for its router (same task, same process): Command gotos or a
    # wait, keyed by (run, task, attempt).
    _stash: dict[tuple[str, str, int], Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def leave(self, key: tuple[str, str, int], value: Any) -> None:
        """Keep ``value`` for the router of the same task."""
        with self._lock:
            self._stash[key] = value

    def take(self, key: tuple[str, str, int]) -> Any:
        """What the handler of the same task left (None when nothing)."""
        with self._lock:
            return self._stash.pop(key, None)


__all__ = ["AFTER_PREFIX", "GraphPlan", "START_NODE", "after_node", "is_internal_node"]

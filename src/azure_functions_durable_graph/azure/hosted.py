"""What building the Functions app reads of the app object: a protocol, so ``functions.py``
depends on this shape and not on ``app.py`` (which builds the Functions app lazily)."""

from __future__ import annotations

from typing import Any, Protocol

from ..execution.registry import GraphRegistry
from ..graph.registration import GraphRegistration
from .emit_channel import EmitChannel
from .protocol import CompactionPolicy


class HostedGraphs(Protocol):
    """The graphs a Functions app serves and the settings it is built with (``DurableGraphApp``)."""

    graphs: GraphRegistry
    auth_level: Any
    route_prefix: str
    compaction: CompactionPolicy
    emits: EmitChannel

    @property
    def graph_names(self) -> list[str]:
        """Names of the registered graphs."""
        ...

    def versions(self, graph_name: str) -> list[str]:
        """Registered versions of a graph."""
        ...

    def get(self, graph_name: str, version: str | None = None) -> GraphRegistration:
        """A registered graph (latest version by default)."""
        ...


__all__ = ["HostedGraphs"]

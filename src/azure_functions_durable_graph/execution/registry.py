"""The one graph registry: every registered version of every graph, by name and by hash.

Every engine keeps its graphs here (``LocalEngine``, ``DurableGraphApp`` and so the Durable
client backend and the execute-task activity), so "which code serves this run" has one answer:
a run's exact version (its manifest hash) while it is registered, else the latest registered
version of its graph.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..graph.errors import GraphNotFoundError, HandlerNotFoundError
from ..graph.registration import GraphRegistration


class GraphRegistry:
    """Registered graphs in registration order; a version registered again replaces the earlier one."""

    def __init__(self) -> None:
        self._by_name: dict[str, dict[str, GraphRegistration]] = {}
        self._by_hash: dict[str, GraphRegistration] = {}

    def add(self, registration: GraphRegistration) -> GraphRegistration:
        """Register one version of a graph."""
        self._by_name.setdefault(registration.graph_name, {})[registration.version] = registration
        self._by_hash[registration.graph_hash] = registration
        return registration

    def get(self, graph: str, version: str | None = None) -> GraphRegistration:
        """The registered graph, its latest version unless one is named (GraphNotFoundError)."""
        versions = self._by_name.get(graph)
        if not versions:
            known = ", ".join(self._by_name) or "none"
            raise GraphNotFoundError(f"graph '{graph}' is not registered (registered: {known})",
                                     details={"graph": graph})
        if version is None:
            return list(versions.values())[-1]
        if version not in versions:
            raise GraphNotFoundError(
                f"graph '{graph}' has no version '{version}' (registered: {', '.join(versions)})",
                details={"graph": graph, "version": version},
            )
        return versions[version]

    def latest(self, graph: str) -> GraphRegistration | None:
        """The latest registered version of ``graph``, or None."""
        versions = self._by_name.get(graph)
        return list(versions.values())[-1] if versions else None

    def by_hash(self, graph_hash: str) -> GraphRegistration | None:
        """The registration whose manifest has this hash, or None."""
        return self._by_hash.get(graph_hash)

    def code_for(self, graph_hash: str, graph_name: str) -> GraphRegistration | None:
        """The code that serves a run: its exact version, else the latest of its graph, else None."""
        return self._by_hash.get(graph_hash) or self.latest(graph_name)

    def code_for_task(self, root: Mapping[str, Any]) -> GraphRegistration:
        """The code of a task command's ``root`` (``graph``, ``hash``, subgraph ``path``), by
        :meth:`code_for` and then down the subgraph path (HandlerNotFoundError when missing)."""
        name = str(root.get("graph"))
        registration = self.code_for(str(root.get("hash", "")), name)
        if registration is None:
            raise HandlerNotFoundError(f"graph '{name}' is not registered in this deployment")
        for node in root.get("path", []):
            child = registration.subgraphs.get(node)
            if child is None:
                raise HandlerNotFoundError(
                    f"graph '{registration.graph_name}': subgraph node '{node}' is not in this deployment"
                )
            registration = child
        return registration

    @property
    def graph_names(self) -> list[str]:
        """Names of the registered graphs, in registration order."""
        return list(self._by_name)

    def versions(self, graph_name: str) -> list[str]:
        """Registered versions of a graph, oldest first."""
        return list(self._by_name.get(graph_name, {}))

    def registrations(self) -> list[GraphRegistration]:
        """The latest registered version of every graph."""
        return [list(versions.values())[-1] for versions in self._by_name.values()]


__all__ = ["GraphRegistry"]

"""The graphs an engine can run: every registered version, by name and by manifest hash."""

from __future__ import annotations

from ..core import CompiledGraph, check_snapshot, compile_manifest
from ..execution.driver import ActiveRun
from ..graph.errors import GraphNotFoundError
from ..graph.manifest import GraphManifest
from ..graph.registration import GraphRegistration
from .store.base import RunRecord, RunStore


class GraphRegistry:
    """Registered graphs; a stored run finds its code by manifest hash, else by graph name."""

    def __init__(self) -> None:
        self._by_name: dict[str, dict[str, GraphRegistration]] = {}
        self._by_hash: dict[str, GraphRegistration] = {}

    def add(self, registration: GraphRegistration) -> None:
        """Register one version (a version registered again replaces the earlier one)."""
        self._by_name.setdefault(registration.graph_name, {})[registration.version] = registration
        self._by_hash[registration.graph_hash] = registration

    def get(self, graph: str, version: str | None = None) -> GraphRegistration:
        """The registered graph (latest version unless one is named); GraphNotFoundError."""
        versions = self._by_name.get(graph)
        if not versions or (version is not None and version not in versions):
            known = ", ".join(sorted(self._by_name)) or "none"
            what = f"graph '{graph}'" + (f" version '{version}'" if version else "")
            raise GraphNotFoundError(f"{what} is not registered (registered: {known})", details={"graph": graph})
        return versions[version] if version is not None else list(versions.values())[-1]

    def latest(self, graph: str) -> GraphRegistration | None:
        """The latest registered version of ``graph``, or None."""
        versions = self._by_name.get(graph)
        return list(versions.values())[-1] if versions else None

    def by_hash(self, graph_hash: str) -> GraphRegistration | None:
        """The registration whose manifest has this hash, or None."""
        return self._by_hash.get(graph_hash)

    def code_for(self, graph_hash: str, graph_name: str) -> GraphRegistration | None:
        """What runs a stored run: its exact version, else the latest of its graph."""
        return self._by_hash.get(graph_hash) or self.latest(graph_name)

    def compiled_for(self, record: RunRecord, store: RunStore) -> CompiledGraph:
        """The topology a stored run keeps: its own manifest, from code or from the store."""
        registration = self._by_hash.get(record.graph_hash)
        if registration is not None:
            return compile_manifest(registration.manifest)
        stored = store.get_manifest(record.graph_hash)
        if stored is None:
            raise GraphNotFoundError(
                f"run '{record.instance_id}': manifest {record.graph_hash[:12]} is not stored"
            )
        return compile_manifest(GraphManifest.model_validate_json(stored))

    def load(self, record: RunRecord, store: RunStore) -> ActiveRun:
        """A stored run ready to drive: its manifest's topology, the code registered for it."""
        graph = self.compiled_for(record, store)
        registration = self._by_hash.get(record.graph_hash) or self.get(record.graph_name)
        return ActiveRun(registration, graph, check_snapshot(record.snapshot))

    @property
    def graph_names(self) -> list[str]:
        """Names of the registered graphs, in registration order."""
        return list(self._by_name)

    def versions(self, graph_name: str) -> list[str]:
        """Registered versions of a graph, oldest first."""
        return list(self._by_name.get(graph_name, {}))


__all__ = ["GraphRegistry"]

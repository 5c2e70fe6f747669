"""What the embedded engine adds to the one graph registry: a stored run's topology and code.

A stored run keeps its own manifest (stored by hash when its graph was registered), so it is
driven with the topology it started with even after its graph's code changed; its handlers
come from the registry's rule (``GraphRegistry.code_for``).
"""

from __future__ import annotations

from ..core import CompiledGraph, check_snapshot, compile_manifest
from ..execution.driver import ActiveRun
from ..execution.registry import GraphRegistry
from ..graph.errors import GraphNotFoundError
from ..graph.manifest import GraphManifest
from .store.base import RunRecord, RunStore


def compiled_for(graphs: GraphRegistry, record: RunRecord, store: RunStore) -> CompiledGraph:
    """The topology a stored run keeps: its own manifest, from code or from the store."""
    registration = graphs.by_hash(record.graph_hash)
    if registration is not None:
        return compile_manifest(registration.manifest)
    stored = store.get_manifest(record.graph_hash)
    if stored is None:
        raise GraphNotFoundError(f"run '{record.instance_id}': manifest {record.graph_hash[:12]} is not stored")
    return compile_manifest(GraphManifest.model_validate_json(stored))


def load_run(graphs: GraphRegistry, record: RunRecord, store: RunStore) -> ActiveRun:
    """A stored run ready to drive: its manifest's topology, the code registered for it."""
    graph = compiled_for(graphs, record, store)
    registration = graphs.code_for(record.graph_hash, record.graph_name) or graphs.get(record.graph_name)
    return ActiveRun(registration, graph, check_snapshot(record.snapshot))


__all__ = ["compiled_for", "load_run"]

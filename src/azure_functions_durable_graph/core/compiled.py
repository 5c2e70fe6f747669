"""A manifest indexed for the interpreter: node specs by name, field sets, reducers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..graph.manifest import GraphManifest, NodeSpec


@dataclass(frozen=True)
class CompiledGraph:
    """Read-only lookup tables over one manifest, shared by every run of that manifest."""

    manifest: GraphManifest
    nodes: dict[str, NodeSpec]
    fields: frozenset[str]
    reducers: dict[str, str]
    events: frozenset[str]

    @property
    def graph_name(self) -> str:
        """The graph's name."""
        return self.manifest.graph_name

    def child(self, node: str) -> CompiledGraph:
        """The compiled manifest of subgraph node ``node``."""
        sub = self.nodes[node].subgraph
        assert sub is not None
        return compile_manifest(sub)


_CACHE: dict[str, CompiledGraph] = {}


def compile_manifest(manifest: GraphManifest | dict[str, Any]) -> CompiledGraph:
    """Index ``manifest`` (a model or its JSON dict); cached by graph hash."""
    if isinstance(manifest, dict):
        cached = _CACHE.get(str(manifest.get("graph_hash", "")))
        if cached is not None:
            return cached
        manifest = GraphManifest.model_validate(manifest)
    cached = _CACHE.get(manifest.graph_hash)
    if cached is not None:
        return cached
    properties = manifest.state_schema.get("properties", {})
    compiled = CompiledGraph(
        manifest=manifest,
        nodes={n.name: n for n in manifest.nodes},
        fields=frozenset(properties) | frozenset(manifest.reducers),
        reducers=dict(manifest.reducers),
        events=frozenset(e.name for e in manifest.events),
    )
    if len(_CACHE) > 512:  # bounded: many versions in one process is rare
        _CACHE.clear()
    _CACHE[manifest.graph_hash] = compiled
    return compiled


__all__ = ["CompiledGraph", "compile_manifest"]

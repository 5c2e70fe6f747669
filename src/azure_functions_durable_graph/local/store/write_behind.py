"""Reading runs whose latest steps were committed without their snapshot (write-behind).

A transition that only applies task results may leave the run's snapshot as it was and log
the results it applied instead (:attr:`.base.Transition.deferred_at`). Every read of a run
replays that log onto the written snapshot with the pure interpreter
(:func:`...core.replay_deferred`), so what a reader sees is every committed step. The graph a
replay needs is the run's own manifest, stored by hash; compiled once per hash here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from ...core import CompiledGraph, DeferredResult, compile_manifest, replay_deferred
from ...graph.errors import StoreError
from ...graph.manifest import GraphManifest
from .base import RunRecord


class SnapshotReplay:
    """Replays deferred results onto run records; ``manifest(hash)`` reads a stored manifest."""

    def __init__(self, manifest: Callable[[str], str | None]) -> None:
        self._manifest = manifest
        self._graphs: dict[str, CompiledGraph] = {}
        self._lock = threading.Lock()

    def graph(self, graph_hash: str, instance_id: str) -> CompiledGraph:
        """The compiled manifest stored under ``graph_hash`` (StoreError when it is not stored)."""
        with self._lock:
            graph = self._graphs.get(graph_hash)
        if graph is not None:
            return graph
        text = self._manifest(graph_hash)
        if text is None:
            raise StoreError(
                f"run '{instance_id}': manifest {graph_hash[:12]} is not stored; its deferred "
                "steps cannot be replayed"
            )
        graph = compile_manifest(GraphManifest.model_validate_json(text))
        with self._lock:
            self._graphs[graph_hash] = graph
        return graph

    def snapshot(self, record: RunRecord, deferred: Sequence[DeferredResult]) -> dict[str, Any]:
        """The run's current snapshot: its written one with ``deferred`` applied in order."""
        if not deferred:
            return record.snapshot
        graph = self.graph(record.graph_hash, record.instance_id)
        return dict(replay_deferred(graph, record.snapshot, deferred))

    def current(self, record: RunRecord, deferred: Sequence[DeferredResult]) -> RunRecord:
        """``record`` with its current snapshot (the same record, updated)."""
        if deferred:
            record.snapshot = self.snapshot(record, deferred)
        return record


__all__ = ["SnapshotReplay"]

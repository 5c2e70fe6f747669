"""The reading half of ``LocalEngine``: statuses, waiting, listing, history, progress streams.

Everything here reads the store (and the engine's watchers); nothing drives a run. What a
read shows leaves out the graph's hidden state fields (``GraphManifest.hidden_fields``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from ..core import WAITING
from ..execution.backend import RunStatus
from ..execution.follow import follow_run
from ..graph.manifest import shown_state
from .records import run_status, task_index
from .store.base import RunStore
from .watchers import RunWatchers
from .workers import DriveHandle


class StoredRunReads:
    """Reads of stored runs, shared by ``LocalEngine`` (which sets the attributes below)."""

    store: RunStore
    _watchers: RunWatchers
    _drives: dict[str, DriveHandle]
    _hidden_by_hash: dict[str, frozenset[str]]

    def hidden_fields(self, graph_hash: str) -> frozenset[str]:
        """The state fields the run's graph (its stored manifest) never shows, cached by hash."""
        hidden = self._hidden_by_hash.get(graph_hash)
        if hidden is None:
            stored = self.store.get_manifest(graph_hash)
            if stored is None:
                return frozenset()
            hidden = frozenset(json.loads(stored).get("hidden_fields") or ())
            self._hidden_by_hash[graph_hash] = hidden
        return hidden

    async def get_status(self, instance_id: str) -> RunStatus:
        """The stored status of a run (RunNotFoundError when unknown)."""
        record = self.store.get_run(instance_id)
        return run_status(record, self.hidden_fields(record.graph_hash))

    async def wait(self, instance_id: str, timeout: float | None = None) -> RunStatus:
        """Until the run finishes or waits for an event, or ``timeout`` (real seconds) passes."""

        async def settled() -> tuple[bool, RunStatus | None]:
            if instance_id in self._drives:  # being driven: its drive signals when it ends
                return False, None
            status = await self.get_status(instance_id)
            parked = status.status == WAITING and instance_id not in self._drives
            return status.finished or parked, status

        status = await self._watchers.wait_until(instance_id, settled, timeout)
        return status if status is not None else await self.get_status(instance_id)

    async def list_runs(self, **filters: Any) -> tuple[list[RunStatus], str | None]:
        """Runs newest first: filters ``graph_name``, ``status``, ``created_after``/``before``,
        ``limit``, ``cursor``."""
        records, cursor = self.store.list_runs(**filters)
        return [run_status(r, self.hidden_fields(r.graph_hash)) for r in records], cursor

    async def history(self, instance_id: str) -> list[dict[str, Any]]:
        """Executed steps of a run, oldest first."""
        hidden = self.hidden_fields(self.store.get_run(instance_id).graph_hash)
        rows = [row.to_dict() for row in self.store.history(instance_id)]
        for row in rows:
            row["update"] = shown_state(row.get("update"), hidden)
        # Within a superstep, list tasks in creation order (threads may finish in any order).
        rows.sort(key=lambda r: (r["step"], task_index(r["task_id"]), r["attempt"]))
        return rows

    async def run_events(self, instance_id: str, after_seq: int = 0) -> list[tuple[int, dict[str, Any]]]:
        """Stored progress events of a run after sequence number ``after_seq`` (SSE)."""
        hidden = self.hidden_fields(self.store.get_run(instance_id).graph_hash)
        events = self.store.list_events(instance_id, after_seq)
        if not hidden:
            return events
        return [(seq, {**event, "update": shown_state(event["update"], hidden)} if "update" in event else event)
                for seq, event in events]

    async def stream(self, instance_id: str, *, after: int = 0) -> AsyncIterator[dict[str, Any]]:
        """The run's progress as it happens, from after sequence number ``after``.

        The events of ``GET /runs/{id}/stream``, each with its ``seq``: steps, the nodes'
        emits, waits, and last ``{"type": "end", "status", "instance_id"}`` once the run has
        finished. A waiting run keeps the iterator open; RunNotFoundError for an unknown run.
        """
        async for item in follow_run(self, instance_id, after):
            if item is not None:
                seq, event = item
                yield event if seq is None else {**event, "seq": seq}

    def begin_stream(self, instance_id: str) -> None:
        """A stream follows the run: every step of it is signalled from now on."""
        self._watchers.begin_stream(instance_id)

    def end_stream(self, instance_id: str) -> None:
        """The stream is gone."""
        self._watchers.end_stream(instance_id)

    def progress_version(self, instance_id: str) -> int:
        """A counter of the run's progress while it is streamed."""
        return self._watchers.progress_version(instance_id)

    async def wait_for_progress(self, instance_id: str, timeout: float, since: int | None = None) -> None:
        """Return once the run progressed past ``since`` or after ``timeout`` seconds."""
        await self._watchers.wait_for_progress(instance_id, timeout, since)


__all__ = ["StoredRunReads"]

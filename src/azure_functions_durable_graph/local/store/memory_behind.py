"""Write-behind snapshots in the memory store, as the SQLite store keeps them (:mod:`.sqlite_behind`).

A deferred transition updates the run's status, update time and events and logs the results it
applied, leaving the snapshot text as it was; writing a snapshot drops the log. Reads replay the
log onto the written snapshot (:mod:`.write_behind`).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from ...core.replay import DeferredResult
from ...core.snapshot import RUNNING
from ...graph.errors import StoreError
from .base import RunRecord, Transition, ensure_unfinished
from .memory_queries import StoredRun
from .rows import dump_json, load_json, step_of
from .write_behind import SnapshotReplay

logger = logging.getLogger(__name__)


class MemoryWriteBehind:
    """The memory store's deferred-results log, its replaying reads and its flush."""

    if TYPE_CHECKING:
        _lock: threading.RLock
        def _run(self, instance_id: str) -> StoredRun: ...
        def _maybe_run(self, instance_id: str) -> StoredRun | None: ...
        def get_manifest(self, graph_hash: str) -> str | None: ...

    _replay_: SnapshotReplay | None = None

    @property
    def _replay(self) -> SnapshotReplay:
        if self._replay_ is None:
            self._replay_ = SnapshotReplay(self.get_manifest)
        return self._replay_

    def save_progress(self, instance_id: str, transition: Transition) -> int:
        """A deferred transition's status, update time and events; its results logged."""
        what = f"run '{instance_id}'"
        texts = [dump_json(e, f"{what} event") for e in transition.events]
        step = step_of(transition.snapshot)
        at = float(transition.updated_at)
        applied_at = float(transition.deferred_at if transition.deferred_at is not None else at)
        with self._lock:
            run = self._run(instance_id)
            ensure_unfinished(instance_id, str(run.columns["status"]))
            for text in texts:
                run.last_seq += 1
                run.events.append((run.last_seq, step, at, text))
            run.columns.update(status=transition.status, updated_at=at, output=None, error=None)
            run.deferred.extend((r.task_id, r.attempt, applied_at) for r in transition.results)
            return run.last_seq

    def deferred_results(self, instance_id: str) -> list[DeferredResult]:
        """The results committed after the run's written snapshot, in commit order."""
        with self._lock:
            run = self._maybe_run(instance_id)
            if run is None:
                return []
            return [DeferredResult(task_id, dict(load_json(run.results[(task_id, attempt)].text)), at)
                    for task_id, attempt, at in run.deferred]

    def _current(self, record: RunRecord) -> RunRecord:
        """``record`` with its deferred results replayed (only a running run has any)."""
        if record.status != RUNNING:
            return record
        return self._replay.current(record, self.deferred_results(record.instance_id))

    def _current_listed(self, record: RunRecord) -> RunRecord:
        """A listed run with its deferred steps replayed (as last written when that fails)."""
        try:
            return self._current(record) if record.snapshot else record
        except StoreError as exc:  # one run that cannot be replayed must not hide the rest
            logger.warning("listing run '%s' as last written: %s", record.instance_id, exc.message)
            return record

    def flush_deferred(self, instance_id: str) -> bool:
        """Write the run's replayed snapshot and drop its log, at once (False: it had none)."""
        with self._lock:
            run = self._maybe_run(instance_id)
            if run is None or not run.deferred:
                return False
            record = run.record()
            snapshot = self._replay.snapshot(record, self.deferred_results(instance_id))
            run.columns["snapshot"] = dump_json(snapshot, f"run '{instance_id}' snapshot")
            run.deferred.clear()
            return True


__all__ = ["MemoryWriteBehind"]

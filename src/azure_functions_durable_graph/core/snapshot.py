"""The run snapshot: plain JSON holding everything the interpreter knows about one run.

A snapshot is a ``dict`` that survives ``json.dumps``/``json.loads`` unchanged. The interpreter
updates it in place; drivers persist it (local engine) or rebuild it by replay (Azure).
"""

from __future__ import annotations

from typing import Any, Final, cast

from ..graph.errors import SnapshotError
from .records import RunStatus, Snapshot, TaskKind, TaskRecord, TaskStatus

SNAPSHOT_FORMAT = 1

# Run statuses, in graph-level words.
RUNNING: Final = "running"
WAITING: Final = "waiting"
COMPLETED: Final = "completed"
FAILED: Final = "failed"
CANCELLED: Final = "cancelled"
FINISHED: Final[frozenset[RunStatus]] = frozenset({COMPLETED, FAILED, CANCELLED})

# Task statuses.
READY: Final = "ready"  # to be run (or running) by the driver
RETRY_WAIT: Final = "retry_wait"  # failed, a retry timer is pending
DONE: Final = "done"  # result recorded, waiting for the superstep boundary
TASK_STATUSES: Final[frozenset[TaskStatus]] = frozenset({READY, RETRY_WAIT, DONE})

# Task kinds.
NODE: Final = "node"
SUBGRAPH: Final = "subgraph"
EVENT: Final = "event"
REDUCE: Final = "reduce"
TASK_KINDS: Final[frozenset[TaskKind]] = frozenset({NODE, SUBGRAPH, EVENT, REDUCE})


def new_snapshot(
    run_id: str,
    graph_name: str,
    graph_hash: str,
    state: dict[str, Any],
    metadata: dict[str, Any] | None = None,
) -> Snapshot:
    """A snapshot before its first superstep."""
    return {
        "format": SNAPSHOT_FORMAT,
        "run_id": run_id,
        "graph_name": graph_name,
        "graph_hash": graph_hash,
        "status": RUNNING,
        "state": state,
        "step": 0,
        "tasks": [],
        "frontier": None,
        "ready": [],
        "pending_joins": [],
        "waits": [],
        "inbox": [],
        "consumed_events": [],
        "timers": [],
        "next_event_id": 1,
        "next_wait_id": 1,
        "cancel": None,
        "error": None,
        "final_nodes": [],
        "last_nodes": [],
        "steps_since_compaction": 0,
        "metadata": dict(metadata or {}),
    }


def check_snapshot(snapshot: Any) -> Snapshot:
    """Reject what is not a snapshot of a format this interpreter reads.

    The JSON is taken as it is (no copy, no per-key check): the format number vouches for the
    shape, and the interpreter is the only writer of snapshots.
    """
    if not isinstance(snapshot, dict) or "format" not in snapshot:
        raise SnapshotError("not a run snapshot (a JSON object with a 'format' key is expected)")
    if snapshot["format"] != SNAPSHOT_FORMAT:
        raise SnapshotError(
            f"run '{snapshot.get('run_id')}' has snapshot format {snapshot['format']}; "
            f"this version reads format {SNAPSHOT_FORMAT}"
        )
    return cast(Snapshot, snapshot)


def is_finished(snapshot: Snapshot) -> bool:
    """Whether the run has reached a final status."""
    return snapshot["status"] in FINISHED


def find_task(snapshot: Snapshot, task_id: str) -> TaskRecord | None:
    """The current superstep's task with id ``task_id``, if any."""
    return next((task for task in snapshot["tasks"] if task["id"] == task_id), None)


__all__ = [
    "CANCELLED",
    "COMPLETED",
    "DONE",
    "EVENT",
    "FAILED",
    "FINISHED",
    "NODE",
    "READY",
    "REDUCE",
    "RETRY_WAIT",
    "RUNNING",
    "SNAPSHOT_FORMAT",
    "SUBGRAPH",
    "Snapshot",
    "TASK_KINDS",
    "TASK_STATUSES",
    "WAITING",
    "check_snapshot",
    "find_task",
    "is_finished",
    "new_snapshot",
]

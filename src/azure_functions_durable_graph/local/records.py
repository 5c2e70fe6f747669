"""Helpers of the engine: opening a store, new run rows, run records as API statuses, history order."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from ..execution.backend import RunStatus, status_from_snapshot
from ..graph.registration import GraphRegistration
from .store.base import RunRecord, RunStore

DEFAULT_DB = Path(".durable-graph") / "runs.db"


def open_store(store: RunStore | str | Path | None) -> RunStore:
    if isinstance(store, RunStore):
        return store
    from .store.sqlite import SqliteRunStore

    return SqliteRunStore(store if store is not None else DEFAULT_DB)


def task_index(task_id: str) -> int:
    parts = task_id.split(":")
    if len(parts) > 2 and parts[1].isdigit():
        return int(parts[1])
    return 1 << 30  # the custom-reducer task runs after every task of its step


def run_status(record: RunRecord) -> RunStatus:
    current, waits = status_from_snapshot(record.snapshot)
    return RunStatus(
        instance_id=record.instance_id, graph_name=record.graph_name, graph_version=record.graph_version,
        graph_hash=record.graph_hash, status=record.status, step=int(record.snapshot.get("step", 0)),
        current_nodes=current, waiting_for=waits, input=record.input, output=record.output,
        error=record.error, created_at=record.created_at, updated_at=record.updated_at,
        metadata=record.metadata, parent_id=record.parent_id, cancel=record.snapshot.get("cancel"),
    )


def new_run_record(
    registration: GraphRegistration, snapshot: Mapping[str, Any], state: dict[str, Any],
    metadata: dict[str, Any] | None, now: float,
) -> RunRecord:
    """The row of a run just started from ``snapshot``."""
    return RunRecord(
        instance_id=str(snapshot["run_id"]), graph_name=registration.graph_name,
        graph_version=registration.version, graph_hash=registration.graph_hash,
        status=snapshot["status"], snapshot=cast(dict[str, Any], snapshot), input=state, metadata=dict(metadata or {}),
        created_at=now, updated_at=now,
    )  # fmt: skip


__all__ = [
    "DEFAULT_DB",
    "new_run_record",
    "open_store",
    "run_status",
    "task_index",
]

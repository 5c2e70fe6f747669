"""Helpers of the engine: opening a store, new run rows, run records as API statuses, history order."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from ..core import FINISHED
from ..execution.backend import RunStatus, status_from_snapshot
from ..graph.errors import RunConflictError
from ..graph.manifest import canonical_json
from ..graph.registration import GraphRegistration
from .store.base import RunRecord, RunStore

DEFAULT_DB = Path(".durable-graph") / "runs.db"


def open_store(store: RunStore | str | Path | None) -> RunStore:
    if isinstance(store, RunStore):
        return store
    from .store.sqlite import SqliteRunStore

    return SqliteRunStore(store if store is not None else DEFAULT_DB)


def ensure_not_finished(record: RunRecord, action: str) -> None:
    if record.status in FINISHED:
        raise RunConflictError(
            f"cannot {action}: run '{record.instance_id}' is already {record.status}",
            details={"instance_id": record.instance_id, "status": record.status},
        )


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


def repeated_start(existing: RunRecord, graph: str, state: dict[str, Any]) -> RunStatus:
    """A start with an id already taken: the run's status when graph and input are the same."""
    if existing.graph_name == graph and canonical_json(existing.input) == canonical_json(state):
        return run_status(existing)
    raise RunConflictError(
        f"run '{existing.instance_id}' already exists with a different graph or input",
        details={"instance_id": existing.instance_id},
    )


def new_instance_id(now: float) -> str:
    """A new run id: 32 hex digits in the UUID version 7 layout (RFC 9562), ordered by time.

    48 bits of Unix milliseconds, 12 bits of the fraction of the millisecond, then random
    bits. Ids made later sort later, so a new run's rows go at the end of the store's indexes
    (keyed by instance id) instead of at random places, where every insert can split a page.
    """
    micros = max(0, int(now * 1_000_000))
    millis, fraction = divmod(micros, 1000)
    rand_a = fraction * 4096 // 1000
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (millis & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    return f"{value:032x}"


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
    "ensure_not_finished",
    "new_instance_id",
    "new_run_record",
    "open_store",
    "repeated_start",
    "run_status",
    "task_index",
]

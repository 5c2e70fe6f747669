"""Helpers of the engine: opening a store, new run rows, run records as API statuses, history order."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, cast

from ..execution.backend import RunStatus, status_from_snapshot
from ..graph.errors import InvalidInputError
from ..graph.manifest import shown_state
from ..graph.registration import GraphRegistration
from .store.base import RunRecord, RunStore

DEFAULT_DB = Path(".durable-graph") / "runs.db"


def open_store(store: RunStore | str | Path | None, durability: object = None) -> RunStore:
    """The engine's store: ``store`` itself, or a SQLite file opened with ``durability``.

    ``durability`` None: ``"process"`` for a file opened here; a store passed in keeps its own.
    Given with a store, it must be that store's (a memory store can only be ``"process"``).
    """
    from .store.durability import INVALID_DURABILITY, POWER, PROCESS, check_durability

    mode = None if durability is None else check_durability(durability, "LocalEngine")
    if not isinstance(store, RunStore):
        from .store.sqlite import SqliteRunStore

        return SqliteRunStore(store if store is not None else DEFAULT_DB, durability=mode or PROCESS)
    own = getattr(store, "durability", None)
    if mode is None or mode == own or (own is None and mode == PROCESS):
        return store
    if own is None:
        raise InvalidInputError(
            f"LocalEngine: durability '{POWER}' needs a store that syncs its commits to disk; "
            f"{type(store).__name__} keeps nothing past the process", code=INVALID_DURABILITY)
    raise InvalidInputError(
        f"LocalEngine: durability '{mode}' differs from the store's '{own}'; open the store "
        f"with durability='{mode}'", code=INVALID_DURABILITY)


def task_index(task_id: str) -> int:
    parts = task_id.split(":")
    if len(parts) > 2 and parts[1].isdigit():
        return int(parts[1])
    return 1 << 30  # the custom-reducer task runs after every task of its step


def run_status(record: RunRecord, hidden: Collection[str] | None = None) -> RunStatus:
    """The API status of ``record``; its input without the graph's ``hidden`` fields."""
    current, waits = status_from_snapshot(record.snapshot)
    return RunStatus(
        instance_id=record.instance_id, graph_name=record.graph_name, graph_version=record.graph_version,
        graph_hash=record.graph_hash, status=record.status, step=int(record.snapshot.get("step", 0)),
        current_nodes=current, waiting_for=waits, input=shown_state(record.input, hidden), output=record.output,
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

"""Helpers the store implementations share: JSON text, limits, row conversion.

Not part of the public API: the interface and its records are in :mod:`.base`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pydantic_core

from ...graph.errors import InvalidInputError, RunConflictError, RunNotFoundError, StoreError
from .base import RunRecord

logger = logging.getLogger(__name__)


def dump_json(value: Any, what: str) -> str:
    """Compact JSON text of ``value`` (StoreError naming ``what`` when it is not JSON).

    pydantic-core's serializer, the one behind the state models' JSON mode, writes compact
    text (NaN and infinities as the constants ``json.loads`` reads back) at about a quarter of
    the cost of ``json.dumps``; a snapshot is written at every step. Values the engine stores are
    already in JSON mode; other Python values are written as pydantic's JSON mode writes them
    (a set or tuple as an array, a datetime as ISO text) and anything else is refused.
    """
    try:
        return pydantic_core.to_json(value, inf_nan_mode="constants").decode()
    except pydantic_core.PydanticSerializationError as exc:
        raise StoreError(f"{what} is not JSON-serializable: {exc}") from None


def load_json(text: str | None, what: str = "stored JSON") -> Any:
    """The value of stored JSON text (None stays None); StoreError naming ``what`` if it cannot be.

    pydantic-core's parser, as for writing; it stops at about 200 nested levels, which its
    writer (255 levels) and earlier releases (which took any depth) could exceed, so a value it
    refuses is read again with ``json``, which reads far deeper rows such as those.
    """
    if text is None:
        return None
    try:
        return pydantic_core.from_json(text)
    except (ValueError, TypeError):
        pass
    try:
        return json.loads(text)
    except (ValueError, RecursionError, TypeError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:200]
        raise StoreError(f"{what} cannot be decoded: {reason}") from None


def emits_dropped_event(dropped: int) -> str:
    """The event that stands where a run's oldest emits were dropped (``append_emits``)."""
    return dump_json({"type": "emits_dropped", "dropped": dropped}, "emits_dropped event")


def status_filter(status: str | Sequence[str] | None) -> list[str] | None:
    """``status`` as a list of statuses (None when not filtering)."""
    if status is None:
        return None
    if isinstance(status, str):
        return [status]
    return [str(s) for s in status]


def check_limit(limit: int, what: str = "limit") -> int:
    """A positive page size (InvalidInputError otherwise)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidInputError(f"{what} must be a positive integer, got {limit!r}")
    return limit


def check_keep_last(keep_last: int | None) -> int | None:
    """A non-negative step count (InvalidInputError otherwise)."""
    if keep_last is not None and (
        isinstance(keep_last, bool) or not isinstance(keep_last, int) or keep_last < 0
    ):
        raise InvalidInputError(f"keep_last must be a non-negative integer, got {keep_last!r}")
    return keep_last


def keep_threshold(steps: Iterable[int], keep_last: int | None) -> float | None:
    """The lowest step kept by ``keep_last`` (rows below it may go); None keeps all rows.

    With no ``keep_last`` every step may go (``+inf``); with fewer distinct steps than
    ``keep_last`` nothing goes.
    """
    if keep_last is None or keep_last == 0:
        return float("inf")
    distinct = sorted(set(steps), reverse=True)
    if len(distinct) < keep_last:
        return None
    return float(distinct[keep_last - 1])


def step_of(snapshot: Mapping[str, Any]) -> int:
    """The snapshot's superstep number (0 when it has none)."""
    step = snapshot.get("step", 0)
    return step if isinstance(step, int) and not isinstance(step, bool) else 0


#: Columns of a run row, in storage order.
RUN_COLUMNS: tuple[str, ...] = (
    "instance_id", "graph_name", "graph_version", "graph_hash", "status", "snapshot", "input",
    "metadata", "created_at", "updated_at", "error", "output", "parent_id",
)  # fmt: skip


def run_columns(run: RunRecord) -> dict[str, Any]:
    """A run's row: scalars as they are, JSON fields as compact text."""
    what = f"run '{run.instance_id}'"
    return {
        "instance_id": run.instance_id, "graph_name": run.graph_name,
        "graph_version": run.graph_version, "graph_hash": run.graph_hash, "status": run.status,
        "snapshot": dump_json(run.snapshot, f"{what} snapshot"),
        "input": dump_json(run.input, f"{what} input"),
        "metadata": dump_json(run.metadata, f"{what} metadata"),
        "created_at": float(run.created_at), "updated_at": float(run.updated_at),
        "error": None if run.error is None else dump_json(run.error, f"{what} error"),
        "output": None if run.output is None else dump_json(run.output, f"{what} output"),
        "parent_id": run.parent_id,
    }  # fmt: skip


def run_record(row: Any) -> RunRecord:
    """The :class:`RunRecord` of a row made by :func:`run_columns` (any ``row[name]`` mapping).

    StoreError naming the run and the column when a JSON column cannot be decoded.
    """
    what = f"run '{row['instance_id']}'"
    return RunRecord(
        instance_id=str(row["instance_id"]), graph_name=str(row["graph_name"]),
        graph_version=str(row["graph_version"]), graph_hash=str(row["graph_hash"]),
        status=str(row["status"]), snapshot=load_json(row["snapshot"], f"{what} snapshot"),
        input=load_json(row["input"], f"{what} input"),
        metadata=load_json(row["metadata"], f"{what} metadata"),
        created_at=float(row["created_at"]), updated_at=float(row["updated_at"]),
        error=load_json(row["error"], f"{what} error"),
        output=load_json(row["output"], f"{what} output"),
        parent_id=row["parent_id"],
    )  # fmt: skip


def listed_run_record(row: Any) -> RunRecord:
    """A row as a listing shows it: a row that cannot be decoded is still listed, marked.

    One damaged row must not hide every other run (nor stop a list, the CLI or the server):
    it is listed with its stored scalars (id, graph, status, times), empty JSON fields, and an
    ``error`` with the code ``STORE_ERROR`` saying which column of the run could not be read.
    Reading that run on its own (``get_run``) still raises the StoreError.
    """
    try:
        return run_record(row)
    except StoreError as exc:
        logger.warning("listing a run whose row cannot be decoded: %s", exc.message)
        return RunRecord(
            instance_id=str(row["instance_id"]), graph_name=str(row["graph_name"]),
            graph_version=str(row["graph_version"]), graph_hash=str(row["graph_hash"]),
            status=str(row["status"]), snapshot={}, input={}, metadata={},
            created_at=float(row["created_at"]), updated_at=float(row["updated_at"]),
            error={"code": exc.code, "message": exc.message}, output=None, parent_id=row["parent_id"],
        )  # fmt: skip


def not_found(instance_id: str) -> RunNotFoundError:
    """The error for an unknown run."""
    return RunNotFoundError(
        f"run '{instance_id}' does not exist", details={"instance_id": instance_id}
    )


def conflict(instance_id: str, message: str, **details: Any) -> RunConflictError:
    """A conflict error about a run, naming it."""
    return RunConflictError(message, details={"instance_id": instance_id, **details})


def result_parts(result: dict[str, Any]) -> tuple[bool, Any, Any, dict[str, Any] | None]:
    """``(ok, update, route, error)`` of a task result record."""
    return (
        bool(result.get("ok")),
        result.get("update"),
        result.get("route"),
        result.get("error"),
    )



"""The run store interface of the embedded engine, its records and shared helpers.

A run store keeps, per run: the row (status, snapshot, input, output, ...), the progress events
(numbered per run, for resumable streams), the committed task results (which double as the step
history), the event inbox and the durable timers; plus graph manifests by hash. Every method is
synchronous and is one short transaction. Times are epoch seconds given by the caller.
"""

from __future__ import annotations

import base64
import binascii
import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from types import TracebackType
from typing import Any, TypeVar

from ...core.snapshot import FINISHED, RUNNING, WAITING
from ...graph.errors import InvalidInputError, RunConflictError, RunNotFoundError, StoreError

#: Statuses of runs that may still change (resumed when an engine opens the store).
UNFINISHED_STATUSES: tuple[str, ...] = (RUNNING, WAITING)
#: Statuses of runs that reached their end (their history may be pruned).
FINISHED_STATUSES: tuple[str, ...] = tuple(sorted(FINISHED))

_Store = TypeVar("_Store", bound="RunStore")

#: ``(instance_id, timer_id, fire_at)`` as returned by :meth:`RunStore.due_timers`.
DueTimer = tuple[str, str, float]


@dataclass
class RunRecord:
    """One run as stored: identity, graph, status, snapshot, input/output and timestamps."""

    instance_id: str
    graph_name: str
    graph_version: str
    graph_hash: str
    status: str
    snapshot: dict[str, Any]
    input: dict[str, Any]
    metadata: dict[str, Any]
    created_at: float
    updated_at: float
    error: dict[str, Any] | None = None
    output: dict[str, Any] | None = None
    parent_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The record as a JSON-ready ``dict``."""
        return asdict(self)


@dataclass(frozen=True)
class StepRow:
    """One executed task of a run's history (a committed task result)."""

    instance_id: str
    step: int
    task_id: str
    node: str
    attempt: int
    ok: bool
    update: Any
    route: Any
    error: dict[str, Any] | None
    started_at: float
    finished_at: float

    def to_dict(self) -> dict[str, Any]:
        """The row as a JSON-ready ``dict``."""
        return asdict(self)


@dataclass(frozen=True)
class InboxEvent:
    """An external event stored for a run; ``delivered_at`` is set once the run applied it."""

    instance_id: str
    event_id: str
    name: str
    payload: Any
    created_at: float
    delivered_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The event as a JSON-ready ``dict``."""
        return asdict(self)


def ensure_unfinished(instance_id: str, status: str) -> None:
    """A finished run is never written again (a late result after terminate, say)."""
    if status in FINISHED_STATUSES:
        raise RunConflictError(
            f"run '{instance_id}' is already {status}; its stored state is final",
            details={"instance_id": instance_id, "status": status},
        )


@dataclass(frozen=True)
class ResultRow:
    """A task result to commit."""

    step: int
    task_id: str
    node: str
    attempt: int
    result: dict[str, Any]
    started_at: float
    finished_at: float


@dataclass(frozen=True)
class Transition:
    """Everything one interpreter transition writes: committed together by ``commit_transition``."""

    snapshot: dict[str, Any]
    status: str
    updated_at: float
    output: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    events: Sequence[dict[str, Any]] = ()
    results: Sequence[ResultRow] = ()
    timers: Sequence[dict[str, Any]] | None = None  # None: unchanged
    delivered: Sequence[str] = ()


class RunStore(ABC):
    """Durable storage of runs for the embedded engine.

    Per-run writes raise :class:`RunNotFoundError` for an unknown run; per-run reads of
    events, history and the inbox return empty results for one. Use as a context manager to
    close it.
    """

    # -- manifests -------------------------------------------------------------------------
    @abstractmethod
    def put_manifest(self, graph_hash: str, graph_name: str, manifest_json: str) -> None:
        """Store a graph manifest under its hash (a second call for the hash is a no-op)."""

    @abstractmethod
    def get_manifest(self, graph_hash: str) -> str | None:
        """The manifest JSON stored under ``graph_hash``, or None."""

    # -- runs ------------------------------------------------------------------------------
    @abstractmethod
    def create_run(self, run: RunRecord) -> RunRecord:
        """Insert a new run (RunConflictError when the instance id already exists)."""

    @abstractmethod
    def get_run(self, instance_id: str) -> RunRecord:
        """The stored run (RunNotFoundError naming the run when there is none)."""

    @abstractmethod
    def find_run(self, instance_id: str) -> RunRecord | None:
        """The stored run, or None."""

    @abstractmethod
    def save_snapshot(
        self,
        instance_id: str,
        snapshot: dict[str, Any],
        *,
        status: str,
        updated_at: float,
        output: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
        events: Sequence[dict[str, Any]] = (),
    ) -> int:
        """Update the run row and append ``events``; returns the run's last event sequence.

        Sequence numbers start at 1 and only grow, even after pruning. One transaction.
        """

    @abstractmethod
    def list_events(
        self, instance_id: str, after_seq: int = 0, limit: int = 1000
    ) -> list[tuple[int, dict[str, Any]]]:
        """Progress events with a sequence number above ``after_seq``, oldest first."""

    # -- task results (step history) -------------------------------------------------------
    @abstractmethod
    def commit_task_result(
        self,
        instance_id: str,
        step: int,
        task_id: str,
        node: str,
        attempt: int,
        result: dict[str, Any],
        *,
        started_at: float,
        finished_at: float,
    ) -> bool:
        """Commit a task's result once; False (and the first result kept) when it exists."""

    @abstractmethod
    def get_task_result(
        self, instance_id: str, task_id: str, attempt: int
    ) -> dict[str, Any] | None:
        """The committed result of a task attempt, or None."""

    @abstractmethod
    def history(
        self, instance_id: str, limit: int | None = None, after: int | None = None
    ) -> list[StepRow]:
        """Executed tasks oldest first (by step, then commit order); ``after`` is a step."""

    # -- event inbox -----------------------------------------------------------------------
    @abstractmethod
    def enqueue_event(
        self, instance_id: str, name: str, payload: Any, *, event_id: str | None, created_at: float
    ) -> str:
        """Store an event for delivery; a repeated ``event_id`` is ignored. Returns the id."""

    @abstractmethod
    def pending_events(self, instance_id: str) -> list[InboxEvent]:
        """Events not yet delivered, in the order they were stored."""

    def commit_transition(self, instance_id: str, transition: Transition) -> int:
        """Write a transition: results, snapshot (+events), timers, deliveries; returns the last
        event sequence. Stores that can do it atomically override this (SQLite does)."""
        for r in transition.results:
            self.commit_task_result(instance_id, r.step, r.task_id, r.node, r.attempt, r.result,
                                    started_at=r.started_at, finished_at=r.finished_at)
        last = self.save_snapshot(instance_id, transition.snapshot, status=transition.status,
                                  updated_at=transition.updated_at, output=transition.output,
                                  error=transition.error, events=transition.events)
        if transition.timers is not None:
            self.upsert_timers(instance_id, transition.timers)
        if transition.delivered:
            self.mark_events_delivered(instance_id, transition.delivered)
        return last

    @abstractmethod
    def mark_events_delivered(
        self, instance_id: str, event_ids: Iterable[str], *, delivered_at: float | None = None
    ) -> None:
        """Mark events delivered (kept until purge); the time defaults to the run's update."""

    # -- timers ----------------------------------------------------------------------------
    @abstractmethod
    def upsert_timers(self, instance_id: str, timers: Sequence[dict[str, Any]]) -> None:
        """Replace the run's timers with ``timers`` (each with ``id``, ``fire_at``, ``kind``)."""

    @abstractmethod
    def due_timers(self, now: float, limit: int = 100) -> list[DueTimer]:
        """Timers of unfinished runs firing at or before ``now``, earliest first."""

    @abstractmethod
    def next_timer_at(self) -> float | None:
        """When the earliest timer of an unfinished run fires, or None."""

    # -- queries ---------------------------------------------------------------------------
    @abstractmethod
    def list_runs(
        self,
        *,
        graph_name: str | None = None,
        status: str | Sequence[str] | None = None,
        created_after: float | None = None,
        created_before: float | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> tuple[list[RunRecord], str | None]:
        """Runs newest first and the cursor of the next page (None on the last page).

        ``created_after`` is inclusive and ``created_before`` exclusive.
        """

    @abstractmethod
    def unfinished_runs(self) -> list[str]:
        """Ids of runs that are running or waiting, oldest first."""

    # -- retention -------------------------------------------------------------------------
    @abstractmethod
    def purge(self, instance_id: str) -> None:
        """Delete a finished run and all its rows (RunConflictError while it is unfinished)."""

    @abstractmethod
    def prune_history(
        self, *, older_than: float | None = None, keep_last: int | None = None
    ) -> int:
        """Delete task results and progress events of finished runs; returns rows deleted.

        ``older_than`` (epoch seconds) selects rows recorded before it; ``keep_last`` keeps
        the newest N steps of each run. Given both, a row goes only when it is old *and*
        outside the newest N steps. Given neither, ``older_than`` is the current time.
        """

    # -- lifecycle -------------------------------------------------------------------------
    def checkpoint(self) -> None:
        """Fold the write-ahead log into the database (SQLite); a no-op elsewhere."""
        return None

    @abstractmethod
    def close(self) -> None:
        """Release the store; closing twice is harmless."""

    def __enter__(self: _Store) -> _Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# -- helpers shared by the implementations (not part of the public API) ----------------------


def dump_json(value: Any, what: str) -> str:
    """Compact JSON text of ``value`` (StoreError naming ``what`` when it is not JSON)."""
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"{what} is not JSON-serializable: {exc}") from None


def load_json(text: str | None) -> Any:
    """The value of stored JSON text (None stays None)."""
    return None if text is None else json.loads(text)


def encode_cursor(created_at: float, instance_id: str) -> str:
    """An opaque paging cursor pointing after the run ``(created_at, instance_id)``."""
    raw = json.dumps([created_at, instance_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    """The position a cursor from :func:`encode_cursor` points after."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, instance_id = json.loads(raw)
        if isinstance(created_at, bool) or not isinstance(created_at, (int, float)):
            raise ValueError("bad created_at")
        if not isinstance(instance_id, str):
            raise ValueError("bad instance_id")
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise InvalidInputError(
            f"invalid run list cursor '{cursor[:40]}'", code="INVALID_CURSOR"
        ) from None
    return float(created_at), instance_id


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


def step_of(snapshot: dict[str, Any]) -> int:
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
    """The :class:`RunRecord` of a row made by :func:`run_columns` (any ``row[name]`` mapping)."""
    return RunRecord(
        instance_id=str(row["instance_id"]), graph_name=str(row["graph_name"]),
        graph_version=str(row["graph_version"]), graph_hash=str(row["graph_hash"]),
        status=str(row["status"]), snapshot=load_json(row["snapshot"]),
        input=load_json(row["input"]), metadata=load_json(row["metadata"]),
        created_at=float(row["created_at"]), updated_at=float(row["updated_at"]),
        error=load_json(row["error"]), output=load_json(row["output"]),
        parent_id=row["parent_id"],
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


__all__ = [
    "ensure_unfinished",
    "ResultRow",
    "Transition",
    "FINISHED_STATUSES",
    "UNFINISHED_STATUSES",
    "DueTimer",
    "InboxEvent",
    "RunRecord",
    "RunStore",
    "StepRow",
]

"""The run store interface of the embedded engine and its records (helpers: ``rows.py``).

A run store keeps, per run: the row (status, snapshot, input, output, ...), the progress events
(numbered per run, for resumable streams), the committed task results (which double as the step
history), the event inbox and the durable timers; plus graph manifests by hash. Every method is
synchronous and is one short transaction. Times are epoch seconds given by the caller.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from types import TracebackType
from typing import Any, TypeVar

from ...core.replay import DeferredResult
from ...core.snapshot import FINISHED, RUNNING, WAITING
from ...graph.errors import RunConflictError
from .lease_port import Lease, RunLeases

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


# The two records below are built at every step of every run: plain slotted classes, which
# build in about half the time of frozen ones. A store reads them and never changes them.
@dataclass(slots=True)
class ResultRow:
    """A task result to commit."""

    step: int
    task_id: str
    node: str
    attempt: int
    result: dict[str, Any]
    started_at: float
    finished_at: float


@dataclass(slots=True)
class Transition:
    """Everything one interpreter transition writes: committed together by ``commit_transition``."""

    snapshot: Mapping[str, Any]
    status: str
    updated_at: float
    output: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    events: Sequence[dict[str, Any]] = ()
    results: Sequence[ResultRow] = ()
    timers: Sequence[Mapping[str, Any]] | None = None  # None: unchanged
    delivered: Sequence[str] = ()
    owner: str | None = None  # set: written only while this owner holds the run's lease
    #: Set (write-behind): the snapshot is left out; the results are logged as applied at this
    #: ``now`` and replayed onto the last written snapshot by every read. None: the snapshot is
    #: written and the run's deferred results are dropped (they are in it).
    deferred_at: float | None = None


class RunStore(RunLeases, ABC):
    """Durable storage of runs for the embedded engine (leases: :mod:`.lease_port`).

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
    def create_run(
        self, run: RunRecord, events: Sequence[dict[str, Any]] = (), *, lease: Lease | None = None
    ) -> RunRecord:
        """Insert a new run and its first progress ``events`` (numbered from 1) in one write,
        leased to ``lease.owner`` when a lease is given.

        RunConflictError when the instance id already exists.
        """

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
        snapshot: Mapping[str, Any],
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

    # -- write-behind (see Transition.deferred_at) -------------------------------------------
    def save_progress(self, instance_id: str, transition: Transition) -> int:
        """A deferred transition's row progress (status, update time) and events, and its
        results logged as deferred; the snapshot is left as it is. Returns the last sequence."""
        raise NotImplementedError(f"{type(self).__name__} does not defer snapshots")

    def deferred_results(self, instance_id: str) -> list[DeferredResult]:
        """The results committed after the run's written snapshot, in commit order (empty for
        an unknown run); reads of the run replay them (``core.replay_deferred``)."""
        return []

    def flush_deferred(self, instance_id: str) -> bool:
        """Write the run's replayed snapshot and drop its deferred results, in one write;
        False when it had none (or is unknown). Status, times and events are left alone."""
        return False

    @abstractmethod
    def list_events(
        self, instance_id: str, after_seq: int = 0, limit: int = 1000
    ) -> list[tuple[int, dict[str, Any]]]:
        """Progress events with a sequence number above ``after_seq``, oldest first."""

    @abstractmethod
    def append_emits(
        self, instance_id: str, emits: Sequence[tuple[int, str]], *, at: float, keep: int
    ) -> int | None:
        """Append emits (``(step, event JSON text)``) after the run's last event; returns the
        run's last event sequence, or None when the run is unknown or finished (dropped).

        Emits share the sequence of the run's progress events, so ``list_events`` interleaves
        them in order. At most ``keep`` emits are kept per run: the oldest go, and one
        ``{"type": "emits_dropped", "dropped": N}`` event stands where they were.
        """

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

    @abstractmethod
    def find_event(self, instance_id: str, event_id: str) -> InboxEvent | None:
        """The run's stored event with this id, delivered or not (None when there is none)."""

    def commit_transition(self, instance_id: str, transition: Transition) -> int:
        """Write a transition: results, snapshot (+events; a deferred one's progress, see
        ``Transition.deferred_at``), timers, deliveries; returns the last event sequence. Stores
        that can do it atomically override this (SQLite does).

        With ``transition.owner`` set, LeaseLostError (``LEASE_LOST``) unless that owner holds
        the run's lease; a transition to a finished status ends the lease."""
        for r in transition.results:
            self.commit_task_result(instance_id, r.step, r.task_id, r.node, r.attempt, r.result,
                                    started_at=r.started_at, finished_at=r.finished_at)
        if transition.deferred_at is not None:
            last = self.save_progress(instance_id, transition)
        else:
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
    def upsert_timers(self, instance_id: str, timers: Sequence[Mapping[str, Any]]) -> None:
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


__all__ = [
    "DeferredResult",
    "Lease",
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

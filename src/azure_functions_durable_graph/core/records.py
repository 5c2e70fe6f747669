"""The typed shape of what ``core/`` and its drivers exchange: plain JSON, described for mypy.

Every record here is a ``TypedDict``, so it costs nothing at run time: a snapshot loaded from a
store or rebuilt from a Durable history is the same ``dict`` it always was, and recorded
histories replay unchanged. Statuses and kinds are ``Literal`` types, so a misspelt status is a
type error rather than a run that never finishes.

Optional keys live in a ``total=False`` subclass of the required part (``NotRequired`` is not
in the standard library of Python 3.10, and ``core/`` imports nothing else).
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

RunStatus = Literal["running", "waiting", "completed", "failed", "cancelled"]
TaskStatus = Literal["ready", "retry_wait", "done"]
TaskKind = Literal["node", "subgraph", "event", "reduce"]
TimerKind = Literal["retry", "wait_timeout"]

JsonObject = dict[str, Any]
"""A JSON object whose keys the interpreter does not inspect (state, metadata, payloads)."""


ErrorRecord = dict[str, Any]
"""Why a task or a run failed: ``code``, ``type`` and ``message``, plus whatever the error
carries (node, attempt, step, field, details): open-ended, as user exceptions are."""


class InboxEvent(TypedDict):
    """An external event buffered until a wait of its name takes it."""

    id: str
    name: str
    payload: Any


class Activation(TypedDict, total=False):
    """A node to run in the next superstep, with what it was activated with.

    ``source`` is the node whose edge or route produced it; it is set only for activations of
    a node with ``join_on``, which count as arrivals of their source.
    """

    node: str
    payload: JsonObject
    error: ErrorRecord
    event: InboxEvent
    wait: str
    source: str


class TaskOutcome(TypedDict):
    """A task's recorded result, kept until the superstep boundary applies it."""

    update: JsonObject
    route: dict[str, Any] | None


class _TaskRequired(TypedDict):
    id: str
    node: str
    kind: TaskKind
    step: int
    attempt: int
    status: TaskStatus


class TaskRecord(_TaskRequired, total=False):
    """One task of the current superstep (``id`` is ``"{step}:{index}:{node}"``)."""

    payload: JsonObject
    error: ErrorRecord
    event: InboxEvent
    resume: str
    base: JsonObject
    updates: dict[str, list[Any]]
    result: TaskOutcome
    error_route: str


class _WaitRequired(TypedDict):
    id: str
    event: str
    node: str
    resume_node: str
    on_timeout: str | None
    deadline: float | None
    note: str | None


class WaitRecord(_WaitRequired, total=False):
    """An open wait for an external event."""

    announced: bool


class _TimerRequired(TypedDict):
    id: str
    fire_at: float
    kind: TimerKind


class TimerRecord(_TimerRequired, total=False):
    """A durable timer the driver must keep armed: a retry backoff or a wait's deadline."""

    task: str
    wait: str


class CancelRequest(TypedDict):
    """A graceful cancel requested, applied at the superstep boundary."""

    reason: str | None


class _SnapshotRequired(TypedDict):
    format: int
    run_id: str
    graph_name: str
    graph_hash: str
    status: RunStatus
    state: JsonObject
    step: int
    tasks: list[TaskRecord]
    frontier: list[Activation] | None
    ready: list[Activation]
    pending_joins: list[str]
    waits: list[WaitRecord]
    inbox: list[InboxEvent]
    consumed_events: list[str]
    timers: list[TimerRecord]
    next_event_id: int
    next_wait_id: int
    cancel: CancelRequest | None
    error: ErrorRecord | None
    final_nodes: list[str]
    last_nodes: list[str]
    steps_since_compaction: int
    metadata: JsonObject


class Snapshot(_SnapshotRequired, total=False):
    """Everything the interpreter knows about one run (format 1).

    ``join_arrivals`` (joined node -> the ``join_on`` predecessors that finished since it last
    ran, in arrival order) is present only while some arrivals are pending, so snapshots of
    graphs without ``join_on``, and those written before it existed, keep their shape.
    """

    join_arrivals: dict[str, list[str]]


class _TaskCommandRequired(TypedDict):
    run_id: str
    graph: str
    graph_hash: str
    task_id: str
    node: str
    kind: TaskKind
    step: int
    attempt: int
    state: JsonObject
    metadata: JsonObject
    idempotency_key: str


class TaskCommand(_TaskCommandRequired, total=False):
    """Everything an executor needs to run one task (``decide`` gives one per ready task)."""

    payload: JsonObject
    error: ErrorRecord
    event: InboxEvent
    resume: str
    base: JsonObject
    updates: dict[str, list[Any]]
    child_graph: str
    child_run_id: str
    child_input: JsonObject
    timeout: float


class TaskResult(TypedDict, total=False):
    """What an executor reports for a task: ``ok`` with ``update``/``route``, or an ``error``."""

    ok: bool
    update: JsonObject
    route: dict[str, Any] | None
    error: ErrorRecord


RunEvent = dict[str, Any]
"""A progress record (``{"type": "step_started", ...}``); its keys depend on its type."""


__all__ = [
    "Activation",
    "CancelRequest",
    "ErrorRecord",
    "InboxEvent",
    "JsonObject",
    "RunEvent",
    "RunStatus",
    "Snapshot",
    "TaskCommand",
    "TaskKind",
    "TaskOutcome",
    "TaskRecord",
    "TaskResult",
    "TaskStatus",
    "TimerKind",
    "TimerRecord",
    "WaitRecord",
]

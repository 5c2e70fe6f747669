"""Typed answers of the HTTP API, as the client returns them.

Each model matches one shape of the OpenAPI document (``GET /api/openapi.json``). Fields the
server adds later are kept (``extra="allow"``), so an older client still reads a newer server.
Instants are parsed into timezone-aware :class:`~datetime.datetime` values.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

FINISHED_STATUSES = ("completed", "failed", "cancelled")


class _Answer(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class Wait(_Answer):
    """One event a waiting run is parked on."""

    event: str
    node: str
    resume_node: str | None = None
    on_timeout: str | None = None
    deadline: datetime | None = None
    payload_schema: Any = None


class Run(_Answer):
    """A run resource: ``GET /api/runs/{id}``, a start's or a cancel's answer."""

    instance_id: str
    graph_name: str
    graph_version: str | None = None
    graph_hash: str | None = None
    status: str
    runtime_status: str
    custom_status: Any = None
    current_nodes: list[str] = Field(default_factory=list)
    waiting_for: list[Wait] = Field(default_factory=list)
    step: int = 0
    input: Any = None
    output: Any = None
    error: Any = None
    metadata: Any = None
    cancel: Any = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    urls: dict[str, str] = Field(default_factory=dict)

    @property
    def finished(self) -> bool:
        """Whether the run completed, failed or was cancelled."""
        return self.status in FINISHED_STATUSES

    @property
    def state(self) -> dict[str, Any] | None:
        """The final state of a completed run (``output["state"]``), else None."""
        if isinstance(self.output, dict) and isinstance(self.output.get("state"), dict):
            return dict(self.output["state"])
        return None


class RunPage(_Answer):
    """One page of ``GET /api/runs``."""

    runs: list[Run]
    next_cursor: str | None = None


class HistoryStep(_Answer):
    """One executed step of a run's history."""

    step: int
    task_id: str | None = None
    node: str
    attempt: int = 1
    ok: bool
    update: Any = None
    route: Any = None
    error: Any = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


class History(_Answer):
    """``GET /api/runs/{id}/history``."""

    instance_id: str
    steps: list[HistoryStep]


class EventAccepted(_Answer):
    """The answer to ``POST /api/runs/{id}/events/{event}``."""

    instance_id: str
    event_name: str
    accepted: bool
    event_id: str | None = None


class Purged(_Answer):
    """The answer to ``DELETE /api/runs/{id}``."""

    instance_id: str
    purged: bool


class GraphInfo(_Answer):
    """One registered graph, as ``GET /api/graphs`` lists it."""

    name: str
    version: str | None = None
    versions: list[str] = Field(default_factory=list)
    graph_hash: str | None = None
    entrypoint: str | None = None
    nodes: list[str] = Field(default_factory=list)
    events: list[str] = Field(default_factory=list)
    url: str | None = None


class StreamEvent(_Answer):
    """One event of a run's progress stream (``GET /api/runs/{id}/stream``).

    ``type`` is the SSE event name (``step_started``, ``task_completed``, ``waiting``, ``emit``,
    ``end``, ...), ``seq`` its id (None on the final ``end`` event), ``data`` the decoded JSON.
    """

    type: str
    seq: int | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    @property
    def is_end(self) -> bool:
        """Whether this is the stream's last event (the run finished)."""
        return self.type == "end"


__all__ = [
    "FINISHED_STATUSES", "EventAccepted", "GraphInfo", "History", "HistoryStep", "Purged", "Run",
    "RunPage", "StreamEvent", "Wait",
]

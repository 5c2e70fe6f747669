"""The ``RunBackend`` port: what the HTTP layer and the CLI need from an engine.

The embedded engine implements it over SQLite; the Azure backend implements it over the
Durable client. Statuses use graph-level words next to Durable's raw ``runtime_status``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol, get_args

from ..core import CANCELLED, COMPLETED, FAILED, FINISHED, RUNNING, WAITING
from ..core.records import RunStatus as SnapshotStatus
from .timestamps import api_times, iso_timestamp

# Every status a run shows through the API, in lifecycle order: ``pending`` (started, no
# snapshot published yet) and then the snapshot's statuses (core/records.py).
PENDING: Final = "pending"
RUN_STATUSES: tuple[str, ...] = (PENDING, *get_args(SnapshotStatus))

# Graph-level status -> the Durable Functions runtime status its instance has. A cancelled
# run depends on how it ended (see runtime_status_of); docs/http.md holds the table.
RUNTIME_STATUS = {
    PENDING: "Pending",
    RUNNING: "Running",
    WAITING: "Running",
    COMPLETED: "Completed",
    FAILED: "Failed",
    CANCELLED: "Completed",
}


def runtime_status_of(status: str, cancel: Mapping[str, Any] | None) -> str:
    """The Durable runtime status of a run in graph status ``status``.

    A graceful cancel ends the orchestration normally (it returns its cancelled output), so
    its instance is ``Completed``; a forced cancel terminates it (``Terminated``).
    """
    if status == CANCELLED and cancel is not None and cancel.get("terminated"):
        return "Terminated"
    return RUNTIME_STATUS.get(status, "Unknown")


@dataclass(frozen=True)
class RunStatus:
    """A run as the API shows it."""

    instance_id: str
    graph_name: str
    graph_version: str
    graph_hash: str
    status: str
    step: int
    current_nodes: list[str]
    waiting_for: list[dict[str, Any]]
    input: dict[str, Any]
    output: dict[str, Any] | None
    error: dict[str, Any] | None
    created_at: float
    updated_at: float
    metadata: dict[str, Any] = field(default_factory=dict)
    parent_id: str | None = None
    cancel: dict[str, Any] | None = None  # {"reason", "terminated"?} once a cancel was asked
    # The instance's own runtimeStatus when the engine has one (Durable); else derived.
    durable_status: str | None = None

    @property
    def runtime_status(self) -> str:
        """Durable Functions' word for the instance's status (see :func:`runtime_status_of`)."""
        return self.durable_status or runtime_status_of(self.status, self.cancel)

    @property
    def finished(self) -> bool:
        """Whether the run reached a final status."""
        return self.status in FINISHED

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the API's run resource fields); instants as ISO 8601 UTC strings."""
        return {
            "instance_id": self.instance_id,
            "graph_name": self.graph_name,
            "graph_version": self.graph_version,
            "graph_hash": self.graph_hash,
            "status": self.status,
            "runtime_status": self.runtime_status,
            "custom_status": {"step": self.step, "current_nodes": self.current_nodes},
            "current_nodes": self.current_nodes,
            "waiting_for": [api_times(w) for w in self.waiting_for],
            "step": self.step,
            "input": self.input,
            "output": self.output,
            "error": self.error,
            "metadata": self.metadata,
            "cancel": self.cancel,
            "created_at": iso_timestamp(self.created_at),
            "updated_at": iso_timestamp(self.updated_at),
        }


def status_from_snapshot(snapshot: Mapping[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """Current nodes and public wait descriptions of a snapshot."""
    current = [t["node"] for t in snapshot.get("tasks", []) if t.get("status") != "done"]
    waits = [
        {"event": w["event"], "node": w["node"], "resume_node": w["resume_node"],
         "on_timeout": w.get("on_timeout"), "deadline": w.get("deadline")}
        for w in snapshot.get("waits", [])
    ]
    return current, waits


class RunBackend(Protocol):
    """Run lifecycle operations shared by every engine."""

    async def start(
        self, graph: str, input: Any, *, instance_id: str | None = None,
        metadata: dict[str, Any] | None = None, version: str | None = None,
    ) -> RunStatus:
        """Validate the input and start a run (idempotent for the same id and input)."""

    async def get_status(self, instance_id: str) -> RunStatus:
        """The run's status (RunNotFoundError when unknown)."""

    async def wait(self, instance_id: str, timeout: float | None = None) -> RunStatus:
        """Wait until the run finishes or parks on a wait, or ``timeout`` seconds pass."""

    async def raise_event(self, instance_id: str, event_name: str, payload: Any, *, event_id: str | None = None) -> str:
        """Deliver an event; returns its id. Validated against the event's payload model."""

    async def cancel(self, instance_id: str, reason: str | None = None) -> RunStatus:
        """Graceful cancel."""

    async def terminate(self, instance_id: str, reason: str | None = None) -> RunStatus:
        """Hard stop at once."""

    async def list_runs(self, **filters: Any) -> tuple[list[RunStatus], str | None]:
        """Runs, newest first, with a cursor for the next page."""

    async def history(self, instance_id: str) -> list[dict[str, Any]]:
        """The run's executed steps."""

    async def purge(self, instance_id: str) -> None:
        """Delete a finished run and everything stored about it."""


__all__ = ["PENDING", "RUNTIME_STATUS", "RUN_STATUSES", "RunBackend", "RunStatus", "runtime_status_of", "status_from_snapshot"]

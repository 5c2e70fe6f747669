"""One exception family for the whole package, each kind with a stable code.

Every error a user can meet (Python API, CLI, HTTP) derives from :class:`DurableGraphError`.
``code`` is stable across releases and is what the HTTP layer and the CLI print; ``message`` is
one line naming the graph, node, field or run involved; ``details`` holds structured extras.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


class DurableGraphError(Exception):
    """Root of every error raised by azure-functions-durable-graph."""

    code: str = "DURABLE_GRAPH_ERROR"
    http_status: int = 500

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """The error as the package's stable JSON shape (without the outer ``error`` key)."""
        return {"code": self.code, "message": self.message, "details": self.details}

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"


@dataclass(frozen=True)
class ValidationProblem:
    """One problem found while validating a graph at ``build()``."""

    code: str
    message: str
    node: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON form, used by the CLI and the HTTP layer."""
        return {"code": self.code, "message": self.message, "node": self.node, **self.extra}


class GraphValidationError(DurableGraphError):
    """A graph failed validation; ``problems`` lists every problem found, not just the first."""

    code = "GRAPH_INVALID"
    http_status = 400

    def __init__(self, graph_name: str, problems: list[ValidationProblem]) -> None:
        self.graph_name = graph_name
        self.problems = list(problems)
        lines = "; ".join(f"{p.code}: {p.message}" for p in self.problems)
        super().__init__(
            f"graph '{graph_name}' is invalid ({len(self.problems)} problem(s)): {lines}",
            details=[p.to_dict() for p in self.problems],
        )

    @property
    def codes(self) -> list[str]:
        """The codes of every problem, in the order they were found."""
        return [p.code for p in self.problems]


class InvalidUpdateError(DurableGraphError):
    """A node returned an update that cannot be applied to the state."""

    code = "INVALID_UPDATE"
    http_status = 400


class InvalidInputError(DurableGraphError):
    """A run's input (or an event payload) does not validate against its model."""

    code = "INVALID_INPUT"
    http_status = 400


class InvalidRouteError(DurableGraphError):
    """A router returned something that is not a valid routing decision for this graph."""

    code = "INVALID_ROUTE"
    http_status = 400


class GraphNotFoundError(DurableGraphError):
    """No graph (or graph version) is registered under that name."""

    code = "GRAPH_NOT_FOUND"
    http_status = 404


class RunNotFoundError(DurableGraphError):
    """No run exists with that instance id."""

    code = "RUN_NOT_FOUND"
    http_status = 404


class EventNotDeclaredError(DurableGraphError):
    """An event was raised that the run's graph does not declare."""

    code = "EVENT_NOT_DECLARED"
    http_status = 404

    @classmethod
    def for_event(cls, graph_name: str, event_name: str, declared: Iterable[str], *,
                  instance_id: str | None = None) -> EventNotDeclaredError:
        """The one wording every engine and the in-process runner use."""
        names = sorted(str(name) for name in declared)
        run = f" (run '{instance_id}')" if instance_id is not None else ""
        details: dict[str, Any] = {"graph": graph_name, "event": event_name, "declared": names}
        if instance_id is not None:
            details["instance_id"] = instance_id
        return cls(f"graph '{graph_name}' does not declare event '{event_name}'{run}; "
                   f"declared: {', '.join(names) or 'none'}", details=details)


class RunConflictError(DurableGraphError):
    """The request conflicts with the run's current state (finished, different input, ...)."""

    code = "RUN_CONFLICT"
    http_status = 409


class HandlerNotFoundError(DurableGraphError):
    """The current deployment has no handler for a node that an in-flight run needs."""

    code = "HANDLER_NOT_FOUND"
    http_status = 500


class SnapshotError(DurableGraphError):
    """A snapshot is malformed or of an unsupported format version."""

    code = "SNAPSHOT_INVALID"


class TargetLoadError(DurableGraphError):
    """The CLI could not load the user's module or found no graph in it."""

    code = "TARGET_LOAD_FAILED"
    http_status = 400


class InvalidEmitError(DurableGraphError):
    """``ctx.emit`` was given data that is not JSON, or a kind that is not a short name."""

    code = "INVALID_EMIT"
    http_status = 400


class EmitTooLargeError(InvalidEmitError):
    """One emitted chunk is larger than the limit (64 KiB of JSON)."""

    code = "EMIT_TOO_LARGE"


class StoreError(DurableGraphError):
    """The run store cannot be opened or used (unreadable file, newer schema, ...)."""

    code = "STORE_ERROR"


class LeaseLostError(StoreError):
    """A step write by an engine that no longer holds the run's lease (another engine took
    the run over after the lease expired)."""

    code = "LEASE_LOST"
    http_status = 409


__all__ = [
    "DurableGraphError",
    "EmitTooLargeError",
    "EventNotDeclaredError",
    "GraphNotFoundError",
    "GraphValidationError",
    "HandlerNotFoundError",
    "InvalidEmitError",
    "InvalidInputError",
    "InvalidRouteError",
    "InvalidUpdateError",
    "LeaseLostError",
    "RunConflictError",
    "RunNotFoundError",
    "SnapshotError",
    "StoreError",
    "TargetLoadError",
    "ValidationProblem",
]

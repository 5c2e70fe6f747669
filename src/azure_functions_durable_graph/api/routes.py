"""The route table: the one description of the HTTP contract, used by the app and OpenAPI."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RouteSpec:
    """One operation: method, path under the prefix, handler name and documentation."""

    method: str
    path: str
    handler: str
    summary: str
    tag: str
    success: int = 200
    request_body: str | None = None  # component schema name of the JSON body
    response: str | None = None  # component schema name of the success body
    errors: tuple[int, ...] = ()
    query: tuple[tuple[str, str, str], ...] = field(default_factory=tuple)  # (name, type, description)
    public: bool = False  # reachable without the API key


ROUTES: tuple[RouteSpec, ...] = (
    RouteSpec("GET", "/health", "health", "Liveness and registered graphs", "service",
              response="Health", public=True),
    RouteSpec("GET", "/openapi.json", "openapi", "This OpenAPI document", "service"),
    RouteSpec("GET", "/docs", "docs", "API documentation page (works offline)", "service", public=True),
    RouteSpec("GET", "/graphs", "list_graphs", "List registered graphs", "graphs", response="GraphList"),
    RouteSpec("GET", "/graphs/{graph}", "get_graph", "A graph: manifest, Mermaid, JSON Schemas, versions",
              "graphs", response="GraphDetail", errors=(404,),
              query=(("version", "string", "a registered version (default: latest)"),)),
    RouteSpec("POST", "/graphs/{graph}/runs", "start_run", "Start a run of a graph", "runs",
              success=202, request_body="StartRun", response="Run", errors=(400, 404, 409, 413, 415),
              query=(("wait", "number", "seconds to wait for the run to finish (200 when it does)"),
                     ("version", "string", "the graph version to run (default: latest)"))),
    RouteSpec("GET", "/runs", "list_runs", "List runs, newest first", "runs", response="RunList",
              errors=(400,),
              query=(("graph", "string", "only runs of this graph"),
                     ("status", "string", "pending, running, waiting, completed, failed or cancelled"),
                     ("created_after", "string", "ISO 8601 date-time (or Unix seconds), inclusive"),
                     ("created_before", "string", "ISO 8601 date-time (or Unix seconds), exclusive"),
                     ("limit", "integer", "page size, 1-500 (default 50)"),
                     ("cursor", "string", "next_cursor of the previous page"))),
    RouteSpec("GET", "/runs/{instance_id}", "get_run", "A run's status, output and error", "runs",
              response="Run", errors=(404,)),
    RouteSpec("DELETE", "/runs/{instance_id}", "purge_run", "Purge a finished run", "runs",
              response="Purged", errors=(404, 409)),
    RouteSpec("GET", "/runs/{instance_id}/history", "run_history", "A run's executed steps", "runs",
              response="History", errors=(404,)),
    RouteSpec("GET", "/runs/{instance_id}/stream", "run_stream", "Server-Sent Events of a run's progress",
              "runs", errors=(404,),
              query=(("after", "integer", "resume after this event id (or send Last-Event-ID)"),)),
    RouteSpec("POST", "/runs/{instance_id}/events/{event}", "raise_event", "Send an event to a run",
              "runs", success=202, request_body="EventPayload", response="EventAccepted",
              errors=(400, 404, 409, 413, 415)),
    RouteSpec("POST", "/runs/{instance_id}/cancel", "cancel_run", "Cancel a run (force=true terminates)",
              "runs", success=202, request_body="CancelRun", response="Run", errors=(400, 404, 409, 415),
              query=(("force", "boolean", "terminate at once instead of at the next step"),)),
)

__all__ = ["ROUTES", "RouteSpec"]

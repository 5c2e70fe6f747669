"""One handler per route, written against the ``RunBackend`` port and a ``GraphCatalog``.

Handlers are transport-free: they take an :class:`ApiRequest` and return an
:class:`ApiResponse`. Errors are raised as the package's exceptions and turned into the one
JSON error shape by the adapter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from ..execution.backend import RUN_STATUSES, RunBackend, RunStatus
from ..execution.instance_ids import check_instance_id
from ..execution.timestamps import api_times, parse_timestamp
from ..graph.errors import DurableGraphError, InvalidInputError
from ..graph.registration import GraphRegistration
from .protocol import ApiRequest, ApiResponse, GraphCatalog

STATUSES = RUN_STATUSES  # the one definition (execution/backend.py)
MAX_WAIT_SECONDS = 120.0
START_KEYS = frozenset({"input", "instance_id", "metadata"})


class ApiHandlers:
    """The HTTP contract's operations."""

    def __init__(self, backend: RunBackend, catalog: GraphCatalog, *, prefix: str = "/api") -> None:
        self.backend = backend
        self.catalog = catalog
        self.prefix = prefix.rstrip("/")

    # -- service -----------------------------------------------------------------------------
    async def health(self, request: ApiRequest) -> ApiResponse:
        """``GET /health``: liveness and the registered graphs."""
        return ApiResponse(body={"ok": True, "registered_graphs": list(self.catalog.graph_names)})

    # -- graphs ------------------------------------------------------------------------------
    async def list_graphs(self, request: ApiRequest) -> ApiResponse:
        """``GET /graphs``: every graph with its latest version."""
        graphs = []
        for name in self.catalog.graph_names:
            registration = self.catalog.get(name)
            manifest = registration.manifest
            graphs.append({
                "name": name, "version": manifest.version, "versions": self.catalog.versions(name),
                "graph_hash": manifest.graph_hash, "entrypoint": manifest.entrypoint,
                "nodes": manifest.node_names, "events": [e.name for e in manifest.events],
                "url": f"{self.prefix}/graphs/{name}",
            })
        return ApiResponse(body={"graphs": graphs})

    async def get_graph(self, request: ApiRequest) -> ApiResponse:
        """``GET /graphs/{graph}``: manifest, Mermaid, JSON Schemas, registered versions."""
        registration = self.catalog.get(request.path_params["graph"], request.query.get("version"))
        manifest = registration.manifest
        return ApiResponse(body={
            "name": manifest.graph_name, "version": manifest.version,
            "versions": self.catalog.versions(manifest.graph_name), "graph_hash": manifest.graph_hash,
            "manifest": manifest.model_dump(mode="json"), "edges": manifest.edges,
            "mermaid": manifest.to_mermaid(), "input_schema": manifest.input_schema or manifest.state_schema,
            "state_schema": manifest.state_schema,
            "event_schemas": {e.name: e.payload_schema for e in manifest.events},
        })

    # -- runs --------------------------------------------------------------------------------
    async def start_run(self, request: ApiRequest) -> ApiResponse:
        """``POST /graphs/{graph}/runs``: validate the input and start a run."""
        graph = request.path_params["graph"]
        version = request.query.get("version")
        self.catalog.get(graph, version)  # 404 before reading the body
        body = request.json(empty={})
        if not isinstance(body, dict):
            raise InvalidInputError(f"graph '{graph}': the request body must be a JSON object")
        # {input, instance_id?, metadata?}; a bare object of state fields is accepted as input.
        wrapped = "input" in body or (bool(body) and set(body) <= START_KEYS)
        payload = body.get("input", {}) if wrapped else body
        instance_id = body.get("instance_id") if wrapped else None
        metadata = body.get("metadata") if wrapped else None
        if wrapped and set(body) - START_KEYS:
            raise InvalidInputError(
                f"graph '{graph}': unknown request field(s) {sorted(set(body) - START_KEYS)}; "
                "send {input, instance_id, metadata}"
            )
        instance_id = check_instance_id(instance_id, graph=graph)  # every engine's one rule
        if metadata is not None and not isinstance(metadata, dict):
            raise InvalidInputError(f"graph '{graph}': metadata must be a JSON object")
        wait = _float_query(request.query, "wait", 0.0, MAX_WAIT_SECONDS)
        status = await self.backend.start(graph, payload, instance_id=instance_id, metadata=metadata,
                                          version=version)
        if wait > 0:
            status = await self.backend.wait(status.instance_id, timeout=wait)
            if status.finished:
                return ApiResponse(status=200, body=self.run_resource(status))
        url = self._run_url(status.instance_id)
        return ApiResponse(status=202, body=self.run_resource(status), headers={"Location": url})

    async def get_run(self, request: ApiRequest) -> ApiResponse:
        """``GET /runs/{instance_id}``."""
        status = await self.backend.get_status(request.path_params["instance_id"])
        return ApiResponse(body=self.run_resource(status))

    async def list_runs(self, request: ApiRequest) -> ApiResponse:
        """``GET /runs``: filters graph, status, created_after, created_before; cursor paging."""
        query = request.query
        status = query.get("status")
        if status is not None and status not in STATUSES:
            raise InvalidInputError(f"status must be one of {', '.join(STATUSES)}, got '{status}'")
        runs, cursor = await self.backend.list_runs(
            graph_name=query.get("graph") or None, status=status,
            created_after=_optional_time(query, "created_after"),
            created_before=_optional_time(query, "created_before"),
            limit=int(_float_query(query, "limit", 50, 500, minimum=1)), cursor=query.get("cursor") or None,
        )
        return ApiResponse(body={"runs": [self.run_resource(r) for r in runs], "next_cursor": cursor})

    async def run_history(self, request: ApiRequest) -> ApiResponse:
        """``GET /runs/{instance_id}/history``: executed steps, oldest first."""
        instance_id = request.path_params["instance_id"]
        steps = await self.backend.history(instance_id)
        return ApiResponse(body={"instance_id": instance_id, "steps": [_public_step(s) for s in steps]})

    async def raise_event(self, request: ApiRequest) -> ApiResponse:
        """``POST /runs/{instance_id}/events/{event}``: deliver an event (buffered until a wait)."""
        instance_id, event = request.path_params["instance_id"], request.path_params["event"]
        payload = request.json(empty={})
        event_id = await self.backend.raise_event(instance_id, event, payload,
                                                  event_id=request.headers.get("x-event-id"))
        return ApiResponse(status=202, body={"instance_id": instance_id, "event_name": event,
                                             "accepted": True, "event_id": event_id})

    async def cancel_run(self, request: ApiRequest) -> ApiResponse:
        """``POST /runs/{instance_id}/cancel``: graceful, or ``?force=true`` to terminate."""
        instance_id = request.path_params["instance_id"]
        body = request.json(empty={})
        if not isinstance(body, dict):
            raise InvalidInputError("the cancel body must be a JSON object like {\"reason\": \"...\"}")
        reason = body.get("reason")
        if reason is not None and not isinstance(reason, str):
            raise InvalidInputError("reason must be a string")
        force = request.query.get("force", "false").lower() in ("1", "true", "yes")
        if force:
            status = await self.backend.terminate(instance_id, reason)
        else:
            status = await self.backend.cancel(instance_id, reason)
        return ApiResponse(status=202, body=self.run_resource(status))

    async def purge_run(self, request: ApiRequest) -> ApiResponse:
        """``DELETE /runs/{instance_id}``: delete a finished run (409 while it runs)."""
        instance_id = request.path_params["instance_id"]
        await self.backend.purge(instance_id)
        return ApiResponse(status=200, body={"instance_id": instance_id, "purged": True})

    # -- shapes ------------------------------------------------------------------------------
    def run_resource(self, status: RunStatus) -> dict[str, Any]:
        """The run resource: status fields, waits with payload schemas, and URLs."""
        body = status.to_dict()
        body["waiting_for"] = [self._wait(status, w) for w in body["waiting_for"]]
        base = self._run_url(status.instance_id)
        body["urls"] = {"self": base, "history": f"{base}/history", "stream": f"{base}/stream",
                        "events": f"{base}/events/{{event}}", "cancel": f"{base}/cancel"}
        return body

    def _wait(self, status: RunStatus, wait: Mapping[str, Any]) -> dict[str, Any]:
        schema = None
        try:
            registration: GraphRegistration = self.catalog.get(status.graph_name, status.graph_version)
            spec = registration.manifest.event(str(wait["event"]))
            schema = spec.payload_schema if spec is not None else None
        except DurableGraphError:
            schema = None
        return {**wait, "payload_schema": schema}

    def _run_url(self, instance_id: str) -> str:
        return f"{self.prefix}/runs/{quote(instance_id, safe='')}"


def _public_step(step: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("step", "task_id", "node", "attempt", "ok", "update", "route", "error", "started_at", "finished_at")
    return api_times({k: step.get(k) for k in keys})


def _optional_time(query: Mapping[str, str], name: str) -> float | None:
    """An instant given as ISO 8601 (as the API writes them) or as Unix seconds."""
    text = query.get(name)
    if text is None or text == "":
        return None
    try:
        return parse_timestamp(text)
    except ValueError as exc:
        raise InvalidInputError(f"query parameter '{name}' must be an ISO 8601 date-time or Unix seconds: {exc}",
                                details={"parameter": name}) from None


def _float_query(query: Mapping[str, str], name: str, default: float, maximum: float,
                 minimum: float = 0.0) -> float:
    text = query.get(name)
    if text is None or text == "":
        return default
    try:
        value = float(text)
    except ValueError:
        raise InvalidInputError(f"query parameter '{name}' must be a number, got '{text}'") from None
    if value != value or value < minimum:  # NaN or below range
        raise InvalidInputError(f"query parameter '{name}' must be >= {minimum}, got '{text}'")
    return min(value, maximum)


__all__ = ["ApiHandlers", "STATUSES"]

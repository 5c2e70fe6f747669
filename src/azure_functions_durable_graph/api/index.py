"""The API's index: ``GET {prefix}/`` on the local server, so the URL ``serve`` prints answers.

A JSON document with links to the inspector, the docs page, the OpenAPI document, health,
graphs and runs, every registered graph with its start URL, and the route table. It holds
only what ``/health`` and the OpenAPI document already show, so it needs no API key. The
Azure Functions app has no index (a Functions HTTP trigger cannot have an empty route).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .._version import __version__
from .protocol import GraphCatalog
from .routes import ROUTES


def api_index(catalog: GraphCatalog, *, prefix: str = "/api", inspector: str | None = "/") -> dict[str, Any]:
    """The index document (paths relative to the server's root, as in every other resource)."""
    base = prefix.rstrip("/")
    links: dict[str, str] = {
        "self": f"{base}/",
        "docs": f"{base}/docs",
        "openapi": f"{base}/openapi.json",
        "health": f"{base}/health",
        "graphs": f"{base}/graphs",
        "runs": f"{base}/runs",
    }
    if inspector is not None:
        links["inspector"] = inspector
    return {
        "name": "azure-functions-durable-graph",
        "version": __version__,
        "links": links,
        "graphs": [
            {"name": name, "url": f"{base}/graphs/{name}", "start": f"{base}/graphs/{name}/runs"}
            for name in catalog.graph_names
        ],
        "routes": [
            {"method": spec.method, "path": base + spec.path, "summary": spec.summary}
            for spec in ROUTES
        ],
    }


def index_routes(catalog: GraphCatalog, *, prefix: str = "/api", inspector: str | None = "/") -> list[Route]:
    """``GET {prefix}/`` and ``GET {prefix}`` serving :func:`api_index` (none for an empty prefix,
    whose ``/`` is the inspector's)."""
    base = prefix.rstrip("/")
    if not base:
        return []

    async def index(request: Request) -> Response:
        return JSONResponse(api_index(catalog, prefix=base, inspector=inspector))

    return [Route(path, index, methods=["GET", "HEAD"]) for path in (f"{base}/", base)]


__all__ = ["api_index", "index_routes"]

"""Transport-free dispatch: the route table's operations, and calling one safely.

Both adapters (the Starlette app of the local server and the Azure HTTP triggers) use these, so
the two serve the same operations with the same error handling.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ..graph.errors import DurableGraphError
from .handlers import ApiHandlers
from .openapi import build_openapi, docs_page
from .protocol import ApiRequest, ApiResponse, GraphCatalog, error_response
from .routes import ROUTES
from .stream import run_stream

logger = logging.getLogger(__name__)
Operation = Callable[[ApiRequest], Awaitable[ApiResponse]]
DEFAULT_MAX_BODY = 1024 * 1024


class BodyTooLarge(DurableGraphError):
    """The request body is larger than the server accepts (both adapters check it)."""

    code = "BODY_TOO_LARGE"
    http_status = 413


def api_operations(backend: Any, catalog: GraphCatalog, *, prefix: str = "/api",
                   secured: bool = False) -> dict[str, Operation]:
    """Every route's operation by handler name, bound to ``backend`` and ``catalog``."""
    handlers = ApiHandlers(backend, catalog, prefix=prefix)
    prefix = prefix.rstrip("/")

    async def openapi(request: ApiRequest) -> ApiResponse:
        return ApiResponse(body=build_openapi(catalog, prefix=prefix, secured=secured))

    async def docs(request: ApiRequest) -> ApiResponse:
        return ApiResponse(body=docs_page(f"{prefix}/openapi.json"), media_type="text/html")

    async def stream(request: ApiRequest) -> ApiResponse:
        return await run_stream(backend, request)

    extra: dict[str, Operation] = {"openapi": openapi, "docs": docs, "run_stream": stream}
    return {spec.handler: extra.get(spec.handler) or getattr(handlers, spec.handler) for spec in ROUTES}


def internal_error() -> ApiResponse:
    """The response for a bug: the one error shape, never a traceback."""
    return ApiResponse(status=500, body={"error": {
        "code": "INTERNAL_ERROR", "message": "internal error; see the server log", "details": None}})


async def call_operation(operation: Operation, request: ApiRequest, *, where: str) -> ApiResponse:
    """Run one operation; package errors become their JSON shape, anything else a logged 500."""
    try:
        return await operation(request)
    except DurableGraphError as exc:
        return error_response(exc)
    except Exception:  # never a traceback in a response
        logger.exception("internal error serving %s", where)
        return internal_error()


__all__ = ["DEFAULT_MAX_BODY", "BodyTooLarge", "Operation", "api_operations", "call_operation", "internal_error"]

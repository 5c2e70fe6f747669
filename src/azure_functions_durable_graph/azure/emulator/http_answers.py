"""The emulator's own answers to HTTP requests that never reach a function.

No route (404), a route without the method (405) and a body over the limit (413) are answered
in the package's error JSON shape with the codes the local server gives, so a client sees the
same refusal from ``durable-graph serve`` on either engine. (Azure's host answers the first
two with an empty body; the third is what the app itself answers there; bodies are read with the API's own
``api.app.read_body``.)
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from starlette.requests import Request
from starlette.responses import Response

from ...api.protocol import ApiResponse, error_response
from ...graph.errors import DurableGraphError

log = logging.getLogger(__name__)


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    body = ApiResponse(status=status, body={"error": {"code": code, "message": message, "details": None}})
    return Response(body.encoded(), status_code=status, headers=headers, media_type="application/json")


def not_found(path: str) -> Response:
    """404 ``NOT_FOUND``: no HTTP function's route matches ``path``."""
    return _error(404, "NOT_FOUND", f"no route for {path}")


def method_not_allowed(method: str, path: str, allowed: Iterable[str]) -> Response:
    """405 ``METHOD_NOT_ALLOWED``, with the ``Allow`` header RFC 9110 asks of a 405."""
    return _error(405, "METHOD_NOT_ALLOWED", f"method {method} is not allowed on {path}",
                  {"Allow": ", ".join(sorted(set(allowed)))})


def refused(exc: DurableGraphError) -> Response:
    """The error response of ``exc``; the connection is closed after it (the body is unread)."""
    answer = error_response(exc)
    # Closing is what stops the rest of an oversized body from being read at all: on a kept-alive
    # connection the server would have to read (and drop) it to find the next request.
    return Response(answer.encoded(), status_code=answer.status,
                    headers={**answer.headers, "Connection": "close"}, media_type=answer.media_type)


def body_ended_early(request: Request) -> Response:
    """The client left before its body arrived: nobody reads the answer, so one log line."""
    log.info("request body of %s %s ended early", request.method, request.scope["path"])
    return Response(status_code=400)


__all__ = ["body_ended_early", "method_not_allowed", "not_found", "refused"]

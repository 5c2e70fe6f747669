"""Serving the ``api/`` operations as Azure Functions HTTP triggers.

Converts ``azure.functions.HttpRequest`` to the transport-free ``ApiRequest`` and the
``ApiResponse`` back. Functions buffer HTTP responses, so a progress stream answers with the
events available now and ends at the first idle moment; the client resumes with
``Last-Event-ID`` (the SSE ``retry`` field tells browsers to reconnect).
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..api.dispatch import DEFAULT_MAX_BODY, BodyTooLarge, Operation, call_operation
from ..api.protocol import ApiRequest, ApiResponse, error_response
from ..graph.errors import DurableGraphError

SSE_RETRY_MS = 1000
STREAM_BUDGET_SECONDS = 5.0  # one buffered stream response waits at most this long
def to_api_request(req: Any, *, max_body: int = DEFAULT_MAX_BODY) -> ApiRequest:
    """An ``ApiRequest`` from a Functions ``HttpRequest`` (413 when the body is too large)."""
    body = req.get_body() or b""
    if len(body) > max_body:
        raise BodyTooLarge(f"request body of {len(body)} bytes is over the limit of {max_body} bytes")
    url = str(req.url)
    base = url.split("/", 3)
    return ApiRequest(
        method=req.method.upper(), path_params=dict(req.route_params or {}),
        query=dict(req.params or {}), headers={k.lower(): v for k, v in req.headers.items()},
        body=body, base_url="/".join(base[:3]) + "/" if len(base) >= 3 else url,
    )


async def buffered_body(response: ApiResponse) -> bytes:
    """The body of a response; a stream is read until its first keep-alive or its end."""
    if response.stream is None:
        return response.encoded()
    chunks = [f"retry: {SSE_RETRY_MS}\n\n".encode()]
    stream = response.stream
    deadline = asyncio.get_running_loop().time() + STREAM_BUDGET_SECONDS
    try:
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            chunk = await asyncio.wait_for(stream.__anext__(), left)
            if chunk.startswith(b":"):
                break
            chunks.append(chunk)
    except (StopAsyncIteration, asyncio.TimeoutError):
        pass
    finally:
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()
    return b"".join(chunks)


async def serve_http(operation: Operation, req: Any, *, where: str, max_body: int = DEFAULT_MAX_BODY) -> Any:
    """Run ``operation`` for a Functions request; returns a Functions ``HttpResponse``."""
    import azure.functions as func

    try:
        request = to_api_request(req, max_body=max_body)
    except DurableGraphError as exc:
        response = error_response(exc)
    else:
        response = await call_operation(operation, request, where=where)
    body = await buffered_body(response)
    return func.HttpResponse(body=body, status_code=response.status, headers=response.headers,
                             mimetype=response.media_type, charset="utf-8")


__all__ = ["buffered_body", "serve_http", "to_api_request"]

"""The Starlette adapter: serves the route table over the transport-free handlers.

Adds what belongs to the transport: body size limit (413), optional API key, optional Host check
(421, api/hosts.py), JSON 404/405, and never a traceback in a response.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Match, Route

from ..graph.errors import DurableGraphError
from .dispatch import DEFAULT_MAX_BODY, BodyTooLarge, api_operations, call_operation
from .hosts import HostCheck
from .protocol import ApiRequest, ApiResponse, GraphCatalog, error_response
from .routes import ROUTES, RouteSpec

logger = logging.getLogger(__name__)
# The key may also come as x-functions-key; Bearer is the scheme a 401 can name.
AUTH_CHALLENGE = 'Bearer realm="durable-graph"'


class Unauthorized(DurableGraphError):
    """The API key is missing or wrong."""

    code = "UNAUTHORIZED"
    http_status = 401


def create_app(
    backend: Any, catalog: GraphCatalog, *, prefix: str = "/api", api_key: str | None = None,
    max_body: int = DEFAULT_MAX_BODY, lifespan: Any = None, ui: bool = True,
    allowed_hosts: Iterable[str] | None = None,
) -> Starlette:
    """A Starlette app serving the HTTP contract for ``backend`` (a RunBackend).

    With ``allowed_hosts`` (names, ``"*"`` for any) a request whose ``Host`` is not one of them
    is answered 421 ``HOST_NOT_ALLOWED``; None checks nothing.
    """
    operations = api_operations(backend, catalog, prefix=prefix, secured=api_key is not None)
    prefix = prefix.rstrip("/")
    routes = [
        Route(prefix + spec.path, _endpoint(spec, operations[spec.handler],
                                            api_key=api_key, max_body=max_body), methods=[spec.method])
        for spec in ROUTES
    ]
    if ui:  # the web inspector: GET / and its assets under /ui
        from ..ui import ui_routes

        routes += ui_routes(prefix)

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(status, "HTTP_ERROR")
        message = {404: f"no route for {request.url.path}",
                   405: f"method {request.method} is not allowed on {request.url.path}"}.get(status, "error")
        response = _json(ApiResponse(status=status, body={"error": {"code": code, "message": message, "details": None}}))
        if status == 405:  # RFC 9110: a 405 lists what the path takes, from every route on it
            response.headers["Allow"] = ", ".join(allowed_methods(routes, request))
        return response

    middleware = [] if allowed_hosts is None else [Middleware(HostCheck, allowed=list(allowed_hosts))]
    return Starlette(routes=routes, exception_handlers={HTTPException: http_error}, lifespan=lifespan,
                     middleware=middleware)


def allowed_methods(routes: list[Any], request: Request) -> list[str]:
    """Every method some route takes at the request's path (HEAD with GET, as Starlette serves it)."""
    methods: set[str] = set()
    for route in routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods.update(getattr(route, "methods", None) or ())
    return sorted(methods)


def _endpoint(spec: RouteSpec, handler: Callable[[ApiRequest], Awaitable[ApiResponse]], *,
              api_key: str | None, max_body: int) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            if api_key is not None and not spec.public:
                _check_key(request, api_key)
            body = await read_body(request, max_body) if spec.method in ("POST", "PUT", "PATCH") else b""
        except DurableGraphError as exc:
            refused = error_response(exc)
            if isinstance(exc, Unauthorized):  # RFC 9110: a 401 names the scheme it accepts
                refused.headers["WWW-Authenticate"] = AUTH_CHALLENGE
            return _json(refused)
        except ClientDisconnect:
            # The body stopped arriving (client gone, or the server's read deadline): nobody is
            # left to answer, and it is the client's doing, so one line and no traceback.
            logger.info("request body of %s %s ended early", request.method, request.url.path)
            return Response(status_code=400)
        api_request = ApiRequest(
            method=request.method, path_params=dict(request.path_params),
            query=dict(request.query_params), headers={k.lower(): v for k, v in request.headers.items()},
            body=body, base_url=str(request.base_url),
        )
        where = f"{request.method} {request.url.path}"
        return _to_starlette(await call_operation(handler, api_request, where=where))

    return endpoint


def _check_key(request: Request, api_key: str) -> None:
    given = request.headers.get("x-functions-key")
    if given is None:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            given = auth[7:].strip()
    if given is None or not hmac.compare_digest(given.encode(), api_key.encode()):
        raise Unauthorized("a valid API key is required (x-functions-key header or Authorization: Bearer)")


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, read chunk by chunk; :class:`BodyTooLarge` as soon as it passes ``limit``.

    A declared ``Content-Length`` over the limit is refused before any of the body is read, so
    a huge body is never held in memory. The Durable emulator's HTTP triggers read with it too.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"request body of {declared} bytes is over the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"request body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _to_starlette(response: ApiResponse) -> Response:
    if response.stream is not None:
        return StreamingResponse(response.stream, status_code=response.status, headers=response.headers,
                                 media_type=response.media_type)
    return _json(response)


def _json(response: ApiResponse) -> Response:
    return Response(response.encoded(), status_code=response.status, headers=response.headers,
                    media_type=response.media_type)


__all__ = ["DEFAULT_MAX_BODY", "create_app", "read_body"]

"""The emulator's ASGI app: durable RPC, durable webhooks and the app's HTTP triggers.

Requests no function takes (no route, wrong method, body over the limit) are answered by
``http_answers`` in the package's error shape.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route, request_response
from starlette.types import Receive, Scope, Send

from ...api.app import read_body
from ...api.dispatch import BodyTooLarge
from . import webhooks
from .client_binding import RPC_PATH, WEBHOOK_PATH
from .http_answers import body_ended_early, method_not_allowed, not_found, refused
from .http_triggers import HttpTriggerRouter, invoke_http

if TYPE_CHECKING:
    from .served import ServedEmulator

_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def build_asgi_app(emu: ServedEmulator) -> Starlette:
    """A Starlette app for ``emu``; HTTP triggers live under ``/{route_prefix}/``."""
    router = HttpTriggerRouter(emu.functions.http)
    prefix = f"/{emu.route_prefix}" if emu.route_prefix else ""

    async def durable_api(request: Request) -> Response:
        return await webhooks.handle(emu, request, request.path_params.get("path", ""))

    async def http_trigger(request: Request) -> Response:
        # The scope's decoded path: ``request.url`` goes through urlsplit, which drops tabs and
        # newlines, so ``runs/%0A`` would have been routed as ``runs`` (the list of runs).
        full_path = path = str(request.scope["path"])
        if prefix:
            if path != prefix and not path.startswith(prefix + "/"):
                return not_found(full_path)
            path = path[len(prefix):]
        status, function, values = router.resolve(request.method, path.strip("/"))
        if function is None:
            if status == 405:
                return method_not_allowed(request.method, full_path, router.allowed_methods(path.strip("/")))
            return not_found(full_path)
        try:
            body = await read_body(request, emu.max_request_body)
        except BodyTooLarge as exc:
            return refused(exc)
        except ClientDisconnect:
            return body_ended_early(request)
        return await invoke_http(emu, function, request, values, body)

    routes = [
        Route(RPC_PATH + "/{path:path}", durable_api, methods=_METHODS),
        Route(WEBHOOK_PATH + "/{path:path}", durable_api, methods=_METHODS),
        Route("/{path:path}", _EveryMethod(http_trigger)),
    ]
    return Starlette(routes=routes)


class _EveryMethod:
    """An endpoint Starlette routes every method to (a plain function route takes only GET),
    so a method no function takes (TRACE, PROPFIND...) gets the JSON 405 like the others."""

    def __init__(self, endpoint: Callable[[Request], Awaitable[Response]]) -> None:
        self._app = request_response(endpoint)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)


__all__ = ["build_asgi_app"]

"""The emulator's ASGI app: durable RPC, durable webhooks and the app's HTTP triggers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import webhooks
from .client_binding import RPC_PATH, WEBHOOK_PATH
from .http_triggers import HttpTriggerRouter, invoke_http

if TYPE_CHECKING:
    from .host import DurableEmulator

_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def build_asgi_app(emu: DurableEmulator) -> Starlette:
    """A Starlette app for ``emu``; HTTP triggers live under ``/{route_prefix}/``."""
    router = HttpTriggerRouter(emu.functions.http)
    prefix = f"/{emu.route_prefix}" if emu.route_prefix else ""

    async def durable_api(request: Request) -> Response:
        return await webhooks.handle(emu, request, request.path_params.get("path", ""))

    async def http_trigger(request: Request) -> Response:
        # The scope's decoded path: ``request.url`` goes through urlsplit, which drops tabs and
        # newlines, so ``runs/%0A`` would have been routed as ``runs`` (the list of runs).
        path = str(request.scope["path"])
        if prefix:
            if path != prefix and not path.startswith(prefix + "/"):
                return Response(status_code=404)
            path = path[len(prefix):]
        status, function, values = router.resolve(request.method, path.strip("/"))
        if function is None:
            return Response(status_code=status)
        return await invoke_http(emu, function, request, values)

    routes = [
        Route(RPC_PATH + "/{path:path}", durable_api, methods=_METHODS),
        Route(WEBHOOK_PATH + "/{path:path}", durable_api, methods=_METHODS),
        Route("/{path:path}", http_trigger, methods=_METHODS),
    ]
    return Starlette(routes=routes)


__all__ = ["build_asgi_app"]

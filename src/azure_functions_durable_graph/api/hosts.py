"""The Host header check of the local server (DNS rebinding).

A web page on any site can make a browser send requests to a server on loopback under a name
its attacker controls (DNS rebinding): the browser then treats the answers as that site's own
and lets the page read them. Such requests carry the attacker's name in ``Host``, so a server
bound to loopback answers only requests whose ``Host`` is a loopback name. The Azure app has no
such check: the Functions host in front of it owns the host names.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from ..graph.errors import DurableGraphError
from .protocol import ApiResponse, error_response

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
"""The names a server bound to loopback answers to by default (with any port)."""
ANY_HOST = "*"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]


class HostNotAllowed(DurableGraphError):
    """The request's Host header names a host this server does not answer for (421)."""

    code = "HOST_NOT_ALLOWED"
    http_status = 421  # Misdirected Request: not a host this server speaks for (RFC 9110 15.5.20)


def host_name(host_header: str) -> str:
    """The host of a ``Host`` header without its port, lower-cased (``[::1]:80`` -> ``[::1]``)."""
    host = host_header.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1] if end > 0 else host
    name, colon, port = host.rpartition(":")
    return name if colon and port.isdigit() and ":" not in name else host


def normalise_allowed(names: Iterable[str]) -> frozenset[str]:
    """Allowed names as the check compares them (``::1`` is written ``[::1]`` in a Host)."""
    out = set()
    for name in names:
        name = name.strip().lower()
        if name.count(":") > 1 and not name.startswith("["):
            name = f"[{name}]"  # a bare IPv6 address
        out.add(name if name == ANY_HOST or name.startswith("[") else host_name(name))
    return frozenset(out)


def is_allowed(host_header: str | None, allowed: frozenset[str]) -> bool:
    """Whether a request with this ``Host`` (None: none sent) is answered."""
    if ANY_HOST in allowed:
        return True
    return host_header is not None and host_name(host_header) in allowed


class HostCheck:
    """ASGI middleware answering 421 in the error shape to a Host not in ``allowed``."""

    def __init__(self, app: Asgi, allowed: Iterable[str]) -> None:
        self.app = app
        self.allowed = normalise_allowed(allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):  # lifespan
            await self.app(scope, receive, send)
            return
        raw = [v for k, v in scope.get("headers", ()) if k == b"host"]
        host = raw[0].decode("latin-1") if len(raw) == 1 else None  # none, or several: refused
        if is_allowed(host, self.allowed):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        shown = "none" if host is None else f"'{host[:100]}'"
        refused = error_response(HostNotAllowed(
            f"Host {shown} is not a name this server answers to; allowed: {', '.join(sorted(self.allowed))} "
            "(durable-graph serve --allow-host NAME)",
            details={"host": host, "allowed": sorted(self.allowed)},
        ))
        await _send(send, refused)


async def _send(send: Send, response: ApiResponse) -> None:
    body = response.encoded()
    await send({"type": "http.response.start", "status": response.status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


__all__ = ["ANY_HOST", "LOOPBACK_HOSTS", "HostCheck", "HostNotAllowed", "host_name", "is_allowed",
           "normalise_allowed"]

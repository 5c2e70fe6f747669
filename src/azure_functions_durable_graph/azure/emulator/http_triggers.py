"""Serving the app's HTTP triggers as a local Functions host does.

Routes are ASP.NET templates under ``/{route_prefix}/``: ``{name}``, optional ``{name?}``,
defaults ``{name=value}``, catch-all ``{*rest}``/``{**rest}`` and constraints (``{id:int}``,
parsed and ignored). A path that matches a route but not its methods gets 405; no match is
404. Requests become ``azure.functions.HttpRequest`` objects, ``durableClient`` parameters
get the binding JSON (the DFApp middleware builds the client from it), and the function's
``HttpResponse`` is converted back.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import azure.functions as func
from azure.functions.http import HttpRequest as WorkerHttpRequest
from starlette.requests import Request
from starlette.responses import Response

from .functions import IndexedFunction

if TYPE_CHECKING:
    from .served import ServedEmulator

log = logging.getLogger(__name__)

_PARAM = re.compile(r"\{([^{}]+)\}")


@dataclass(frozen=True)
class RouteTemplate:
    """A compiled route template; :meth:`match` returns the route values or ``None``."""

    template: str
    pattern: re.Pattern[str]
    defaults: dict[str, str]
    literal_segments: int
    has_catch_all: bool

    def match(self, path: str) -> dict[str, str] | None:
        """Route values for ``path`` (no leading slash, no prefix), or ``None``."""
        found = self.pattern.fullmatch(path.strip("/"))
        if found is None:
            return None
        values = dict(self.defaults)
        values.update({k: v for k, v in found.groupdict().items() if v is not None})
        return values


def _parse_param(text: str) -> tuple[str, bool, bool, str | None]:
    """``(name, optional, catch_all, default)`` of one ``{...}`` parameter."""
    catch_all = text.startswith("*")
    text = text.lstrip("*")
    default = None
    if "=" in text:
        text, default = text.split("=", 1)
    optional = text.endswith("?")
    text = text.rstrip("?")
    name = text.split(":", 1)[0]  # constraints (``:int``, ``:regex(...)``) are not enforced
    return name, optional or default is not None, catch_all, default


def compile_route(template: str) -> RouteTemplate:
    """Compile an ASP.NET-style route template (case-insensitive literals)."""
    segments = [s for s in template.strip("/").split("/") if s] if template.strip("/") else []
    regex = ""
    defaults: dict[str, str] = {}
    literals = 0
    catch_all = False
    for index, segment in enumerate(segments):
        sep = "/" if index else ""
        whole = _PARAM.fullmatch(segment)
        if whole:
            name, optional, is_catch_all, default = _parse_param(whole.group(1))
            group = _group(name)
            if default is not None:
                defaults[group] = default
            if is_catch_all:
                catch_all = True
                regex += f"(?:{sep}(?P<{group}>.*))?"
            elif optional:
                regex += f"(?:{sep}(?P<{group}>[^/]+))?"
            else:
                regex += f"{sep}(?P<{group}>[^/]+)"
            continue
        literals += 1
        part = ""
        last = 0
        for found in _PARAM.finditer(segment):
            part += re.escape(segment[last:found.start()])
            name = _parse_param(found.group(1))[0]
            part += f"(?P<{_group(name)}>[^/]+?)"
            last = found.end()
        regex += sep + part + re.escape(segment[last:])
    return RouteTemplate(template, re.compile(regex, re.IGNORECASE), defaults, literals, catch_all)


def _group(name: str) -> str:
    if not name.isidentifier():
        raise ValueError(f"unsupported route parameter name '{name}'")
    return name


class HttpTriggerRouter:
    """The app's HTTP functions, ordered so literal routes win over parameters."""

    def __init__(self, functions: list[IndexedFunction]) -> None:
        compiled = [(compile_route(f.route or f.name), f) for f in functions]
        # ASP.NET prefers more literal segments and no catch-all; keep declaration order otherwise.
        self.routes = sorted(compiled, key=lambda rf: (-rf[0].literal_segments, rf[0].has_catch_all))

    def resolve(self, method: str, path: str) -> tuple[int, IndexedFunction | None, dict[str, str]]:
        """``(200, function, route values)``, or ``(405|404, None, {})``."""
        allowed_elsewhere = False
        for template, function in self.routes:
            values = template.match(path)
            if values is None:
                continue
            if method.upper() in function.methods:
                return 200, function, values
            allowed_elsewhere = True
        return (405 if allowed_elsewhere else 404), None, {}

    def allowed_methods(self, path: str) -> list[str]:
        """Every method some function's route takes at ``path`` (the ``Allow`` of a 405)."""
        return sorted({m for template, function in self.routes if template.match(path) is not None
                       for m in function.methods})


def build_request(request: Request, route_values: dict[str, str], body: bytes) -> WorkerHttpRequest:
    """An ``azure.functions.HttpRequest`` as the worker builds it from the host's request.

    The Python worker declares the ``RawHttpBodyBytes`` capability, so the host sends every
    body as its bytes, whatever the content type: a body that is not UTF-8 reaches the
    function as it was sent (decoding it here, with replacement, made it valid text).
    """
    return WorkerHttpRequest(
        method=request.method,
        url=str(request.url),
        headers=dict(request.headers),
        params=dict(request.query_params),
        route_params=route_values,
        body_type="bytes",
        body=body,
    )


def to_starlette(result: Any) -> Response:
    """Convert what an HTTP function returned into a Starlette response."""
    if result is None:
        return Response(status_code=204)
    if isinstance(result, func.HttpResponse):
        headers = {str(k): str(v) for k, v in dict(result.headers).items()}
        if not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = f"{result.mimetype}; charset={result.charset}"
        return Response(result.get_body() or b"", status_code=result.status_code, headers=headers)
    if isinstance(result, (bytes, bytearray)):
        return Response(bytes(result), media_type="application/octet-stream")
    if isinstance(result, str):
        return Response(result, media_type="text/plain")
    return Response(json.dumps(result), media_type="application/json")


async def invoke_http(emu: ServedEmulator, function: IndexedFunction, request: Request,
                      route_values: dict[str, str], body: bytes) -> Response:
    """Call an HTTP-triggered function with the request (and its ``body``, already read)."""
    kwargs: dict[str, Any] = {function.trigger_param: build_request(request, route_values, body)}
    if function.client_params:
        binding = emu.client_binding(emu.base_url or str(request.base_url))
        for name in function.client_params:
            kwargs[name] = binding
    target = function.user_function
    try:
        if inspect.iscoroutinefunction(target):
            result = await target(**kwargs)
        else:
            result = await asyncio.to_thread(target, **kwargs)
            if inspect.isawaitable(result):
                result = await result
    except Exception as exc:  # the host answers 500 and logs the exception
        log.exception("HTTP function '%s' failed", function.name)
        return Response(f"Exception while executing function: Functions.{function.name}. "
                        f"{type(exc).__name__}: {exc}", status_code=500, media_type="text/plain")
    return to_starlette(result)


__all__ = ["HttpTriggerRouter", "RouteTemplate", "build_request", "compile_route",
           "invoke_http", "to_starlette"]

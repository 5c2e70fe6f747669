"""The web inspector: a static single-page app served beside the HTTP API.

``ui_routes(prefix)`` returns the Starlette routes: ``GET /`` serves the page (with the API
prefix in ``<meta name="api-prefix">``), ``/ui`` and ``/ui/`` redirect to it, and ``/ui/...``
serves its assets from the package.
The page talks to the API only through its public HTTP routes; it needs no network access
beyond the server itself and no build step (plain ES modules and CSS).
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).parent / "static"
INDEX_FILE = STATIC_DIR / "index.html"
PREFIX_PLACEHOLDER = "{{API_PREFIX}}"

# Explicit types: the platform's MIME table is not trusted (ES modules need a JavaScript type).
MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
}

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


class _Assets(StaticFiles):
    """Static files with fixed media types and revalidation on every load."""

    def file_response(self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope,
                      status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        if isinstance(response, FileResponse):
            media_type = MEDIA_TYPES.get(Path(str(full_path)).suffix.lower())
            if media_type is not None:
                response.headers["content-type"] = media_type
        response.headers["cache-control"] = "no-cache"
        response.headers["x-content-type-options"] = "nosniff"
        return response


def render_index(prefix: str) -> str:
    """The page's HTML with the API prefix filled in."""
    template = INDEX_FILE.read_text(encoding="utf-8")
    return template.replace(PREFIX_PLACEHOLDER, html.escape(prefix.rstrip("/"), quote=True))


def ui_routes(prefix: str = "/api") -> list[Any]:
    """Routes of the inspector: ``GET /`` (the page), ``/ui`` and ``/ui/`` (redirects to it), the assets."""
    page = render_index(prefix)

    async def index(request: Request) -> Response:
        return Response(page, media_type="text/html; charset=utf-8", headers=SECURITY_HEADERS)

    async def to_index(request: Request) -> Response:
        # The page's asset links are relative to "/", so /ui itself sends the browser there.
        return RedirectResponse("/", status_code=307, headers=SECURITY_HEADERS)

    routes: list[BaseRoute] = [
        Route("/", index, methods=["GET", "HEAD"], name="inspector"),
        Route("/ui", to_index, methods=["GET", "HEAD"]),
        Route("/ui/", to_index, methods=["GET", "HEAD"]),
        Mount("/ui", app=_Assets(directory=STATIC_DIR), name="ui"),
    ]
    return routes


__all__ = ["STATIC_DIR", "render_index", "ui_routes"]

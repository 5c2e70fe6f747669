"""Transport-free request and response types, and the graph catalog the API reads.

Handlers take an :class:`ApiRequest` and return an :class:`ApiResponse`; the Starlette adapter
(local server) and the Azure HTTP triggers translate to and from them, so the handlers carry
no Starlette or Azure types.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..execution.json_limits import MAX_JSON_DEPTH
from ..graph.errors import DurableGraphError, InvalidInputError
from ..graph.registration import GraphRegistration


@dataclass(frozen=True)
class ApiRequest:
    """What a handler needs of an HTTP request."""

    method: str
    path_params: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""
    base_url: str = ""

    def json(self, *, empty: Any = None) -> Any:
        """The body parsed as JSON (``empty`` when there is no body); 415 when it is not sent
        as JSON, 400 when it is not JSON."""
        if not self.body.strip():
            return empty  # no body needs no content type (a bare POST .../cancel)
        check_json_media_type(self.headers.get("content-type"))
        try:
            value = json.loads(self.body, parse_constant=_reject_constant, parse_float=_finite_float)
            # Lone surrogates parse but cannot be stored or sent back as UTF-8.
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except (UnicodeError, ValueError, RecursionError) as exc:
            reason = (f"nested more than {MAX_JSON_DEPTH} levels deep (the limit for JSON values)"
                      if isinstance(exc, RecursionError) else str(exc))
            raise InvalidInputError(f"request body is not valid JSON: {reason}", code="INVALID_JSON") from None
        return value


class UnsupportedMediaType(DurableGraphError):
    """A request body not declared as JSON (415)."""

    code = "UNSUPPORTED_MEDIA_TYPE"
    http_status = 415


def is_json_media_type(content_type: str | None) -> bool:
    """Whether ``content_type`` is ``application/json`` or ``application/*+json`` in UTF-8."""
    if not content_type:
        return False
    media, *params = (part.strip().lower() for part in content_type.split(";"))
    kind, _, subtype = media.partition("/")
    if kind != "application" or not (subtype == "json" or subtype.endswith("+json") and len(subtype) > 5):
        return False
    charsets = [p.partition("=")[2].strip().strip('"') for p in params if p.partition("=")[0].strip() == "charset"]
    return all(c in ("utf-8", "utf8") for c in charsets)  # JSON is UTF-8 (RFC 8259 section 8.1)


def check_json_media_type(content_type: str | None) -> None:
    """UnsupportedMediaType unless ``content_type`` declares JSON.

    A body of any other type (``text/plain``, a form) is what a web page can send cross-site
    without a CORS preflight; requiring JSON makes such a "simple" request unable to act.
    """
    if not is_json_media_type(content_type):
        got = f"'{content_type[:100]}'" if content_type else "none"
        raise UnsupportedMediaType(
            f"request body must be sent with Content-Type: application/json (got {got})",
            details={"content_type": content_type, "accepted": ["application/json", "application/*+json"]},
        )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value (RFC 8259)")


def _finite_float(text: str) -> float:
    # 1e400 parses to infinity, which no JSON writer can give back (it was stored as null).
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"the number {text[:40]} is out of range (it overflows to infinity)")
    return value


@dataclass
class ApiResponse:
    """A JSON (or text, or event-stream) response."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    media_type: str = "application/json"
    stream: AsyncIterator[bytes] | None = None

    def encoded(self) -> bytes:
        """The body as bytes."""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str) and self.media_type != "application/json":
            return self.body.encode("utf-8")
        return json.dumps(self.body, separators=(",", ":"), default=str).encode("utf-8")


def error_response(exc: DurableGraphError, status: int | None = None) -> ApiResponse:
    """The package's one error shape: ``{"error": {"code", "message", "details"}}``."""
    return ApiResponse(status=status or exc.http_status, body={"error": exc.to_dict()})


class GraphCatalog(Protocol):
    """Registered graphs, every version (DurableGraphApp and LocalEngine both provide it)."""

    @property
    def graph_names(self) -> list[str]:
        """Names of the registered graphs."""

    def versions(self, graph_name: str) -> list[str]:
        """Registered versions of one graph, oldest first."""

    def get(self, graph_name: str, version: str | None = None) -> GraphRegistration:
        """A registration (latest version by default); GraphNotFoundError when unknown."""


__all__ = [
    "ApiRequest", "ApiResponse", "GraphCatalog", "UnsupportedMediaType", "check_json_media_type",
    "error_response", "is_json_media_type",
]

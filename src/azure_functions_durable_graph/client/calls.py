"""Request building and answer parsing shared by the sync and the async client.

Nothing here does I/O: an operation is described as a :class:`Call` (method, path, query, JSON
body, headers, whether it may be retried, and how its answer is read). The clients only send
calls, retry them under a :class:`RetryPolicy`, and hand the answer to :func:`read_answer`.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from ..graph import errors as _errors
from ..graph.errors import DurableGraphError, GraphValidationError, ValidationProblem
from .models import EventAccepted, GraphInfo, History, Purged, Run, RunPage

T = TypeVar("T")
NO_BODY: Any = object()
KEY_HEADER = "x-functions-key"  # what durable-graph serve and an Azure Functions app both read
EVENT_ID_HEADER = "x-event-id"
# Codes raised under another class's name (InvalidInputError(code="INVALID_JSON"), ...) are
# not listed: they come back as the root class, with the server's code.
ERROR_CLASSES: dict[str, type[DurableGraphError]] = {
    cls.code: cls for cls in vars(_errors).values()
    if isinstance(cls, type) and issubclass(cls, DurableGraphError)
}


class ServerUnreachableError(DurableGraphError):
    """The server could not be reached (or the connection broke) after every retry."""

    code = "SERVER_UNREACHABLE"
    http_status = 503


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how fast a retryable call is tried again.

    ``attempts`` counts every try (1: never retry). The n-th retry waits
    ``initial_delay * multiplier ** (n - 1)`` seconds, at most ``max_delay``, times a random
    factor from 0.5 to 1 so clients that failed together do not retry together.
    """

    attempts: int = 4
    initial_delay: float = 0.2
    max_delay: float = 2.0
    multiplier: float = 2.0

    def delay(self, retry: int) -> float:
        """Seconds to wait before the ``retry``-th retry (1-based)."""
        base = min(self.max_delay, self.initial_delay * self.multiplier ** max(0, retry - 1))
        return base * random.uniform(0.5, 1.0)


@dataclass(frozen=True)
class Call(Generic[T]):
    """One HTTP operation, ready to send: everything but the transport."""

    method: str
    path: str  # under the API prefix, already quoted
    parse: Callable[[Any], T]
    params: Mapping[str, str] = field(default_factory=dict)
    body: Any = NO_BODY
    headers: Mapping[str, str] = field(default_factory=dict)
    idempotent: bool = False  # safe to send twice: retried on 503 and broken connections


def api_root(base_url: str, prefix: str = "/api") -> str:
    """``base_url`` with the API prefix once (``http://host:7071`` or ``http://host:7071/api``)."""
    root = base_url.rstrip("/")
    prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
    return root if not prefix or root.endswith(prefix) else root + prefix


def base_headers(api_key: str | None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Headers every request carries: JSON, and the API key when there is one."""
    headers = {"accept": "application/json", "user-agent": "azure-functions-durable-graph-client"}
    if api_key:
        headers[KEY_HEADER] = api_key
    headers.update(extra or {})
    return headers


def _segment(text: str) -> str:
    return quote(str(text), safe="")


def _run_path(instance_id: str) -> str:
    return f"/runs/{_segment(instance_id)}"


def start_call(graph: str, input: Any = None, *, instance_id: str | None = None,
               metadata: Mapping[str, Any] | None = None, wait: float | None = None,
               version: str | None = None) -> Call[Run]:
    """``POST /graphs/{graph}/runs``: retried only with an ``instance_id`` (a repeat is the same run)."""
    body: dict[str, Any] = {"input": {} if input is None else input}
    if instance_id is not None:
        body["instance_id"] = instance_id
    if metadata is not None:
        body["metadata"] = dict(metadata)
    params = {}
    if wait is not None:
        params["wait"] = repr(float(wait))
    if version is not None:
        params["version"] = version
    return Call("POST", f"/graphs/{_segment(graph)}/runs", Run.model_validate, params=params, body=body,
                idempotent=instance_id is not None)


def get_call(instance_id: str) -> Call[Run]:
    """``GET /runs/{instance_id}``."""
    return Call("GET", _run_path(instance_id), Run.model_validate, idempotent=True)


def _instant(value: datetime | float | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return repr(float(value))


def list_call(*, graph: str | None = None, status: str | None = None,
              created_after: datetime | float | str | None = None,
              created_before: datetime | float | str | None = None,
              limit: int | None = None, cursor: str | None = None) -> Call[RunPage]:
    """``GET /runs``: one page (newest first)."""
    raw = {"graph": graph, "status": status, "created_after": _instant(created_after),
           "created_before": _instant(created_before), "limit": None if limit is None else str(int(limit)),
           "cursor": cursor}
    return Call("GET", "/runs", RunPage.model_validate, params={k: v for k, v in raw.items() if v is not None},
                idempotent=True)


def history_call(instance_id: str) -> Call[History]:
    """``GET /runs/{instance_id}/history``."""
    return Call("GET", f"{_run_path(instance_id)}/history", History.model_validate, idempotent=True)


def send_event_call(instance_id: str, name: str, payload: Any = None, event_id: str | None = None) -> Call[EventAccepted]:
    """``POST /runs/{id}/events/{name}`` with an event id (made here when not given).

    The id goes with every retry of this call, so the server counts a retried send once.
    """
    event_id = event_id or uuid.uuid4().hex
    return Call("POST", f"{_run_path(instance_id)}/events/{_segment(name)}", EventAccepted.model_validate,
                body=payload, headers={EVENT_ID_HEADER: event_id}, idempotent=True)


def cancel_call(instance_id: str, reason: str | None = None, force: bool = False) -> Call[Run]:
    """``POST /runs/{id}/cancel`` (``force``: terminate at once)."""
    return Call("POST", f"{_run_path(instance_id)}/cancel", Run.model_validate,
                params={"force": "true"} if force else {},
                body={"reason": reason} if reason is not None else {})


def purge_call(instance_id: str) -> Call[Purged]:
    """``DELETE /runs/{id}``: delete a finished run."""
    return Call("DELETE", _run_path(instance_id), Purged.model_validate)


def graphs_call() -> Call[list[GraphInfo]]:
    """``GET /graphs``."""
    return Call("GET", "/graphs", lambda body: [GraphInfo.model_validate(g) for g in body["graphs"]],
                idempotent=True)


def encode_body(call: Call[Any]) -> bytes | None:
    """The JSON body of ``call`` (None when it sends none)."""
    if call.body is NO_BODY:
        return None
    return json.dumps(call.body, separators=(",", ":"), allow_nan=False).encode("utf-8")


def request_headers(call: Call[Any], common: Mapping[str, str]) -> dict[str, str]:
    """Common headers, the call's own, and the content type when it has a body."""
    headers = {**common, **call.headers}
    if call.body is not NO_BODY:
        headers["content-type"] = "application/json"
    return headers


def retry_on_status(call: Call[Any], status: int) -> bool:
    """Whether an answer with ``status`` is worth another try (503, for idempotent calls)."""
    return status == 503 and call.idempotent


def retry_on_failure(call: Call[Any], *, sent: bool) -> bool:
    """Whether a broken exchange is worth another try.

    A connection that was never made (``sent=False``) delivered nothing, so any call is tried
    again; one that broke after the request went out is retried only when idempotent.
    """
    return call.idempotent or not sent


def read_answer(call: Call[T], status: int, content: bytes, where: str) -> T:
    """The parsed answer, or the package's exception for an error answer."""
    if status >= 400:
        raise error_from_answer(status, content, where)
    try:
        body = json.loads(content) if content else None
        return call.parse(body)
    except (ValueError, TypeError, KeyError) as exc:
        raise DurableGraphError(f"{where}: unexpected answer ({status}): {str(exc)[:200]}",
                                code="BAD_ANSWER") from None


def error_from_answer(status: int, content: bytes, where: str) -> DurableGraphError:
    """The exception for an error answer: the class of the server's ``code`` (the root class
    for a code this client does not know), with the server's code, message and details."""
    try:
        error = json.loads(content)["error"]
        code, message, details = str(error["code"]), str(error["message"]), error.get("details")
    except (ValueError, TypeError, KeyError):
        snippet = content[:200].decode("utf-8", "replace").strip()
        code, message, details = "HTTP_ERROR", f"{where}: HTTP {status}: {snippet or 'no body'}", None
    cls = ERROR_CLASSES.get(code, DurableGraphError)
    exc: DurableGraphError
    if cls is GraphValidationError:
        exc = DurableGraphError.__new__(GraphValidationError)
        problems = [ValidationProblem(str(p.get("code")), str(p.get("message")), p.get("node"))
                    for p in details or [] if isinstance(p, dict)]
        exc.graph_name, exc.problems = "", problems
        DurableGraphError.__init__(exc, message, code=code, details=details)
    else:
        exc = cls(message, code=code, details=details)
    exc.http_status = status
    return exc


__all__ = [
    "Call", "ERROR_CLASSES", "EVENT_ID_HEADER", "KEY_HEADER", "RetryPolicy", "ServerUnreachableError",
    "api_root", "base_headers", "cancel_call", "encode_body", "error_from_answer", "get_call", "graphs_call",
    "history_call", "list_call", "purge_call", "read_answer", "request_headers", "retry_on_failure",
    "retry_on_status", "send_event_call", "start_call",
]

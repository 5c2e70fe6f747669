"""``GET /runs/{instance_id}/stream``: Server-Sent Events of a run's progress.

Each stored progress event is sent with its sequence number as the SSE ``id``, so a client
resumes with ``Last-Event-ID``. The stream ends after the run's final events; while the run
waits it stays open with keep-alive comments.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from ..execution.follow import StreamingBackend, follow_run
from ..execution.timestamps import api_times
from ..graph.errors import InvalidInputError
from .protocol import ApiRequest, ApiResponse

KEEP_ALIVE_SECONDS = 15.0  # a module global: tests shorten it
MAX_SEQUENCE = 2**63 - 1  # the largest SQLite integer


async def run_stream(backend: StreamingBackend, request: ApiRequest) -> ApiResponse:
    """The SSE response (404 for an unknown run before the stream starts)."""
    instance_id = request.path_params["instance_id"]
    await backend.get_status(instance_id)
    start = request.headers.get("last-event-id") or request.query.get("after") or "0"
    after = _sequence_number(start, instance_id)
    return ApiResponse(
        status=200, media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        stream=_events(backend, instance_id, after),
    )


async def _events(backend: StreamingBackend, instance_id: str, after: int) -> AsyncIterator[bytes]:
    async for item in follow_run(backend, instance_id, after, idle_seconds=KEEP_ALIVE_SECONDS):
        if item is None:
            yield b": keep-alive\n\n"
            continue
        seq, event = item
        kind = str(event.get("type", "progress"))
        if seq is None:  # the end: its status, without the type the SSE event name carries
            yield _frame(kind, {k: v for k, v in event.items() if k != "type"}, None)
        else:
            yield _frame(kind, {**api_times(event), "seq": seq}, seq)


def _sequence_number(text: str, instance_id: str) -> int:
    """The event sequence number to resume after: decimal digits, 0 to 2**63 - 1.

    Checked before the stream starts: a number SQLite cannot bind (or a store cannot compare)
    would otherwise fail after the 200 was sent and cut the stream.
    """
    digits = text.strip()
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 19 or int(digits) > MAX_SEQUENCE:
        raise InvalidInputError(
            f"run '{instance_id}': Last-Event-ID (or after) must be an event sequence number "
            f"from 0 to {MAX_SEQUENCE}, got '{text[:40]}'",
            details={"instance_id": instance_id, "last_event_id": text[:100]},
        )
    return int(digits)


def _frame(event: str, data: Any, seq: int | None) -> bytes:
    head = f"id: {seq}\n" if seq is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'), default=str)}\n\n".encode()


__all__ = ["StreamingBackend", "run_stream"]

"""``GET /runs/{instance_id}/stream``: Server-Sent Events of a run's progress.

Each stored progress event is sent with its sequence number as the SSE ``id``, so a client
resumes with ``Last-Event-ID``. The stream ends after the run's final events; while the run
waits it stays open with keep-alive comments.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, Protocol

from ..execution.backend import RunStatus
from ..execution.timestamps import api_times
from ..graph.errors import InvalidInputError
from .protocol import ApiRequest, ApiResponse

KEEP_ALIVE_SECONDS = 15.0
MAX_SEQUENCE = 2**63 - 1  # the largest SQLite integer


class StreamingBackend(Protocol):
    """What the stream needs beyond the RunBackend port."""

    async def get_status(self, instance_id: str) -> RunStatus:
        """The run's status."""

    async def run_events(self, instance_id: str, after_seq: int = 0) -> list[tuple[int, dict[str, Any]]]:
        """Stored progress events with a sequence number above ``after_seq``."""

    def begin_stream(self, instance_id: str) -> None:
        """Start counting the run's progress for a stream."""

    def end_stream(self, instance_id: str) -> None:
        """Stop counting for this stream."""

    def progress_version(self, instance_id: str) -> int:
        """The run's progress counter."""

    async def wait_for_progress(self, instance_id: str, timeout: float, since: int | None = None) -> None:
        """Return when the counter moves past ``since`` or ``timeout`` seconds pass."""


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
    backend.begin_stream(instance_id)
    try:
        while True:
            # The counter is read first: progress made while this pass writes wakes the wait.
            seen = backend.progress_version(instance_id)
            status = await backend.get_status(instance_id)  # before the events: none is missed
            for seq, event in await backend.run_events(instance_id, after):
                after = seq
                yield _frame(str(event.get("type", "progress")), api_times(event), seq)
            if status.finished:
                yield _frame("end", {"status": status.status, "instance_id": instance_id}, None)
                return
            await backend.wait_for_progress(instance_id, KEEP_ALIVE_SECONDS, since=seen)
            if backend.progress_version(instance_id) == seen:
                yield b": keep-alive\n\n"
    finally:
        backend.end_stream(instance_id)


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

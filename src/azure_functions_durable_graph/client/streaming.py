"""Reading a run's Server-Sent Events stream, shared by the sync and the async client.

:class:`SseDecoder` turns the stream's lines into :class:`StreamEvent` values (a frame is
handed over only once its closing blank line arrived, so a frame cut by a dropped connection is
never half-read). :class:`StreamCursor` remembers the last event id across connections: each
reconnect sends it as ``Last-Event-ID`` and the server answers with exactly the events after it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from .calls import RetryPolicy, _run_path
from .models import StreamEvent

# The server sends a keep-alive comment every 15 s while a run waits; a read that hears nothing
# for this long means the connection is dead and is made again.
STREAM_READ_TIMEOUT = 60.0
# An answer that ended without the final event is not a failure: an Azure Functions host
# buffers HTTP answers, so its stream answers end at their first idle moment. The next one
# is asked for after this pause.
RECONNECT_PAUSE = 0.1


class SseDecoder:
    """Incremental SSE parser (the subset of the format the server writes, plus comments)."""

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None

    def feed(self, line: str) -> StreamEvent | None:
        """One line without its end; returns an event when ``line`` ends a frame."""
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None  # comment (keep-alive)
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            self._id = value
        return None

    def _dispatch(self) -> StreamEvent | None:
        event, data, seq = self._event or "message", self._data, self._id
        self._event, self._data, self._id = "", [], None
        if not data:
            return None
        decoded = json.loads("\n".join(data))
        payload = decoded if isinstance(decoded, dict) else {"value": decoded}
        number = int(seq) if seq is not None and seq.isdigit() else None
        return StreamEvent(type=event, seq=number, data=payload)


@dataclass
class StreamCursor:
    """Where a followed stream is: the last event id seen, whether it ended, retries so far."""

    instance_id: str
    last_event_id: int = 0
    ended: bool = False
    failures: int = 0  # consecutive connections that broke before giving an event
    policy: RetryPolicy = field(default_factory=RetryPolicy)

    @property
    def path(self) -> str:
        """The stream's path under the API prefix."""
        return f"{_run_path(self.instance_id)}/stream"

    def headers(self) -> dict[str, str]:
        """Headers of the next connection (``Last-Event-ID`` once an event was seen)."""
        headers = {"accept": "text/event-stream", "cache-control": "no-cache"}
        if self.last_event_id:
            headers["last-event-id"] = str(self.last_event_id)
        return headers

    def seen(self, event: StreamEvent) -> None:
        """Record a delivered event."""
        self.failures = 0
        if event.seq is not None:
            self.last_event_id = event.seq
        if event.is_end:
            self.ended = True

    def closed(self) -> float:
        """The answer ended without the ``end`` event: seconds to wait before the next one."""
        self.failures = 0
        return RECONNECT_PAUSE

    def broken(self) -> float | None:
        """The connection dropped: seconds to wait before reconnecting, None to give up."""
        self.failures += 1
        if self.failures >= self.policy.attempts:
            return None
        return self.policy.delay(self.failures)


__all__ = ["RECONNECT_PAUSE", "STREAM_READ_TIMEOUT", "SseDecoder", "StreamCursor"]

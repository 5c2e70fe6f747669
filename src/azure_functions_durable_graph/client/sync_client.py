"""``DurableGraphClient``: the blocking twin of :class:`AsyncDurableGraphClient`.

Both build their requests and read their answers with the same functions (``client/calls.py``,
``client/streaming.py``); only the sending differs (``httpx.Client`` here).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

import httpx

from . import calls as c
from .async_client import reached_waiting_point
from .models import EventAccepted, GraphInfo, History, Purged, Run, RunPage, StreamEvent
from .streaming import STREAM_READ_TIMEOUT, SseDecoder, StreamCursor

T = TypeVar("T")


class DurableGraphClient:
    """A blocking client for ``durable-graph serve``, the Durable emulator or a Functions app.

    The parameters and the methods are those of :class:`AsyncDurableGraphClient`, without
    ``await``; ``http_client`` is an ``httpx.Client``.
    """

    def __init__(self, base_url: str, api_key: str | None = None, *, prefix: str = "/api",
                 timeout: float = 30.0, retry: c.RetryPolicy | None = None,
                 http_client: httpx.Client | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        self.root = c.api_root(base_url, prefix)
        self.retry = retry or c.RetryPolicy()
        self._headers = c.base_headers(api_key, headers)
        self._owned = http_client is None
        self._http = http_client or httpx.Client(timeout=timeout)

    def __enter__(self) -> DurableGraphClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool (unless it was passed in)."""
        if self._owned:
            self._http.close()

    # -- operations ------------------------------------------------------------------------
    def start(self, graph: str, input: Any = None, *, instance_id: str | None = None,
              metadata: Mapping[str, Any] | None = None, wait: float | None = None,
              version: str | None = None) -> Run:
        """Start a run of ``graph`` (see :meth:`AsyncDurableGraphClient.start`)."""
        return self.send(c.start_call(graph, input, instance_id=instance_id, metadata=metadata,
                                      wait=wait, version=version))

    def get(self, instance_id: str) -> Run:
        """A run's status, output and error."""
        return self.send(c.get_call(instance_id))

    def wait(self, instance_id: str, timeout: float = 60.0, *, until_finished: bool = False,
             poll_interval: float = 0.2) -> Run:
        """The run once it finished or waits (see :meth:`AsyncDurableGraphClient.wait`)."""
        deadline = time.monotonic() + timeout
        delay = min(0.02, poll_interval)
        while True:
            run = self.get(instance_id)
            left = deadline - time.monotonic()
            if reached_waiting_point(run, until_finished) or left <= 0:
                return run
            time.sleep(min(delay, left))
            delay = min(poll_interval, delay * 2)

    def list_page(self, *, graph: str | None = None, status: str | None = None,
                  created_after: datetime | float | str | None = None,
                  created_before: datetime | float | str | None = None,
                  limit: int | None = None, cursor: str | None = None) -> RunPage:
        """One page of runs, newest first."""
        return self.send(c.list_call(graph=graph, status=status, created_after=created_after,
                                     created_before=created_before, limit=limit, cursor=cursor))

    def list_runs(self, *, graph: str | None = None, status: str | None = None,
                  created_after: datetime | float | str | None = None,
                  created_before: datetime | float | str | None = None,
                  page_size: int = 50) -> Iterator[Run]:
        """Every matching run, newest first, fetched page by page as it is iterated."""
        cursor: str | None = None
        while True:
            page = self.list_page(graph=graph, status=status, created_after=created_after,
                                  created_before=created_before, limit=page_size, cursor=cursor)
            yield from page.runs
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def history(self, instance_id: str) -> History:
        """The run's executed steps, oldest first."""
        return self.send(c.history_call(instance_id))

    def send_event(self, instance_id: str, name: str, payload: Any = None,
                   event_id: str | None = None) -> EventAccepted:
        """Send event ``name`` to a run (a retry reuses the ``event_id``, made when not given)."""
        return self.send(c.send_event_call(instance_id, name, payload, event_id))

    def cancel(self, instance_id: str, reason: str | None = None, force: bool = False) -> Run:
        """Cancel a run: at its next step, or at once with ``force``."""
        return self.send(c.cancel_call(instance_id, reason, force))

    def purge(self, instance_id: str) -> Purged:
        """Delete a finished run."""
        return self.send(c.purge_call(instance_id))

    def graphs(self) -> list[GraphInfo]:
        """The registered graphs."""
        return self.send(c.graphs_call())

    def stream(self, instance_id: str, *, after: int = 0) -> Iterator[StreamEvent]:
        """The run's progress events after ``after``, live, ending with the ``end`` event;
        a dropped connection is made again with ``Last-Event-ID``."""
        cursor = StreamCursor(instance_id, last_event_id=after, policy=self.retry)
        timeout = httpx.Timeout(self._http.timeout.connect, read=STREAM_READ_TIMEOUT)
        while not cursor.ended:
            try:
                request = self._http.build_request("GET", self.root + cursor.path, timeout=timeout,
                                                   headers={**self._headers, **cursor.headers()})
                response = self._http.send(request, stream=True)
                try:
                    if response.status_code != 200:
                        content = response.read()
                        if response.status_code != 503:
                            raise c.error_from_answer(response.status_code, content, f"GET {cursor.path}")
                    else:
                        decoder = SseDecoder()
                        for line in response.iter_lines():
                            event = decoder.feed(line)
                            if event is not None:
                                cursor.seen(event)
                                yield event
                                if cursor.ended:
                                    return
                finally:
                    response.close()
            except httpx.TransportError as exc:
                failure: Exception | None = exc
            else:
                failure = None
            pause = cursor.closed() if failure is None and response.status_code == 200 else cursor.broken()
            if pause is None:
                raise c.ServerUnreachableError(
                    f"run '{instance_id}': the progress stream broke {cursor.failures} times in a row"
                    + (f": {failure}" if failure else f" (HTTP {response.status_code})"))
            time.sleep(pause)

    # -- transport -------------------------------------------------------------------------
    def send(self, call: c.Call[T]) -> T:
        """Send ``call`` (retrying it as its kind allows) and return its parsed answer."""
        where = f"{call.method} {call.path}"
        for attempt in range(1, self.retry.attempts + 1):
            last = attempt == self.retry.attempts
            try:
                response = self._http.request(
                    call.method, self.root + call.path, params=dict(call.params),
                    content=c.encode_body(call), headers=c.request_headers(call, self._headers))
            except httpx.TransportError as exc:
                sent = not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))
                if last or not c.retry_on_failure(call, sent=sent):
                    raise c.ServerUnreachableError(f"{where}: {type(exc).__name__}: {exc}") from None
            else:
                if last or not c.retry_on_status(call, response.status_code):
                    return c.read_answer(call, response.status_code, response.content, where)
            time.sleep(self.retry.delay(attempt))
        raise AssertionError("unreachable")  # the last attempt returns or raises


__all__ = ["DurableGraphClient"]

"""``AsyncDurableGraphClient``: the HTTP API from asyncio code, on httpx."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

import httpx

from . import calls as c
from .models import EventAccepted, GraphInfo, History, Purged, Run, RunPage, StreamEvent
from .streaming import STREAM_READ_TIMEOUT, SseDecoder, StreamCursor

T = TypeVar("T")


def reached_waiting_point(run: Run, until_finished: bool) -> bool:
    """Whether ``wait`` is over: the run finished, or (unless ``until_finished``) it waits."""
    return run.finished or (not until_finished and run.status == "waiting")


class AsyncDurableGraphClient:
    """A client for ``durable-graph serve``, the Durable emulator or a deployed Functions app.

    ``base_url`` is the server's root (``http://127.0.0.1:7071``; a URL already ending in the
    ``prefix`` is taken as it is). ``api_key`` is sent as ``x-functions-key``: the serve
    ``--api-key`` or a Functions app's function key. Idempotent calls (reads, sends with an
    event id, starts with an instance id) are retried under ``retry`` on 503 and broken
    connections. Pass ``http_client`` to use your own ``httpx.AsyncClient`` (it is not closed).
    """

    def __init__(self, base_url: str, api_key: str | None = None, *, prefix: str = "/api",
                 timeout: float = 30.0, retry: c.RetryPolicy | None = None,
                 http_client: httpx.AsyncClient | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        self.root = c.api_root(base_url, prefix)
        self.retry = retry or c.RetryPolicy()
        self._headers = c.base_headers(api_key, headers)
        self._owned = http_client is None
        self._http = http_client or httpx.AsyncClient(timeout=timeout)

    async def __aenter__(self) -> AsyncDurableGraphClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (unless it was passed in)."""
        if self._owned:
            await self._http.aclose()

    # -- operations ------------------------------------------------------------------------
    async def start(self, graph: str, input: Any = None, *, instance_id: str | None = None,
                    metadata: Mapping[str, Any] | None = None, wait: float | None = None,
                    version: str | None = None) -> Run:
        """Start a run of ``graph``; with ``wait`` the server answers once it finished (or
        after that many seconds)."""
        return await self.send(c.start_call(graph, input, instance_id=instance_id, metadata=metadata,
                                            wait=wait, version=version))

    async def get(self, instance_id: str) -> Run:
        """A run's status, output and error."""
        return await self.send(c.get_call(instance_id))

    async def wait(self, instance_id: str, timeout: float = 60.0, *, until_finished: bool = False,
                   poll_interval: float = 0.2) -> Run:
        """The run once it finished or waits for an event (only finished with
        ``until_finished``), or as it is when ``timeout`` seconds passed."""
        deadline = time.monotonic() + timeout
        delay = min(0.02, poll_interval)
        while True:
            run = await self.get(instance_id)
            left = deadline - time.monotonic()
            if reached_waiting_point(run, until_finished) or left <= 0:
                return run
            await asyncio.sleep(min(delay, left))
            delay = min(poll_interval, delay * 2)

    async def list_page(self, *, graph: str | None = None, status: str | None = None,
                        created_after: datetime | float | str | None = None,
                        created_before: datetime | float | str | None = None,
                        limit: int | None = None, cursor: str | None = None) -> RunPage:
        """One page of runs, newest first (``next_cursor`` leads to the next one)."""
        return await self.send(c.list_call(graph=graph, status=status, created_after=created_after,
                                           created_before=created_before, limit=limit, cursor=cursor))

    async def list_runs(self, *, graph: str | None = None, status: str | None = None,
                        created_after: datetime | float | str | None = None,
                        created_before: datetime | float | str | None = None,
                        page_size: int = 50) -> AsyncIterator[Run]:
        """Every matching run, newest first, fetched page by page as it is iterated."""
        cursor: str | None = None
        while True:
            page = await self.list_page(graph=graph, status=status, created_after=created_after,
                                        created_before=created_before, limit=page_size, cursor=cursor)
            for run in page.runs:
                yield run
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    async def history(self, instance_id: str) -> History:
        """The run's executed steps, oldest first."""
        return await self.send(c.history_call(instance_id))

    async def send_event(self, instance_id: str, name: str, payload: Any = None,
                         event_id: str | None = None) -> EventAccepted:
        """Send event ``name`` to a run; a retried send carries the same ``event_id`` (one is
        made when not given), so the run counts it once."""
        return await self.send(c.send_event_call(instance_id, name, payload, event_id))

    async def cancel(self, instance_id: str, reason: str | None = None, force: bool = False) -> Run:
        """Cancel a run: at its next step, or at once with ``force`` (terminate)."""
        return await self.send(c.cancel_call(instance_id, reason, force))

    async def purge(self, instance_id: str) -> Purged:
        """Delete a finished run."""
        return await self.send(c.purge_call(instance_id))

    async def graphs(self) -> list[GraphInfo]:
        """The registered graphs."""
        return await self.send(c.graphs_call())

    async def stream(self, instance_id: str, *, after: int = 0) -> AsyncIterator[StreamEvent]:
        """The run's progress events after ``after``, live, ending with the ``end`` event.

        A dropped connection is made again with ``Last-Event-ID``: no event is lost or repeated.
        """
        cursor = StreamCursor(instance_id, last_event_id=after, policy=self.retry)
        timeout = httpx.Timeout(self._http.timeout.connect, read=STREAM_READ_TIMEOUT)
        while not cursor.ended:
            try:
                request = self._http.build_request("GET", self.root + cursor.path, timeout=timeout,
                                                   headers={**self._headers, **cursor.headers()})
                response = await self._http.send(request, stream=True)
                try:
                    if response.status_code != 200:
                        content = await response.aread()
                        if response.status_code != 503:
                            raise c.error_from_answer(response.status_code, content, f"GET {cursor.path}")
                    else:
                        decoder = SseDecoder()
                        async for line in response.aiter_lines():
                            event = decoder.feed(line)
                            if event is not None:
                                cursor.seen(event)
                                yield event
                                if cursor.ended:
                                    return
                finally:
                    await response.aclose()
            except httpx.TransportError as exc:
                failure: Exception | None = exc
            else:
                failure = None
            pause = cursor.closed() if failure is None and response.status_code == 200 else cursor.broken()
            if pause is None:
                raise c.ServerUnreachableError(
                    f"run '{instance_id}': the progress stream broke {cursor.failures} times in a row"
                    + (f": {failure}" if failure else f" (HTTP {response.status_code})"))
            await asyncio.sleep(pause)

    # -- transport -------------------------------------------------------------------------
    async def send(self, call: c.Call[T]) -> T:
        """Send ``call`` (retrying it as its kind allows) and return its parsed answer."""
        where = f"{call.method} {call.path}"
        for attempt in range(1, self.retry.attempts + 1):
            last = attempt == self.retry.attempts
            try:
                response = await self._http.request(
                    call.method, self.root + call.path, params=dict(call.params),
                    content=c.encode_body(call), headers=c.request_headers(call, self._headers))
            except httpx.TransportError as exc:
                sent = not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))
                if last or not c.retry_on_failure(call, sent=sent):
                    raise c.ServerUnreachableError(f"{where}: {type(exc).__name__}: {exc}") from None
            else:
                if last or not c.retry_on_status(call, response.status_code):
                    return c.read_answer(call, response.status_code, response.content, where)
            await asyncio.sleep(self.retry.delay(attempt))
        raise AssertionError("unreachable")  # the last attempt returns or raises


__all__ = ["AsyncDurableGraphClient", "reached_waiting_point"]

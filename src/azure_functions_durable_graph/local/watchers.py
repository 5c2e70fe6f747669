"""Where API-loop callers wait on a run: for it to finish or park, or (streams) to progress.

Drives run on worker threads; they signal here, and the signal is handed to the API loop
thread-safely. Nothing is kept for a run nobody waits on, so parked runs cost no memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def wait_event(event: asyncio.Event, timeout: float | None) -> None:
    """Until ``event`` is set or ``timeout`` seconds pass.

    Not ``asyncio.wait_for``: before Python 3.12 it drops a cancellation that arrives just as
    the event is set, and a stream whose client went away would then go on reading.
    """
    if event.is_set():
        return
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter}, timeout=timeout)
    finally:
        waiter.cancel()


class RunWatchers:
    """Per-run wake-ups for ``wait`` callers and SSE streams, on one API event loop."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self._changed: dict[str, asyncio.Event] = {}
        self._waiters: dict[str, int] = {}
        self._streams: dict[str, int] = {}
        self._stream_events: dict[str, asyncio.Event] = {}
        self._progress_version: dict[str, int] = {}

    def streamed(self, instance_id: str) -> bool:
        """Whether a stream follows the run (then every step is signalled)."""
        return instance_id in self._streams

    async def wait_until(
        self, instance_id: str, check: Callable[[], Awaitable[tuple[bool, T]]], timeout: float | None
    ) -> T:
        """Re-run ``check`` on every signal until it says done or ``timeout`` passes."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        changed = self._changed.setdefault(instance_id, asyncio.Event())
        self._waiters[instance_id] = self._waiters.get(instance_id, 0) + 1
        try:
            while True:
                changed.clear()  # before checking: a change after the check sets it again
                done, value = await check()
                remaining = None if deadline is None else deadline - loop.time()
                if done or (remaining is not None and remaining <= 0):
                    return value
                await wait_event(changed, remaining)
        finally:
            self._waiters[instance_id] -= 1
            if not self._waiters[instance_id]:
                del self._waiters[instance_id]
                self._changed.pop(instance_id, None)

    def begin_stream(self, instance_id: str) -> None:
        """A stream follows the run: count its progress from now on."""
        self._streams[instance_id] = self._streams.get(instance_id, 0) + 1
        self._stream_events.setdefault(instance_id, asyncio.Event())
        self._progress_version.setdefault(instance_id, 0)

    def end_stream(self, instance_id: str) -> None:
        """The stream is gone; forget the run's progress bookkeeping when it was the last."""
        self._streams[instance_id] -= 1
        if not self._streams[instance_id]:
            del self._streams[instance_id]
            self._stream_events.pop(instance_id, None)
            self._progress_version.pop(instance_id, None)

    def progress_version(self, instance_id: str) -> int:
        """A counter of the run's progress while it is streamed."""
        return self._progress_version.get(instance_id, 0)

    async def wait_for_progress(self, instance_id: str, timeout: float, since: int | None = None) -> None:
        """Return once the counter moves past ``since`` (at once if it already has), or after
        ``timeout`` seconds."""
        progressed = self._stream_events.setdefault(instance_id, asyncio.Event())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while since is None or self.progress_version(instance_id) == since:
            progressed.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            await wait_event(progressed, remaining)
            if since is None:
                return

    def notify(self, instance_id: str) -> None:
        """Wake everything waiting on ``instance_id``; safe from any thread."""
        self.call_in_loop(lambda: self._set(instance_id))

    def _set(self, instance_id: str) -> None:
        if instance_id in self._progress_version:
            self._progress_version[instance_id] += 1
        for events in (self._changed, self._stream_events):
            event = events.get(instance_id)
            if event is not None:
                event.set()

    def call_in_loop(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` on the API loop (directly when already on it)."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            callback()
        else:
            loop.call_soon_threadsafe(callback)


__all__ = ["RunWatchers", "wait_event"]

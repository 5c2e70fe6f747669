"""Worker threads, each running its own event loop, on which runs are driven.

Driving a run on a worker loop lets sync handlers run inline there (no per-node thread hop)
while the caller's loop (the HTTP server, the CLI) is never blocked: a sync handler occupies
its worker the way it would occupy a thread-pool slot. Async handlers run on the worker loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import threading
from collections.abc import Callable, Coroutine
from typing import Any


class _Worker:
    def __init__(self, name: str, concurrency: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.concurrency = concurrency
        self.limit: asyncio.Semaphore | None = None
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._main, name=name, daemon=True)
        self.thread.start()
        self.ready.wait()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.limit = asyncio.Semaphore(self.concurrency)  # created on this worker's loop
        self.loop.call_soon(self.ready.set)
        self.loop.run_forever()
        self.loop.close()


class DriveHandle:
    """A drive submitted to a worker: its outcome as a future, and a thread-safe cancel."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.future: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._task: asyncio.Task[None] | None = None

    def attach(self, task: asyncio.Task[None]) -> None:
        """Called on the worker loop once the drive's task exists."""
        self._task = task
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            self.future.set_exception(concurrent.futures.CancelledError())
        elif task.exception() is not None:
            self.future.set_exception(task.exception())
        else:
            self.future.set_result(None)

    def cancel(self) -> None:
        """Cancel before it starts, or cancel its task (from any thread)."""
        if self.future.cancel():
            return
        self.loop.call_soon_threadsafe(self._cancel_task)

    def _cancel_task(self) -> None:
        if self._task is not None:
            self._task.cancel()


class WorkerLoops:
    """``count`` threads with an event loop each; runs go to them round-robin."""

    def __init__(self, count: int, *, concurrency: int) -> None:
        # Never more workers than runs allowed at once; the limits add up to ``concurrency``.
        count = max(1, min(count, concurrency))
        limits = [concurrency // count + (1 if i < concurrency % count else 0) for i in range(count)]
        self._workers = [_Worker(f"durable-graph-worker-{i}", limit) for i, limit in enumerate(limits)]
        self._next = itertools.cycle(range(len(self._workers)))
        self._lock = threading.Lock()

    def submit(self, make: Callable[[], Coroutine[Any, Any, None]]) -> DriveHandle:
        """Run the coroutine ``make()`` on the next worker, bounded by its concurrency."""
        with self._lock:
            worker = self._workers[next(self._next)]
        handle = DriveHandle(worker.loop)

        async def bounded() -> None:
            assert worker.limit is not None
            async with worker.limit:
                await make()

        def start() -> None:
            # The coroutine is created on the worker only if it was not cancelled first.
            if handle.future.set_running_or_notify_cancel():
                handle.attach(worker.loop.create_task(bounded()))

        worker.loop.call_soon_threadsafe(start)
        return handle

    def shutdown(self) -> None:
        """Stop every worker loop and join its thread (cancel drives before calling this)."""
        for worker in self._workers:
            worker.loop.call_soon_threadsafe(worker.loop.stop)
        for worker in self._workers:
            worker.thread.join(timeout=10)


__all__ = ["DriveHandle", "WorkerLoops"]

"""Threads for the sync handlers of parallel tasks: a bounded pool, and a cap for each run.

A sync handler blocks the thread that calls it (an LLM or HTTP call without ``await``). When a
superstep has several tasks, the driver runs their sync handlers and routers on a
:class:`SyncPool` so they overlap, as async handlers do on the event loop; a lone task still
runs inline (no thread hop). The pool bounds the threads of everything that shares it (an
engine's runs, or every ``invoke`` of the process); :meth:`SyncPool.for_run` gives one run a
runner that keeps at most ``per_run`` of its calls in threads at once. Each call runs in a copy
of the calling task's context variables.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import functools
import threading
from collections.abc import Callable
from typing import Any

from ..graph.errors import InvalidInputError

#: Threads of a pool by default: sync handlers wait on I/O far more than they compute, so the
#: pool is not sized by CPU count (that would give 6 threads on a 2-core machine).
DEFAULT_SYNC_THREADS = 64
#: Threads one run may occupy at once by default.
DEFAULT_SYNC_THREADS_PER_RUN = 32


def check_thread_count(owner: str, name: str, value: object) -> int:
    """``value`` if it is a positive integer, else INVALID_INPUT naming ``owner`` and ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(f"{owner}: {name} must be a positive integer, got {value!r}")
    return value


class SyncPool:
    """A bounded thread pool shared by runs, giving each run a capped runner.

    ``threads`` bounds the threads of the pool (created on first use, as needed);
    ``per_run`` is the default cap of :meth:`for_run`. An ``executor`` given is used instead
    of a pool of the package's own (and is not shut down by :meth:`shutdown`).
    """

    def __init__(
        self, threads: int = DEFAULT_SYNC_THREADS, *, per_run: int = DEFAULT_SYNC_THREADS_PER_RUN,
        executor: concurrent.futures.Executor | None = None, owner: str = "SyncPool",
    ) -> None:
        self.threads = check_thread_count(owner, "sync_threads", threads)
        self.per_run = check_thread_count(owner, "sync_threads_per_run", per_run)
        self._given = executor
        self._executor: concurrent.futures.Executor | None = executor
        self._lock = threading.Lock()

    def executor(self) -> concurrent.futures.Executor:
        """The pool's executor, made on first use (and again after :meth:`shutdown`)."""
        executor = self._executor
        if executor is None:
            with self._lock:
                if self._executor is None:
                    self._executor = concurrent.futures.ThreadPoolExecutor(
                        self.threads, thread_name_prefix="durable-graph-sync")
                executor = self._executor
        return executor

    def for_run(self, per_run: int | None = None) -> RunThreads:
        """A runner for one run: at most ``per_run`` (default the pool's) calls in threads."""
        return RunThreads(self, self.per_run if per_run is None else per_run)

    def shutdown(self) -> None:
        """Let the pool's threads end once idle; a later call makes a new pool.

        A handler still running (one whose timeout passed) finishes in its thread.
        """
        with self._lock:
            executor, self._executor = self._executor, self._given
        if executor is not None and executor is not self._given:
            executor.shutdown(wait=False, cancel_futures=True)


class RunThreads:
    """The sync runner of one run: runs a call on the pool, at most ``limit`` at once.

    A call holds its slot until its thread returns, also when the caller stopped waiting
    (a timeout, a cancelled run): the cap counts the threads running the run's code.
    """

    def __init__(self, pool: SyncPool, limit: int) -> None:
        self.pool = pool
        self.limit = limit
        self._slots: asyncio.Semaphore | None = None  # made on the loop that drives the run

    async def __call__(self, call: Callable[[], Any], timeout: float | None = None) -> Any:
        """``call()`` on a pool thread; ``timeout`` counts from when the thread starts it."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.limit)
        slots = self._slots
        await slots.acquire()
        loop = asyncio.get_running_loop()
        started: asyncio.Future[None] | None = loop.create_future() if timeout else None
        done: asyncio.Future[Any] = loop.create_future()
        context = contextvars.copy_context()

        def body() -> None:
            # One hand-back to the loop per call: the outcome and the freed slot together.
            if started is not None:
                _call_in(loop, _settle, started, None, None, None)
            try:
                result = context.run(call)
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
                _call_in(loop, _settle, done, None, _settable(exc), slots)
            else:
                _call_in(loop, _settle, done, result, None, slots)

        try:
            work = self.pool.executor().submit(body)
        except BaseException:
            slots.release()
            raise
        try:
            if started is not None:
                await asyncio.wait((started, done), return_when=asyncio.FIRST_COMPLETED)
                return await asyncio.wait_for(done, timeout)
            return await done
        except BaseException:
            done.cancel()  # an outcome arriving later is dropped
            if work.cancel():  # still queued: it never runs, so its slot is free now
                slots.release()
            raise


class TaskThreads:
    """One task's view of its run's :class:`RunThreads`: notes whether the task used them."""

    __slots__ = ("runner", "used")

    def __init__(self, runner: RunThreads) -> None:
        self.runner = runner
        self.used = False

    def __call__(self, call: Callable[[], Any], timeout: float | None = None) -> Any:
        """Run ``call()`` on the run's threads (see :meth:`RunThreads.__call__`)."""
        self.used = True
        return self.runner(call, timeout)


def _settle(future: asyncio.Future[Any], result: Any, exc: BaseException | None,
            slots: asyncio.Semaphore | None) -> None:
    if slots is not None:
        slots.release()
    if future.done():
        return  # the caller stopped waiting (a timeout, a cancelled run)
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)


def _settable(exc: BaseException) -> BaseException:
    """An exception a future can hold: StopIteration cannot be, so it becomes a RuntimeError
    (as it does when raised inline, inside a coroutine)."""
    if isinstance(exc, StopIteration):
        error = RuntimeError("raised StopIteration")
        error.__cause__ = exc
        return error
    return exc


def _call_in(loop: asyncio.AbstractEventLoop, callback: Callable[..., Any], *args: Any) -> None:
    """Schedule ``callback`` on ``loop`` from any thread; nothing if the loop has closed."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(functools.partial(callback, *args))


_SHARED: SyncPool | None = None
_SHARED_LOCK = threading.Lock()


def shared_pool() -> SyncPool:
    """The process's pool for ``invoke``/``stream`` runs (``DEFAULT_SYNC_THREADS`` threads)."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = SyncPool(owner="invoke")
        return _SHARED


__all__ = [
    "DEFAULT_SYNC_THREADS",
    "DEFAULT_SYNC_THREADS_PER_RUN",
    "RunThreads",
    "SyncPool",
    "TaskThreads",
    "check_thread_count",
    "shared_pool",
]

"""Calling user callables, sync or async, with as many arguments as they take.

Which arguments each kind is offered, and the rule for how many it gets, live in
``graph/signatures.py`` (``build()`` checks callables against the same rule).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from ..graph.signatures import arguments_taken, positional_arity


class SyncRunner(Protocol):
    """Runs a sync call off the event loop (a thread pool), enforcing ``timeout`` if given."""

    def __call__(self, call: Callable[[], Any], timeout: float | None = None) -> Awaitable[Any]:
        """Run ``call()``; the timeout counts from when the call starts running."""


@functools.lru_cache(maxsize=4096)
def is_async(function: Callable[..., Any]) -> bool:
    """Whether calling ``function`` returns a coroutine."""
    # Callable objects (instances with an async __call__) count as async too.
    target = getattr(function, "__call__", function) if not inspect.isroutine(function) else function  # noqa: B004
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(target)


async def call_user(
    function: Callable[..., Any],
    args: tuple[Any, ...],
    *,
    sync_runner: SyncRunner | None = None,
    timeout: float | None = None,
) -> Any:
    """Call ``function`` with as many of ``args`` as it accepts; await it if async.

    Sync functions run inline unless ``sync_runner`` is given (a thread pool: the sync
    handlers of a superstep's tasks overlap) or a ``timeout`` needs them off the loop to be
    enforceable (a thread of their own then).
    """
    bound = args[: arguments_taken(function, len(args))]
    if is_async(function):
        coroutine = function(*bound)
        return await (asyncio.wait_for(coroutine, timeout) if timeout else coroutine)
    if sync_runner is None and timeout is None:
        result = function(*bound)
        if inspect.isawaitable(result):
            result = await result
        return result
    call = functools.partial(function, *bound)
    if sync_runner is not None:
        return await _awaited(await sync_runner(call, timeout))
    return await _awaited(await asyncio.wait_for(asyncio.to_thread(call), timeout or None))


async def _awaited(result: Any) -> Any:
    """A sync callable may return an awaitable (a lambda calling an async function)."""
    return (await result) if inspect.isawaitable(result) else result


__all__ = ["SyncRunner", "call_user", "is_async", "positional_arity"]

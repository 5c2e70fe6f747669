"""Calling user callables, sync or async, with as many arguments as they take.

Which arguments each kind is offered, and the rule for how many it gets, live in
``graph/signatures.py`` (``build()`` checks callables against the same rule).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from ..graph.signatures import arguments_taken, positional_arity

SyncRunner = Callable[[Callable[[], Any]], Awaitable[Any]]


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

    Sync functions run inline unless ``sync_runner`` is given (a thread pool keeps an event
    loop free) or a ``timeout`` needs them off the loop to be enforceable.
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
    runner = sync_runner or _to_thread
    pending = runner(functools.partial(function, *bound))
    return await (asyncio.wait_for(pending, timeout) if timeout else pending)


async def _to_thread(call: Callable[[], Any]) -> Any:
    return await asyncio.to_thread(call)


__all__ = ["SyncRunner", "call_user", "is_async", "positional_arity"]

"""Calling user callables: arity detection (``(state)`` or ``(state, ctx)``), sync or async."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

SyncRunner = Callable[[Callable[[], Any]], Awaitable[Any]]


@functools.lru_cache(maxsize=4096)
def positional_arity(function: Callable[..., Any]) -> int:
    """How many positional arguments ``function`` accepts (large for ``*args``)."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return 1
    count = 0
    for parameter in signature.parameters.values():
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            return 99
        if parameter.kind in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        ):
            count += 1
    return count


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
    arity = positional_arity(function)
    bound = args[: max(1, min(arity, len(args)))]
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

"""A run store that fails on purpose: a real store behind it, a disk-full error for a window.

``FaultyStore(inner)`` passes every call to ``inner`` (the SQLite or memory store) except the
calls inside the window the test opens with :meth:`FaultyStore.fail`; those raise
``sqlite3.OperationalError('database or disk is full')`` before reaching ``inner``, as SQLite
does when a write finds no space (the transaction is rolled back, nothing is written).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterable
from typing import Any

from azure_functions_durable_graph.local.store.base import RunStore

DISK_FULL = "database or disk is full"


class _FaultWindow:
    """Which calls fail: ``methods`` (None: all but close), ``count`` of them (None: until healed),
    starting at once or after the next successful call to ``after``."""

    def __init__(self, methods: Iterable[str] | None, count: int | None, after: str | None,
                 error: Exception | None) -> None:
        self.methods = None if methods is None else frozenset(methods)
        self.remaining = count
        self.after = after
        self.error = error

    def hits(self, name: str) -> bool:
        if self.after is not None or name == "close":
            return False
        if self.methods is not None and name not in self.methods:
            return False
        return self.remaining is None or self.remaining > 0


class _FaultyBase:
    def __init__(self, inner: RunStore) -> None:
        self.inner = inner
        self.failures = 0
        self.failed_calls: list[str] = []
        self._window: _FaultWindow | None = None
        self._changed = threading.Condition()

    @property
    def path(self) -> Any:
        """The inner store's path (so the engine takes the file's lock as usual)."""
        return getattr(self.inner, "path", None)

    def fail(self, *, methods: Iterable[str] | None = None, count: int | None = None,
             after: str | None = None, error: Exception | None = None) -> None:
        """Open the window: the next ``count`` calls to ``methods`` fail (``None``: every call
        but ``close``, until :meth:`heal`); with ``after``, only once a call to it has succeeded.
        They raise ``error`` (default: SQLite's disk-full error)."""
        with self._changed:
            self._window = _FaultWindow(methods, count, after, error)

    def heal(self) -> None:
        """Close the window: the disk has space again."""
        with self._changed:
            self._window = None

    async def wait_failures(self, n: int, timeout: float = 10.0) -> None:
        """Until ``n`` calls have failed (the engine works on other threads), bounded."""

        def wait() -> bool:
            with self._changed:
                return self._changed.wait_for(lambda: self.failures >= n, timeout)

        assert await asyncio.to_thread(wait), f"only {self.failures} failed call(s), expected {n}"

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        with self._changed:
            window = self._window
            if window is not None and window.hits(name):
                if window.remaining is not None:
                    window.remaining -= 1
                self.failures += 1
                self.failed_calls.append(name)
                self._changed.notify_all()
                raise window.error or sqlite3.OperationalError(DISK_FULL)
        result = getattr(self.inner, name)(*args, **kwargs)
        with self._changed:
            if self._window is not None and self._window.after == name:
                self._window.after = None  # the window starts with the next call
        return result


def _delegate(name: str) -> Any:
    def method(self: _FaultyBase, *args: Any, **kwargs: Any) -> Any:
        return self._call(name, *args, **kwargs)

    method.__name__ = method.__qualname__ = name
    return method


# Every public operation of the port (and of the ports it extends, such as leases) goes through
# the window (a new one is covered too).
_OPERATIONS = sorted({n for cls in RunStore.__mro__ if cls is not object for n, v in vars(cls).items()
                      if callable(v) and not n.startswith("_")})
FaultyStore = type("FaultyStore", (_FaultyBase, RunStore), {n: _delegate(n) for n in _OPERATIONS})

__all__ = ["DISK_FULL", "FaultyStore"]

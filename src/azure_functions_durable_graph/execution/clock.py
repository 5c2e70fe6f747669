"""Clocks for drivers: the real one, and a manual one so tests never sleep."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Protocol


class Clock(Protocol):
    """Where a driver reads the time and waits for timers."""

    def now(self) -> float:
        """Seconds since the epoch."""

    async def sleep_until(self, deadline: float) -> None:
        """Return once ``now() >= deadline``."""


class SystemClock:
    """Wall-clock time."""

    def now(self) -> float:
        """Seconds since the epoch."""
        return time.time()

    async def sleep_until(self, deadline: float) -> None:
        """Sleep for real until ``deadline``."""
        delay = deadline - time.time()
        if delay > 0:
            await asyncio.sleep(delay)


class ManualClock:
    """Virtual time for tests, moved by :meth:`advance`.

    With ``auto_advance=True`` (the default, for the in-process runner) waiting for a timer
    jumps straight to it. With ``auto_advance=False`` (for engines with a timer loop) a waiter
    stays parked until a test calls ``advance`` past its deadline.
    """

    def __init__(self, start: float = 1_700_000_000.0, *, auto_advance: bool = True) -> None:
        self._now = float(start)
        self.auto_advance = auto_advance
        self._waiters: list[tuple[float, asyncio.Future[None]]] = []
        # Engines sleep on it from their worker threads while a test advances it from another.
        self._lock = threading.Lock()

    def now(self) -> float:
        """The current virtual time."""
        return self._now

    def advance(self, seconds: float) -> float:
        """Move time forward by ``seconds`` and wake the waiters now due; returns the new time."""
        with self._lock:
            self._now += float(seconds)
            due = [f for d, f in self._waiters if d <= self._now and not f.done()]
            self._waiters = [(d, f) for d, f in self._waiters if d > self._now and not f.done()]
            now = self._now
        for future in due:
            loop = future.get_loop()
            if not loop.is_closed():
                loop.call_soon_threadsafe(_resolve, future)
        return now

    async def sleep_until(self, deadline: float) -> None:
        """Return at ``deadline``: jump there (auto-advance) or wait for ``advance``."""
        await asyncio.sleep(0)
        if self.auto_advance:
            self._now = max(self._now, deadline)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with self._lock:
            if self._now >= deadline:
                return
            self._waiters.append((deadline, future))
        await future


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


__all__ = ["Clock", "ManualClock", "SystemClock"]

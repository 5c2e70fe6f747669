"""Clocks for drivers: the real one, and a manual one so tests never sleep."""

from __future__ import annotations

import asyncio
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
    """Virtual time: ``advance`` moves it; waiting for a timer jumps straight to it."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = float(start)

    def now(self) -> float:
        """The current virtual time."""
        return self._now

    def advance(self, seconds: float) -> float:
        """Move time forward by ``seconds``; returns the new time."""
        self._now += float(seconds)
        return self._now

    async def sleep_until(self, deadline: float) -> None:
        """Jump to ``deadline`` (never backwards) after letting other tasks run once."""
        await asyncio.sleep(0)
        self._now = max(self._now, deadline)


__all__ = ["Clock", "ManualClock", "SystemClock"]

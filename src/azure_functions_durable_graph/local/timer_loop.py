"""The engine's timer loop: wakes parked runs whose durable timers are due, checkpoints the WAL.

Timers are rows in the store, so a wait deadline or a retry backoff survives restarts; the loop
sleeps until the earliest one (at most a second, so timers written by another process are seen)
or until the engine says a run just parked on a timer. A failing store (a full disk) does not end
it: the pass is retried with capped backoff on the engine's clock, logged once per streak.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ..execution.clock import Clock
from .store.base import RunStore
from .store_retry import FailureStreak

CHECKPOINT_SECONDS = 1.0  # real seconds between write-ahead-log checkpoints
# Real seconds between looks at due timers that no pass could act on (their run's graph is not
# registered here, or its row cannot be read): the engine's clock need not move for them.
STUCK_POLL_SECONDS = 1.0


class TimerLoop:
    """Runs while the engine is open; ``wake`` is the engine's "schedule the due runs"."""

    def __init__(self, store: RunStore, clock: Clock, wake: Callable[[], int],
                 running: Callable[[], bool]) -> None:
        self.store = store
        self.clock = clock
        self.wake = wake
        self.running = running
        self.nudge_event = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the loop on the running event loop."""
        self.nudge_event = asyncio.Event()
        self._task = asyncio.ensure_future(self._loop())

    def nudge(self) -> None:
        """Look at the timers again now (call on the engine's loop)."""
        self.nudge_event.set()

    async def stop(self) -> None:
        """Cancel the loop and wait for it."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        last_checkpoint = loop.time()
        streak = FailureStreak("timer loop")
        while self.running():
            now = self.clock.now()
            # Cleared before the pass, so a nudge sent while it runs (a drive parking on a timer
            # this pass saw as due but could not wake) ends the wait below at once.
            self.nudge_event.clear()
            try:
                woken = self.wake()
                if loop.time() - last_checkpoint >= CHECKPOINT_SECONDS:
                    last_checkpoint = loop.time()
                    await loop.run_in_executor(None, self.store.checkpoint)
                next_at = self.store.next_timer_at()
            except Exception as exc:  # noqa: BLE001 - the loop outlives any one failed pass
                # Waking is idempotent (a run already driven is not scheduled twice): the
                # whole pass is simply tried again.
                await self.clock.sleep_until(now + streak.failed(exc))
                continue
            streak.succeeded()
            if next_at is not None and next_at <= now and woken == 0:
                # Due, and nothing to wake: a run being driven handles its own timers (its drive
                # nudges when it parks), others cannot run here. Waiting on the clock would
                # return at once, a pass after pass at full speed.
                sleeper = asyncio.ensure_future(asyncio.sleep(STUCK_POLL_SECONDS))
            else:
                sleeper = asyncio.ensure_future(self.clock.sleep_until(min(next_at, now + 1.0) if next_at else now + 1.0))
            waker = asyncio.ensure_future(self.nudge_event.wait())
            try:
                await asyncio.wait([sleeper, waker], return_when=asyncio.FIRST_COMPLETED)
            finally:  # also when the loop itself is cancelled by stop()
                sleeper.cancel()
                waker.cancel()


__all__ = ["CHECKPOINT_SECONDS", "STUCK_POLL_SECONDS", "TimerLoop"]

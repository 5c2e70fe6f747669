"""Transient store errors do not end the engine's work: the failed store call is retried.

A full disk, an I/O error or a lock held past SQLite's busy timeout surfaces as
``sqlite3.OperationalError`` (directly, or as the cause of the store's ``StoreError``). Such an
error goes away by itself, so a run's drive and the timer loop retry the call with capped
exponential backoff instead of ending. The first failure of a streak is logged once (naming the
run), and so is the recovery. Writes are safe to repeat: a transition is one transaction, so a
failed one left nothing behind, and the driven run keeps the results and events it was applying.
Other errors (a finished run, a closed store, a malformed file) are raised at once.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ..core import TaskCommand
from ..execution.clock import Clock
from ..execution.driver import ActiveRun, RunHooks

logger = logging.getLogger(__name__)

T = TypeVar("T")

INITIAL_DELAY = 0.1  # seconds before the first retry
MAX_DELAY = 5.0  # the backoff's cap: a disk that has space again is noticed within this


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a store error that may go away by itself (SQLite OperationalError)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, sqlite3.OperationalError):
            return True
        seen = seen.__cause__
    return False


def backoff_delay(failures: int) -> float:
    """Seconds to wait after the ``failures``-th failure in a row: doubling, capped."""
    return float(min(MAX_DELAY, INITIAL_DELAY * 2 ** min(failures - 1, 32)))


class FailureStreak:
    """Consecutive failures of one operation: logs the first and the recovery, not each one."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.failures = 0

    def failed(self, exc: BaseException) -> float:
        """Count a failure; returns how long to wait before trying again."""
        self.failures += 1
        if self.failures == 1:
            if is_transient(exc):
                logger.warning("%s: store error (%s); retrying with backoff up to %g s",
                               self.what, exc, MAX_DELAY)
            else:
                logger.error("%s: unexpected error (%s); retrying with backoff up to %g s",
                             self.what, exc, MAX_DELAY, exc_info=exc)
        return backoff_delay(self.failures)

    def succeeded(self) -> None:
        """The operation worked: end the streak (logged when there was one)."""
        if self.failures:
            logger.info("%s: store usable again after %d failed attempt(s)", self.what, self.failures)
            self.failures = 0


async def retry_transient(make: Callable[[], Awaitable[T]], what: str, clock: Clock) -> T:
    """Await ``make()`` until it does not fail with a transient store error.

    Backoff sleeps on ``clock`` (a test's manual clock moves it); cancelling the caller (the
    engine closing) ends the wait.
    """
    streak = FailureStreak(what)
    while True:
        try:
            result = await make()
        except Exception as exc:
            if not is_transient(exc):
                raise
            delay = streak.failed(exc)
            await clock.sleep_until(clock.now() + delay)
            continue
        streak.succeeded()
        return result


class RetryingHooks:
    """The driver's hooks with their store calls retried on transient errors."""

    def __init__(self, hooks: RunHooks, clock: Clock) -> None:
        self.hooks = hooks
        self.clock = clock

    async def committed_result(self, run: ActiveRun, task_id: str) -> dict[str, Any] | None:
        """The wrapped lookup, retried."""
        return await retry_transient(
            lambda: self.hooks.committed_result(run, task_id),
            f"run '{run.run_id}': reading the committed result of task '{task_id}'", self.clock,
        )

    async def record_result(self, run: ActiveRun, command: TaskCommand, result: dict[str, Any]) -> None:
        """Held in memory until the transition that applies it (nothing to retry)."""
        await self.hooks.record_result(run, command, result)

    async def record_transition(self, run: ActiveRun, events: list[dict[str, Any]]) -> None:
        """The wrapped commit, retried: the snapshot and held results wait in memory meanwhile."""
        await retry_transient(
            lambda: self.hooks.record_transition(run, events),
            f"run '{run.run_id}': committing step {run.snapshot['step']}", self.clock,
        )


__all__ = ["FailureStreak", "RetryingHooks", "backoff_delay", "is_transient", "retry_transient"]

"""Per-run leases and the change feed of the run store: several engines on one store.

An engine (an ``owner`` id) drives a run only while it holds the run's lease: it claims the
lease (free, expired, or already its own), renews it while it drives the run and releases it
when the run parks. A finished run's lease ends with the step that finished it. Step writes
(:meth:`RunStore.commit_transition` with ``Transition.owner`` set) check the lease in the same
transaction and fail with ``LEASE_LOST`` for anyone else, so two engines never both apply a
step. Events, cancel requests and starts need no lease: each event or cancel request adds a
signal to the store's change feed, which engines read cheaply (``signals_after``) to pick up
input written by another process. Times are epoch seconds from the caller's clock.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

#: How long a lease lasts unless renewed, by default (seconds).
LEASE_SECONDS = 10.0
#: Signals older than this (wall-clock seconds) may be dropped from the change feed.
SIGNAL_KEEP_SECONDS = 60.0


@dataclass(frozen=True)
class Lease:
    """Who holds a run's lease and until when (epoch seconds)."""

    owner: str
    until: float


class RunLeases(ABC):
    """The lease and change-feed part of the :class:`RunStore` interface."""

    @abstractmethod
    def claim_run(self, instance_id: str, owner: str, *, now: float, until: float) -> bool:
        """Take the run's lease until ``until`` when it is free, expired (``until <= now``) or
        already ``owner``'s; False when another owner holds it or the run is finished/unknown."""

    @abstractmethod
    def renew_leases(self, owner: str, *, until: float) -> list[str]:
        """Extend every lease ``owner`` holds to ``until``; returns those runs' ids."""

    @abstractmethod
    def release_run(self, instance_id: str, owner: str) -> None:
        """End ``owner``'s lease on the run (nothing happens when another owner holds it)."""

    @abstractmethod
    def expire_leases(self, owner: str, *, now: float) -> None:
        """End ``owner``'s leases at ``now`` without freeing them: other engines may claim the
        runs at once (an engine closing with runs still unfinished)."""

    @abstractmethod
    def lease_of(self, instance_id: str) -> Lease | None:
        """The run's current lease holder and expiry (None when nobody holds one)."""

    @abstractmethod
    def expired_leases(self, now: float, limit: int = 100) -> list[str]:
        """Unfinished runs whose lease has expired (their engine stopped), oldest expiry first."""

    @abstractmethod
    def request_cancel(self, instance_id: str, reason: str | None) -> None:
        """Store a graceful cancel request for the run's driver and signal it (no lease needed).

        RunNotFoundError for an unknown run; the first request's reason is kept."""

    @abstractmethod
    def cancel_request(self, instance_id: str) -> dict[str, Any] | None:
        """The run's stored cancel request ``{"reason": ...}``, or None."""

    @abstractmethod
    def last_signal(self) -> int:
        """The newest position of the change feed (0 when it is empty)."""

    @abstractmethod
    def signals_after(self, position: int, limit: int = 1000) -> tuple[int, list[str]]:
        """Runs signalled (an event stored, a cancel requested) after ``position``, in order,
        and the feed position to read after next time."""

    @abstractmethod
    def last_seq(self, instance_id: str) -> int | None:
        """The run's last progress event sequence (None for an unknown run): a cheap change
        marker for readers following a run another engine drives."""


__all__ = ["LEASE_SECONDS", "SIGNAL_KEEP_SECONDS", "Lease", "RunLeases"]

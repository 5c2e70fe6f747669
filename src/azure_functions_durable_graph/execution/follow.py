"""Following a run's progress as it happens: the one loop behind every stream.

``GET /runs/{id}/stream`` (SSE), ``LocalEngine.stream`` and the Azure stream trigger read a
run's stored progress events (steps, emits, waits) through :func:`follow_run`, which resumes
after a sequence number and ends with an ``end`` event once the run has finished.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

from .backend import RunStatus

KEEP_ALIVE_SECONDS = 15.0
#: The events a store returns per read (``RunStore.list_events``'s default limit).
EVENT_PAGE = 1000

#: What :func:`follow_run` yields: ``(seq, event)``, ``(None, end event)``, or ``None`` (idle).
Followed = tuple[int | None, dict[str, Any]] | None


class StreamingBackend(Protocol):
    """What following a run needs beyond the RunBackend port."""

    async def get_status(self, instance_id: str) -> RunStatus:
        """The run's status."""

    async def run_events(self, instance_id: str, after_seq: int = 0) -> list[tuple[int, dict[str, Any]]]:
        """Stored progress events with a sequence number above ``after_seq``."""

    def begin_stream(self, instance_id: str) -> None:
        """Start counting the run's progress for a stream."""

    def end_stream(self, instance_id: str) -> None:
        """Stop counting for this stream."""

    def progress_version(self, instance_id: str) -> int:
        """The run's progress counter."""

    async def wait_for_progress(self, instance_id: str, timeout: float, since: int | None = None) -> None:
        """Return when the counter moves past ``since`` or ``timeout`` seconds pass."""


async def follow_run(backend: StreamingBackend, instance_id: str, after: int = 0, *,
                     idle_seconds: float = KEEP_ALIVE_SECONDS) -> AsyncIterator[Followed]:
    """The run's events after ``after``, live, then ``(None, {"type": "end", ...})``.

    ``None`` is yielded when nothing happened for ``idle_seconds`` (an SSE keep-alive).
    RunNotFoundError is raised before anything is yielded for an unknown run.
    """
    backend.begin_stream(instance_id)
    try:
        while True:
            # The counter is read first: progress made while this pass reads wakes the wait.
            seen = backend.progress_version(instance_id)
            status = await backend.get_status(instance_id)  # before the events: none is missed
            while True:  # page after page: a full page may have more behind it
                batch = await backend.run_events(instance_id, after)
                for seq, event in batch:
                    after = seq
                    yield seq, event
                if len(batch) < EVENT_PAGE:
                    break
            if status.finished:
                yield None, {"type": "end", "status": status.status, "instance_id": instance_id}
                return
            await backend.wait_for_progress(instance_id, idle_seconds, since=seen)
            if backend.progress_version(instance_id) == seen:
                yield None
    finally:
        backend.end_stream(instance_id)


__all__ = ["EVENT_PAGE", "KEEP_ALIVE_SECONDS", "Followed", "StreamingBackend", "follow_run"]

"""Progress events of a Durable run for the SSE stream, read back from its history.

Durable keeps no progress log of its own: each executed step of the current generation becomes
a ``task_completed`` or ``task_failed`` event numbered by its position, and the stream notices
progress by polling the run's status. Functions buffer HTTP responses, so the Azure adapter ends
a stream at its first idle moment and the client resumes with ``Last-Event-ID``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

POLL_SECONDS = 0.25


class DurableProgress:
    """The streaming half of the backend (see ``api.stream.StreamingBackend``)."""

    _versions: dict[str, int]

    async def history(self, instance_id: str) -> list[dict[str, Any]]:  # provided by the backend
        raise NotImplementedError

    async def get_status(self, instance_id: str) -> Any:  # provided by the backend
        raise NotImplementedError

    async def run_events(self, instance_id: str, after_seq: int = 0) -> list[tuple[int, dict[str, Any]]]:
        """The run's step events after ``after_seq`` (1-based positions in its step list)."""
        events = []
        for seq, step in enumerate(await self.history(instance_id), start=1):
            if seq <= after_seq:
                continue
            kind = "task_completed" if step.get("ok") else "task_failed"
            events.append((seq, {"type": kind, **{k: v for k, v in step.items() if v is not None}}))
        return events

    def begin_stream(self, instance_id: str) -> None:
        """Nothing to register: progress is polled."""
        self._versions.setdefault(instance_id, 0)

    def end_stream(self, instance_id: str) -> None:
        """Forget the stream's counter."""
        self._versions.pop(instance_id, None)

    def progress_version(self, instance_id: str) -> int:
        """A counter moved by :meth:`wait_for_progress` when the run changed."""
        return self._versions.get(instance_id, 0)

    async def wait_for_progress(self, instance_id: str, timeout: float, since: int | None = None) -> None:
        """Poll the status until the run changes or ``timeout`` seconds pass."""
        first = await self.get_status(instance_id)
        mark = (first.status, first.step, first.updated_at)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            await asyncio.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))
            now = await self.get_status(instance_id)
            if (now.status, now.step, now.updated_at) != mark:
                self._versions[instance_id] = self._versions.get(instance_id, 0) + 1
                return


__all__ = ["DurableProgress"]

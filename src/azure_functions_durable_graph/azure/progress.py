"""Progress events of a Durable run for the SSE stream, read back from its history and its
emit log.

Durable keeps no progress log of its own: each executed step of the current generation becomes
a ``task_completed`` or ``task_failed`` event numbered by its position; the nodes' emits come
from the run's log in the app's storage (``emit_channel.py``, which numbers both in one id). The
stream notices progress by polling the run's status, and the log's end while a task runs.
Functions buffer HTTP responses, so the Azure adapter ends a stream at its first idle moment
and the client resumes with ``Last-Event-ID``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from .emit_channel import merge_progress, split_id
from .emit_log import EmitLog

POLL_SECONDS = 0.25


class DurableProgress:
    """The streaming half of the backend (see ``api.stream.StreamingBackend``)."""

    _versions: dict[str, int]
    _emit_ends: dict[str, int]  # per run: the log offset the last read reached
    emit_log: EmitLog | None

    async def history(self, instance_id: str) -> list[dict[str, Any]]:  # provided by the backend
        raise NotImplementedError

    async def get_status(self, instance_id: str) -> Any:  # provided by the backend
        raise NotImplementedError

    async def run_events(self, instance_id: str, after_seq: int = 0) -> list[tuple[int, dict[str, Any]]]:
        """The run's step events and emits after stream id ``after_seq`` (see emit_channel)."""
        position, offset = split_id(after_seq)
        steps = []
        for seq, step in enumerate(await self.history(instance_id), start=1):
            if seq <= position:
                continue
            kind = "task_completed" if step.get("ok") else "task_failed"
            steps.append((seq, {"type": kind, **{k: v for k, v in step.items() if v is not None}}))
        emits = await self._emits_after(instance_id, offset)
        self._emit_ends[instance_id] = emits[-1][0] if emits else offset
        return merge_progress(steps, emits, after_seq)

    async def _emits_after(self, instance_id: str, offset: int,
                           max_bytes: int = 4 << 20) -> list[tuple[int, dict[str, Any]]]:
        if self.emit_log is None:
            return []
        return await asyncio.to_thread(self.emit_log.read, instance_id, offset, max_bytes)

    def begin_stream(self, instance_id: str) -> None:
        """Nothing to register: progress is polled."""
        self._versions.setdefault(instance_id, 0)

    def end_stream(self, instance_id: str) -> None:
        """Forget the stream's counter."""
        self._versions.pop(instance_id, None)
        self._emit_ends.pop(instance_id, None)

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
            if (now.status, now.step, now.updated_at) != mark or await self._new_emits(instance_id):
                self._versions[instance_id] = self._versions.get(instance_id, 0) + 1
                return

    async def _new_emits(self, instance_id: str) -> bool:
        """Whether the run's log holds emits past what the stream has read (a small read)."""
        if self.emit_log is None:
            return False
        return bool(await self._emits_after(instance_id, self._emit_ends.get(instance_id, 0), 1 << 20))


__all__ = ["DurableProgress"]

"""``NodeContext``: what a handler may know about the task it runs in."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class NodeContext:
    """Passed as the second argument to handlers declared ``(state, ctx)``.

    ``idempotency_key`` is the same on every attempt and every replay of one task: use it to
    make side effects (payments, e-mails, tickets) happen once. ``error`` is set for a node
    reached through ``on_error``; ``payload`` for a task started by ``Send``.
    """

    run_id: str
    graph_name: str
    node: str
    step: int
    attempt: int
    task_id: str
    idempotency_key: str
    metadata: dict[str, Any] = field(default_factory=dict)
    payload: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    event: dict[str, Any] | None = None
    cancel_signal: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def cancel_requested(self) -> bool:
        """True once the run has been asked to cancel; long handlers should stop early."""
        return self.cancel_signal.is_set()


__all__ = ["NodeContext"]

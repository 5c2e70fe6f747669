"""``NodeContext``: what a handler may know about the task it runs in."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .emits import TaskEmitter


@dataclass(frozen=True)
class NodeContext:
    """Passed as the second argument to handlers declared ``(state, ctx)``.

    ``idempotency_key`` is the same on every attempt and every replay of one task: use it to
    make side effects (payments, e-mails, tickets) happen once. ``error`` is set for a node
    reached through ``on_error``; ``payload`` for a task started by ``Send``. ``emit`` streams
    progress (tokens, status lines) to readers of the run while the node runs.
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
    emitter: TaskEmitter | None = field(default=None, repr=False, compare=False)

    @property
    def cancel_requested(self) -> bool:
        """True once the run has been asked to cancel; long handlers should stop early."""
        return self.cancel_signal.is_set()

    def emit(self, data: Any, kind: str = "custom") -> None:
        """Stream ``data`` (JSON, at most 64 KiB) to readers of the run: progress, not state.

        ``kind`` tells readers what it is: ``"token"`` for model output (printed inline by the
        CLI), ``"custom"`` (the default) for anything else. Non-JSON data raises
        ``InvalidEmitError`` naming the node. Sync and async handlers may call it any number of
        times; a run with no reader attached still keeps its emits (bounded per run).
        """
        self._emitter().emit(data, kind)

    async def emit_each(self, chunks: AsyncIterable[Any] | Iterable[Any], kind: str = "token",
                        select: Callable[[Any], Any] | None = None) -> list[Any]:
        """Emit every chunk of an (async) iterator as it arrives; returns the emitted values.

        ``text = "".join(await ctx.emit_each(llm.stream(prompt)))`` streams a model's tokens and
        keeps the whole answer; ``select`` picks what to emit from each chunk.
        """
        return await self._emitter().emit_each(chunks, kind, select)

    def _emitter(self) -> TaskEmitter:
        if self.emitter is not None:
            return self.emitter
        # Built by hand (a unit test of a handler): emits are checked, then dropped.
        return TaskEmitter(None, run_id=self.run_id, graph=self.graph_name, node=self.node,
                           step=self.step, attempt=self.attempt, task_id=self.task_id)


__all__ = ["NodeContext"]

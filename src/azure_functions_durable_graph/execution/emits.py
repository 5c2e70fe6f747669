"""Emits: progress a node writes while it runs (``ctx.emit``), batched on their way to storage.

An emit is not state: it is never applied to the run, never replayed, and a retried attempt's
emits carry their attempt number. Each emit is checked and encoded once, on the emitting thread
(:class:`TaskEmitter`), as one JSON text of the whole progress event; a sink takes the texts.
:class:`BatchedEmits` is the sink of the engines: it collects texts per run and writes them in
batches from one flusher thread, at most :data:`FLUSH_SECONDS` after the first of a batch, and at
once when a task ends (so a task's emits always come before the step event of its result).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import AsyncIterable, Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from ..graph.errors import EmitTooLargeError, InvalidEmitError

logger = logging.getLogger(__name__)

#: The largest emitted chunk, as JSON text in UTF-8.
MAX_EMIT_BYTES = 64 * 1024
#: How long a batch may wait for more emits before it is written, in seconds.
FLUSH_SECONDS = 0.01
#: A run's emits written in one batch at most (a full batch is written at once).
BATCH_LIMIT = 512
#: The kinds named in the docs; any short name of letters, digits, ``_ . -`` is accepted.
KINDS = ("custom", "token")
_KIND = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]{0,63}\Z")
_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode

# Every emit's text starts with its type (TaskEmitter encodes it first); fields go after it.
_AFTER_TYPE = len('{"type":"emit",')

# Data the reader may share with the node (anything else reaches it as a decoded copy).
_IMMUTABLE = frozenset({str, int, float, bool, type(None)})

#: One emit on its way to storage: (step, JSON text of the whole progress event).
EmitRow = tuple[int, str]


class EmitSink(Protocol):
    """Where a task's emits go (an engine's batcher, or an in-process stream)."""

    def add(self, run_id: str, row: EmitRow) -> None:
        """Take one emit; called on the emitting thread, so it must be cheap and thread-safe.

        A sink that also has ``add_event(event)`` is given emits of str, number, bool or None
        data as the event dict instead (a reader in the same process).
        """

    def flush(self, run_id: str) -> None:
        """Write everything taken for ``run_id`` before returning (a task has ended)."""


class TaskEmitter:
    """``ctx.emit`` of one task attempt: checks the data and hands the event to the sink."""

    __slots__ = ("_add_event", "_head", "_prefix", "_run_id", "_sink", "_step", "_where")

    def __init__(self, sink: EmitSink | None, *, run_id: str, graph: str, node: str, step: int,
                 attempt: int, task_id: str) -> None:
        self._sink = sink
        self._run_id = run_id
        self._step = step
        self._where = f"graph '{graph}', node '{node}'"
        self._head = {"type": "emit", "node": node, "step": step, "attempt": attempt,
                      "task_id": task_id}
        self._prefix = ""  # the fixed part of every event of this task, encoded at first use
        # A reader in this process (registration.stream) takes events as dicts: no decoding.
        self._add_event = getattr(sink, "add_event", None)

    def emit(self, data: Any, kind: str = "custom") -> None:
        """Check ``data`` (JSON, at most 64 KiB) and ``kind``, then pass the event on."""
        try:
            text = _encode(data)
        except (TypeError, ValueError) as exc:
            raise InvalidEmitError(
                f"{self._where}: ctx.emit data must be JSON (str, number, bool, None, list, dict): {exc}"
            ) from None
        if len(text) > MAX_EMIT_BYTES // 4 and len(text.encode()) > MAX_EMIT_BYTES:
            raise EmitTooLargeError(
                f"{self._where}: ctx.emit data is {len(text.encode())} bytes of JSON; "
                f"the limit is {MAX_EMIT_BYTES} (split it into smaller chunks)"
            )
        if kind not in KINDS and not (isinstance(kind, str) and _KIND.match(kind)):
            raise InvalidEmitError(
                f"{self._where}: ctx.emit kind must be a short name (letters, digits, _ . -; "
                f"e.g. {', '.join(KINDS)}), got {kind!r:.80}"
            )
        if self._add_event is not None and type(data) in _IMMUTABLE:
            self._add_event({**self._head, "kind": kind, "data": data})
        elif self._sink is not None:
            if not self._prefix:
                self._prefix = _encode(self._head)[:-1] + ',"kind":'
            self._sink.add(self._run_id, (self._step, f'{self._prefix}"{kind}","data":{text}}}'))

    async def emit_each(self, chunks: AsyncIterable[Any] | Iterable[Any], kind: str = "token",
                        select: Callable[[Any], Any] | None = None) -> list[Any]:
        """Emit every chunk of ``chunks`` (an LLM client's stream) as it arrives.

        ``select`` picks what to emit from a chunk (``None`` results are skipped). Returns the
        emitted values, so ``"".join(await ctx.emit_each(stream))`` is the whole text.
        """
        emitted: list[Any] = []

        def take(chunk: Any) -> None:
            value = chunk if select is None else select(chunk)
            if value is not None:
                self.emit(value, kind)
                emitted.append(value)

        if isinstance(chunks, AsyncIterable):
            async for chunk in chunks:
                take(chunk)
        else:
            for chunk in chunks:
                take(chunk)
        return emitted

    def close(self) -> None:
        """The task ended: its emits are written before its result is recorded."""
        if self._sink is not None:
            self._sink.flush(self._run_id)


class ParentRunEmits:
    """The sink of a subgraph's child run: its emits belong to the stream of the parent run.

    With ``task`` (the parent's task running the subgraph) each emit also names it, as
    ``parent_task_id`` and ``parent_attempt``, for readers that place emits by task.
    """

    def __init__(self, sink: EmitSink, run_id: str, task: Mapping[str, Any] | None = None) -> None:
        self.sink = sink
        self.run_id = run_id
        self._mark = "" if not task else (
            f'"parent_task_id":{_encode(str(task["task_id"]))},"parent_attempt":{int(task["attempt"])},')

    def add(self, run_id: str, row: EmitRow) -> None:
        """Take one emit of the child run, for the parent run."""
        if self._mark:
            text = row[1]
            row = (row[0], text[:_AFTER_TYPE] + self._mark + text[_AFTER_TYPE:])
        self.sink.add(self.run_id, row)

    def flush(self, run_id: str) -> None:
        """Write the parent run's queued emits."""
        self.sink.flush(self.run_id)


class BatchedEmits:
    """An :class:`EmitSink` that writes each run's emits in batches through ``write``.

    ``write(run_id, rows)`` is called on the flusher thread (or on the thread of a task that
    ends), never for two batches at once, so a run's emits are written in the order emitted.
    A failed write is logged and its batch dropped: emits are progress, and a node must not
    fail because its progress could not be kept.
    """

    def __init__(self, write: Callable[[str, Sequence[EmitRow]], None], *,
                 flush_seconds: float = FLUSH_SECONDS, batch_limit: int = BATCH_LIMIT) -> None:
        self._write = write
        self.flush_seconds = flush_seconds
        self.batch_limit = batch_limit
        self._pending: dict[str, list[EmitRow]] = {}
        self._changed = threading.Condition(threading.Lock())
        self._writing = threading.Lock()  # one batch at a time: keeps each run's order
        self._thread: threading.Thread | None = None
        self._closed = False
        self._full = False  # some run has a full batch: write without waiting

    def add(self, run_id: str, row: EmitRow) -> None:
        """Queue one emit; the first of a batch (or a full batch) wakes the flusher."""
        with self._changed:
            rows = self._pending.get(run_id)
            if rows is None:
                rows = self._pending[run_id] = []
                if self._thread is None and not self._closed:
                    self._start()
                self._changed.notify()
            rows.append(row)
            if len(rows) == self.batch_limit:
                self._full = True
                self._changed.notify()

    def flush(self, run_id: str) -> None:
        """Write the run's queued emits now."""
        with self._writing:
            with self._changed:
                rows = self._pending.pop(run_id, None)
            if rows:
                self._write_batch(run_id, rows)

    def flush_all(self) -> None:
        """Write every queued emit now."""
        with self._writing:
            with self._changed:
                pending, self._pending = self._pending, {}
            for run_id, rows in pending.items():
                self._write_batch(run_id, rows)

    def close(self) -> None:
        """Write what is queued and stop the flusher thread (the next emit starts it again)."""
        with self._changed:
            self._closed = True
            self._changed.notify()
            thread = self._thread
        if thread is not None:
            thread.join()
        self.flush_all()
        with self._changed:
            self._thread, self._closed = None, False

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="durable-graph-emits", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._pending and not self._closed:
                    self._changed.wait()
                # Let the batch fill for a moment, unless a run already has a full batch.
                deadline = time.monotonic() + self.flush_seconds
                while not self._closed and not self._full:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._changed.wait(remaining)
                if self._closed:
                    return
                self._full = False
            self.flush_all()

    def _write_batch(self, run_id: str, rows: list[EmitRow]) -> None:
        for start in range(0, len(rows), self.batch_limit):
            try:
                self._write(run_id, rows[start:start + self.batch_limit])
            except Exception:  # noqa: BLE001 - progress is best effort; say why it was lost
                logger.exception("run '%s': %d emit(s) could not be written", run_id,
                                 len(rows[start:start + self.batch_limit]))


__all__ = [
    "BATCH_LIMIT",
    "FLUSH_SECONDS",
    "KINDS",
    "MAX_EMIT_BYTES",
    "BatchedEmits",
    "EmitRow",
    "EmitSink",
    "ParentRunEmits",
    "TaskEmitter",
]

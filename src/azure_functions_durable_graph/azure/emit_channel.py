"""The emits of a Functions app: written by its activities, read by its stream trigger.

Both ends find the log the same way (:func:`emit_log.emit_log_from_settings`: an append blob per
run in the app's own storage account, ``AzureWebJobsStorage``), so no extra service is needed.
Activities hand emits to one :class:`BatchedEmits` per process, which appends a run's batch as
one block, at most ``FLUSH_SECONDS`` after its first emit and at once when the task ends.

A stream mixes two sequences: the run's step events (positions in its history) and its emits
(byte offsets in its log). One SSE id carries both, ``offset * 2**23 + position``, so a client
resumes exactly with ``Last-Event-ID``; a run without emits keeps its plain position ids.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

from ..execution.emits import BatchedEmits, EmitRow, EmitSink
from .emit_log import EmitLog, emit_log_from_settings

POSITION_BITS = 23
#: Step events of one generation a stream can number (2**23 - 1).
MAX_POSITION = (1 << POSITION_BITS) - 1
HUB_SETTING = "DURABLE_GRAPH_TASK_HUB"


class EmitChannel:
    """The app's emit log (found from its settings on first use) and its activities' batcher."""

    def __init__(self, log: EmitLog | None = None) -> None:
        self._log = log
        self._resolved = log is not None
        self._sink: BatchedEmits | None = None
        self._lock = threading.Lock()

    def use(self, log: EmitLog | None) -> None:
        """Use ``log`` instead of the settings (the emulator's in-memory log, a test's Azurite)."""
        with self._lock:
            self._log, self._resolved, self._sink = log, True, None

    @property
    def log(self) -> EmitLog | None:
        """The log, or None when the app's storage is not a connection string (emits dropped)."""
        with self._lock:
            if not self._resolved:
                hub = os.environ.get(HUB_SETTING) or "default"
                self._log, self._resolved = emit_log_from_settings(os.environ, hub), True
            return self._log

    def sink(self) -> EmitSink | None:
        """Where an activity's ``ctx.emit`` calls go (None: checked, then dropped)."""
        log = self.log
        if log is None:
            return None
        with self._lock:
            if self._sink is None:
                self._sink = BatchedEmits(lambda run_id, rows: _append(log, run_id, rows))
            return self._sink


def _append(log: EmitLog, run_id: str, rows: Sequence[EmitRow]) -> None:
    log.append(run_id, [text.encode() for _step, text in rows])


def _task_of(emit: dict[str, Any]) -> tuple[Any, Any]:
    # A subgraph's emits come before the step of the top-level task that ran the subgraph.
    if "parent_task_id" in emit:
        return emit["parent_task_id"], emit.get("parent_attempt")
    return emit.get("task_id"), emit.get("attempt")


def split_id(seq: int) -> tuple[int, int]:
    """(history position, log offset) of a stream id."""
    return seq & MAX_POSITION, seq >> POSITION_BITS


def merge_progress(steps: Sequence[tuple[int, dict[str, Any]]],
                   emits: Sequence[tuple[int, dict[str, Any]]], after: int) -> list[tuple[int, dict[str, Any]]]:
    """Step events (``(position, event)``) and emits (``(end offset, record)``) after stream id
    ``after``, in one order: a task's emits before the step event of its result (an activity
    writes them all before it returns), otherwise as written. Ids: ``offset * 2**23 + position``."""
    position, offset = split_id(after)
    last_emit = {_task_of(e): i for i, (_, e) in enumerate(emits)}
    merged: list[tuple[int, dict[str, Any]]] = []
    taken = 0

    def take_emits(upto: int) -> None:
        nonlocal offset, taken
        for end, record in emits[taken:upto]:
            offset = end
            merged.append((offset << POSITION_BITS | position, record))
        taken = max(taken, upto)

    for step_position, event in steps:
        take_emits(last_emit.get((event.get("task_id"), event.get("attempt")), -1) + 1)
        position = step_position
        merged.append((offset << POSITION_BITS | position, event))
    take_emits(len(emits))
    return merged


__all__ = ["HUB_SETTING", "MAX_POSITION", "POSITION_BITS", "EmitChannel", "merge_progress", "split_id"]

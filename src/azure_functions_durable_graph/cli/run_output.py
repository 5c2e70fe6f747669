"""What ``durable-graph run`` shows of a run's stream: progress lines, or one JSON line per event.

:class:`Progress` writes the steps, waits and the nodes' emits as lines (tokens inline, as they
come); :class:`JsonLines` writes every streamed event as one compact JSON document.
:class:`Timings` measures how long each task took from the engine's own progress callbacks,
which fire as each transition is stored, so a duration does not depend on when the stream
read it.
"""

from __future__ import annotations

import json
import time
from typing import Any, TextIO


def compact(data: Any, *, ascii_only: bool = False) -> str:
    """``data`` as one line of JSON (non-ASCII characters escaped with ``ascii_only``)."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=ascii_only, default=str)


class Timings:
    """Task durations, from the engine's progress listener (``LocalEngine.add_listener``)."""

    def __init__(self) -> None:
        self._started: dict[tuple[str, str], float] = {}
        self._took: dict[tuple[str, str, int], float] = {}

    def on_events(self, instance_id: str, seq: int, events: list[dict[str, Any]]) -> None:
        """Note when tasks start and end (called after each stored transition of any run)."""
        now = time.perf_counter()
        for event in events:
            kind = event["type"]
            if kind == "step_started":
                for task in event["tasks"]:
                    self._started[(instance_id, task["task_id"])] = now
            elif kind == "task_retrying":
                self._started[(instance_id, event["task_id"])] = now
            elif kind in ("task_completed", "task_failed"):
                began = self._started.pop((instance_id, event["task_id"]), now)
                self._took[(instance_id, event["task_id"], event.get("attempt", 1))] = now - began

    def took_ms(self, instance_id: str, task_id: str, attempt: int) -> float:
        """Milliseconds the task's attempt took (0 when it was not seen starting)."""
        return self._took.pop((instance_id, task_id, attempt), 0.0) * 1000


class Progress:
    """Progress lines: a live line with a spinner on a terminal, plain lines otherwise.

    Emits of kind ``token`` are written as they come, without a newline, after
    ``token  NODE: ``; the next other line starts on a new line. Other emits are one line each,
    ``emit   NODE: JSON`` (``emit   NODE [KIND]: JSON`` for a kind other than ``custom``).
    """

    FRAMES = "|/-\\"

    def __init__(self, stream: TextIO, timings: Timings | None = None, instance_id: str = "") -> None:
        self.stream = stream
        self.instance_id = instance_id
        self.tty = stream.isatty()
        self.timings = timings or Timings()
        self.frame = 0
        self.tokens_of: tuple[str, int] | None = None  # (task_id, attempt) of the open token line

    def show(self, event: dict[str, Any]) -> None:
        """Write what ``event`` (one event of the run's stream) says."""
        kind = event["type"]
        if kind == "step_started":
            names = ", ".join(t["node"] for t in event["tasks"])
            self._live(f"step {event['step']}: running {names}")
        elif kind == "task_completed":
            took = self.timings.took_ms(self.instance_id, event["task_id"], event.get("attempt", 1))
            self._line(f"ok     {event['node']} (step {event['step']}, {took:.0f} ms)")
        elif kind == "task_failed":
            retry = " - will retry" if event.get("will_retry") else ""
            self.timings.took_ms(self.instance_id, event["task_id"], event.get("attempt", 1))
            self._line(f"failed {event['node']} attempt {event['attempt']}: {event['error'].get('message')}{retry}")
        elif kind == "waiting":
            self._line(f"wait   {event['node']} is waiting for event '{event['event']}'")
        elif kind == "emit":
            self._emit(event)
        elif kind == "emits_dropped":
            self._line(f"dropped {event['dropped']} earlier emits (over the run's emit limit)")

    def _emit(self, event: dict[str, Any]) -> None:
        who = event["node"] if event.get("attempt", 1) <= 1 else f"{event['node']} (attempt {event['attempt']})"
        data = event.get("data")
        if event.get("kind") == "token":
            key = (str(event.get("task_id")), int(event.get("attempt", 1)))
            if self.tokens_of != key:
                self._end_tokens()
                self._clear()
                self.stream.write(f"token  {who}: ")
                self.tokens_of = key
            self.stream.write(data if isinstance(data, str) else compact(data))
            self.stream.flush()
            return
        kind = event.get("kind", "custom")
        self._line(f"emit   {who}{'' if kind == 'custom' else f' [{kind}]'}: {compact(data)}")

    def _end_tokens(self) -> None:
        if self.tokens_of is not None:
            self.stream.write("\n")
            self.tokens_of = None

    def _clear(self) -> None:
        if self.tty:
            self.stream.write("\r\x1b[2K")

    def _live(self, text: str) -> None:
        if self.tty and self.tokens_of is None:  # never over a line of tokens
            self.frame = (self.frame + 1) % len(self.FRAMES)
            self.stream.write(f"\r\x1b[2K{self.FRAMES[self.frame]} {text}")
            self.stream.flush()

    def _line(self, text: str) -> None:
        self._end_tokens()
        self._clear()
        self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self) -> None:
        """End an open line of tokens and clear the live line."""
        self._end_tokens()
        self._clear()
        self.stream.flush()


class JsonLines:
    """Every streamed event as one line of JSON, as it comes."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def show(self, event: dict[str, Any]) -> None:
        """Write ``event`` as one line."""
        self.stream.write(compact(event, ascii_only=True) + "\n")
        self.stream.flush()

    def finish(self) -> None:
        """Nothing is left open."""


__all__ = ["JsonLines", "Progress", "Timings", "compact"]

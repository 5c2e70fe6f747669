"""Finding an event a run already took, by its id, in what Durable shows of the run.

Every graph event reaches the orchestrator as one ``INPUT_EVENT`` whose message carries the
caller's id (``protocol.input_message``); the orchestrator applies an id once (the snapshot
keeps consumed ids, core's ``apply_event``). The client backend reads the same places to answer
a repeated id as the first send: the ``EventRaised`` events of the current generation's
history, and, after continue-as-new, the snapshot the generation started from (its inbox keeps
payloads; of consumed events it keeps only the ids).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .history_view import decoded
from .protocol import INPUT_EVENT


@dataclass(frozen=True)
class SentEvent:
    """An event the run took: its name and payload (None for both when only the id is known)."""

    name: str | None
    payload: Any = None

    @property
    def known(self) -> bool:
        """Whether name and payload are known (not only the id)."""
        return self.name is not None


def _event_type(event: Any) -> str:
    raw = event.get("EventType", event.get("eventType"))
    return "EventRaised" if raw == 6 else str(raw)  # 6: HistoryEventType.EventRaised


def find_sent_event(durable_status: Any, event_id: str) -> SentEvent | None:
    """The event with ``event_id`` the run took, from its history and input; None if none."""
    events = getattr(durable_status, "historyEvents", None) or getattr(durable_status, "history", None) or []
    for event in events:
        if not isinstance(event, dict) or _event_type(event) != "EventRaised" \
                or event.get("Name", event.get("name")) != INPUT_EVENT:
            continue
        message = decoded(decoded(event.get("Input", event.get("input"))))
        if isinstance(message, dict) and message.get("kind") == "event" and message.get("id") == event_id:
            return SentEvent(str(message.get("name")), message.get("payload"))
    payload = decoded(getattr(durable_status, "input_", None))
    snapshot = payload.get("snapshot") if isinstance(payload, dict) else None
    if not isinstance(snapshot, dict):
        return None
    for item in snapshot.get("inbox") or []:
        if isinstance(item, dict) and item.get("id") == event_id:
            return SentEvent(str(item.get("name")), item.get("payload"))
    if event_id in (snapshot.get("consumed_events") or []):
        return SentEvent(None)  # consumed before a continue-as-new: its payload is gone
    return None


__all__ = ["SentEvent", "find_sent_event"]

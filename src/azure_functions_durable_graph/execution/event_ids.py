"""The caller's event id (``x-event-id``): its limits, and what a repeated id means.

Both engines apply the one rule: an id names one event of one run. Sending it again with the
same event name and payload (compared as canonical JSON) is a retry and gets the first answer,
also after the run finished; the same id with another name or payload is a conflict, never a
silently dropped event.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic_core import to_jsonable_python

from ..graph.errors import InvalidInputError, RunConflictError
from ..graph.registration import GraphRegistration
from .executor import validate_event_payload

MAX_EVENT_ID_LENGTH = 200
EVENT_ID_CONFLICT = "EVENT_ID_CONFLICT"


def check_event_id(event_id: Any, *, instance_id: str, event_name: str) -> str | None:
    """``event_id`` when it is usable (None: the engine makes one); InvalidInputError if not."""
    if event_id is None:
        return None
    if not isinstance(event_id, str) or not 1 <= len(event_id) <= MAX_EVENT_ID_LENGTH:
        shown = f"{len(event_id)} characters" if isinstance(event_id, str) else type(event_id).__name__
        raise InvalidInputError(
            f"run '{instance_id}' event '{event_name}': the event id must be a string of 1 to "
            f"{MAX_EVENT_ID_LENGTH} characters, got {shown}",
            details={"instance_id": instance_id, "event": event_name, "max_length": MAX_EVENT_ID_LENGTH},
        )
    return event_id


def canonical_json(value: Any) -> str:
    """``value`` in JSON mode, as text with sorted keys and no spaces: equal values, equal text."""
    return json.dumps(to_jsonable_python(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def check_repeated_event(registration: GraphRegistration | None, instance_id: str, event_id: str, *,
                         sent: tuple[str, Any], first: tuple[str, Any], first_read: bool = False) -> None:
    """RunConflictError ``EVENT_ID_CONFLICT`` unless ``sent`` (name, payload) is ``first``.

    Payloads are compared as the run's event model reads them (``registration``; None: as
    sent), so a retry that leaves out a defaulted field is still the same event. ``first_read``
    says ``first`` holds the payload as read already (the Azure engine sends that one).
    """
    same = sent[0] == first[0] and _read(registration, *sent) == (
        canonical_json(first[1]) if first_read else _read(registration, *first))
    if same:
        return
    what = "event name" if sent[0] != first[0] else "payload"
    raise RunConflictError(
        f"run '{instance_id}': event id '{event_id}' was already used for event '{first[0]}' "
        f"with another {what}; send a new id for a new event",
        code=EVENT_ID_CONFLICT,
        details={"instance_id": instance_id, "event_id": event_id, "event": first[0]},
    )


def _read(registration: GraphRegistration | None, name: str, payload: Any) -> str:
    if registration is None:
        return canonical_json(payload)
    try:
        return canonical_json(validate_event_payload(registration, name, payload))
    except InvalidInputError:  # a payload stored under other code: compared as it was sent
        return canonical_json(payload)


__all__ = ["EVENT_ID_CONFLICT", "MAX_EVENT_ID_LENGTH", "canonical_json", "check_event_id",
           "check_repeated_event"]

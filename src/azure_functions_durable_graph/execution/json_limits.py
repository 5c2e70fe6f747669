"""The one rule for JSON values a caller gives an engine: run input, metadata, event payloads.

Every engine stores these values and reads them back many times (the local engine's store, the
Durable host's history and its JSON reader), so a value is accepted only if every reader on the
way can decode it again:

- **At most** :data:`MAX_JSON_DEPTH` **nested arrays/objects**, counting the value itself (``{}``
  is 1 level, ``{"a": []}`` is 2). The readers stop far above it: pydantic-core's parser at about
  200 levels, Python's ``json`` near its recursion limit, and Json.NET (the Durable host's JSON
  library) at 64 levels by default, around which the engines add a few levels of their own
  (a run's input wraps its state, a snapshot wraps the state again).
- **Finite numbers only**: ``NaN`` and infinities are not JSON (RFC 8259), and ``1e400``, which
  overflows to infinity, would be stored as ``null``.

The HTTP API, ``LocalEngine.start``/``raise_event``, the Azure backend and ``invoke`` apply
the rule before anything is stored; a refusal is :class:`InvalidInputError` with the code
``INVALID_JSON`` (HTTP 400), one line naming the graph and where the value is at fault.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from ..graph.errors import InvalidInputError

MAX_JSON_DEPTH = 32
CODE = "INVALID_JSON"


def json_value_problem(value: Any, max_depth: int = MAX_JSON_DEPTH) -> tuple[str | None, str] | None:
    """``(top-level key or None, problem)`` of the first part of ``value`` breaking the rule.

    The walk is iterative (no recursion limit to hit) and stops at the first problem, so a
    value nested thousands of levels deep (or a container holding itself) costs only the walk
    down to the limit.
    """
    if isinstance(value, BaseModel):
        value = value.model_dump()
    stack: list[tuple[Any, int, str | None]] = [(value, 0, None)]
    while stack:
        item, depth, top = stack.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                return top, f"holds the number {item!r}, which is not a JSON number (only finite numbers are)"
            continue
        if isinstance(item, Mapping):
            children: Any = item.items()
        elif isinstance(item, (list, tuple, set, frozenset)):
            children = ((None, child) for child in item)
        else:
            continue
        if depth + 1 > max_depth:
            return top, f"is nested more than {max_depth} levels deep (the limit for JSON values)"
        for key, child in children:
            child_top = top if depth > 0 or key is None else str(key)
            stack.append((child, depth + 1, child_top))
    return None


def check_json_value(value: Any, where: str, *, graph: str, by_field: bool = False) -> None:
    """Refuse ``value`` (INVALID_JSON) when it breaks the rule; ``where`` names it in the message.

    With ``by_field`` the message names the top-level field at fault (``input field 'data'``).
    """
    found = json_value_problem(value)
    if found is None:
        return
    top, problem = found
    place = f"{where} field '{top}'" if by_field and top is not None else where
    raise InvalidInputError(
        f"graph '{graph}': {place} {problem}",
        code=CODE, details={"where": place, "max_depth": MAX_JSON_DEPTH},
    )


def check_start_json(graph: str, input: Any, metadata: Any) -> None:
    """The rule for a run's start: its input (named by field) and its metadata."""
    check_json_value(input, "input", graph=graph, by_field=True)
    check_json_value(metadata, "metadata", graph=graph)


def check_event_json(graph: str, event: str, payload: Any) -> None:
    """The rule for an event's payload."""
    check_json_value(payload, f"payload of event '{event}'", graph=graph)


__all__ = [
    "MAX_JSON_DEPTH",
    "check_event_json",
    "check_json_value",
    "check_start_json",
    "json_value_problem",
]

"""Chat messages as JSON: what a field with the ``messages`` reducer holds.

A message is a JSON object with a ``type`` (``human``, ``ai``, ``system``, ``tool``, ...), its
``content`` and an ``id``, the flat form of a LangChain message (``HumanMessage(...).model_dump()``
without the fields left at their defaults). :func:`coerce_messages` turns what a node may return
for such a field (a message dict, a string, an OpenAI-style ``{"role", "content"}`` dict, a
``(role, content)`` pair, a LangChain message object, or a list of those) into message dicts.

:func:`to_message_dicts` and :func:`from_message_dicts` convert LangChain message objects to and
from that form. ``langchain_core`` is an optional dependency: it is imported only inside those
functions, and a missing install raises :class:`LangChainNotInstalledError`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from .errors import DurableGraphError, InvalidUpdateError

# OpenAI-style roles (and LangChain's tuple roles) and the message type each stands for.
ROLE_TYPES: dict[str, str] = {
    "human": "human",
    "user": "human",
    "ai": "ai",
    "assistant": "ai",
    "system": "system",
    "tool": "tool",
    "function": "function",
    "remove": "remove",
}


class LangChainNotInstalledError(DurableGraphError):
    """Converting LangChain message objects needs ``langchain_core``, which is not installed."""

    code = "LANGCHAIN_NOT_INSTALLED"


def _langchain_messages() -> Any:
    try:
        import langchain_core.messages as lc_messages
    except ImportError:
        raise LangChainNotInstalledError(
            "converting LangChain messages needs langchain-core; install it with "
            "'pip install langchain-core'"
        ) from None
    return lc_messages


def _items(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)) and not _is_pair(value):
        return list(value)
    return [value]


def _is_pair(value: Any) -> bool:
    return isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, str) for v in value)


def _from_role(field: str, role: Any, rest: dict[str, Any]) -> dict[str, Any]:
    kind = ROLE_TYPES.get(role) if isinstance(role, str) else None
    if kind is None:
        raise InvalidUpdateError(
            f"field '{field}': message role {role!r} is not one of {', '.join(sorted(ROLE_TYPES))}"
        )
    return {"type": kind, **rest}


def _message_dict(field: str, item: Any, lc_messages: Any) -> dict[str, Any]:
    if isinstance(item, str):
        return {"type": "human", "content": item}
    if _is_pair(item):
        return _from_role(field, item[0], {"content": item[1]})
    if isinstance(item, dict):
        if "type" not in item and "role" in item:
            rest = {k: v for k, v in item.items() if k != "role"}
            return _from_role(field, item["role"], rest)
        if isinstance(item.get("type"), str):
            return dict(item)
    if lc_messages is not None and isinstance(item, lc_messages.BaseMessage):
        return _object_to_dict(item, lc_messages)
    raise InvalidUpdateError(
        f"field '{field}' holds messages: give a message dict with a 'type' (or 'role'), a string, "
        f"a (role, content) pair or a LangChain message, got {type(item).__name__}"
    )


def coerce_messages(field: str, value: Any) -> list[dict[str, Any]]:
    """What a node returned for messages field ``field``, as a list of message dicts.

    LangChain message objects are converted only when ``langchain_core`` is already imported
    (a process without it cannot have made one). Ids are left as given: messages without one
    are given one by the executor.
    """
    lc_messages = sys.modules.get("langchain_core.messages")
    return [_message_dict(field, item, lc_messages) for item in _items(value)]


def _object_to_dict(message: Any, lc_messages: Any) -> dict[str, Any]:
    if isinstance(message, lc_messages.BaseMessageChunk):
        message = lc_messages.message_chunk_to_message(message)
    data: dict[str, Any] = message.model_dump(mode="json", exclude_defaults=True)
    data["type"] = message.type
    data.setdefault("content", message.content)
    return data


def to_message_dicts(value: Any) -> list[dict[str, Any]]:
    """LangChain message object(s) (also dicts, strings, pairs) as JSON message dicts.

    Raises :class:`LangChainNotInstalledError` when ``langchain_core`` is not installed.
    """
    lc_messages = _langchain_messages()
    return [_message_dict("messages", item, lc_messages) for item in _items(value)]


def from_message_dicts(dicts: Iterable[dict[str, Any]] | dict[str, Any]) -> list[Any]:
    """JSON message dicts (a list, or one) as LangChain message objects.

    Raises :class:`LangChainNotInstalledError` when ``langchain_core`` is not installed.
    """
    lc_messages = _langchain_messages()
    items = [dicts] if isinstance(dicts, dict) else list(dicts)
    normalized = [_message_dict("messages", item, None) for item in items]
    return list(lc_messages.messages_from_dict([{"type": m["type"], "data": m} for m in normalized]))


__all__ = [
    "LangChainNotInstalledError",
    "ROLE_TYPES",
    "coerce_messages",
    "from_message_dicts",
    "to_message_dicts",
]

"""Reducers: how a node's update to a state field is combined with the current value.

Reducers are declared on the state model with ``typing.Annotated``::

    class State(BaseModel):
        log: Annotated[list[str], reducers.append] = []
        total: Annotated[int, operator.add] = 0
        tags: Annotated[list[str], "union"] = []
        messages: Annotated[list[dict], reducers.messages] = []

Built-in reducers are known by name, travel in the manifest, and are applied by the pure
interpreter on JSON values. A custom callable ``(current, update) -> new`` is marked ``custom``
in the manifest and runs with the user's code (never in the interpreter).
"""

from __future__ import annotations

import operator
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Union

from .errors import InvalidUpdateError

REPLACE = "replace"
APPEND = "append"
EXTEND = "extend"
MERGE = "merge"
ADD = "add"
UNION = "union"
MESSAGES = "messages"
CUSTOM = "custom"

BUILTIN_REDUCERS: tuple[str, ...] = (REPLACE, APPEND, EXTEND, MERGE, ADD, UNION, MESSAGES)

REMOVE_ALL_MESSAGES = "__remove_all__"
"""The id of a ``{"type": "remove", "id": ...}`` message that clears every message before it."""


@dataclass(frozen=True)
class Reducer:
    """A named built-in reducer, used as ``Annotated[list[str], reducers.append]``."""

    name: str

    def __repr__(self) -> str:
        return f"reducers.{self.name}"


replace = Reducer(REPLACE)
append = Reducer(APPEND)
extend = Reducer(EXTEND)
merge = Reducer(MERGE)
add = Reducer(ADD)
union = Reducer(UNION)
messages = Reducer(MESSAGES)
"""LangGraph's ``add_messages`` on JSON message dicts: append, replace by ``id``, remove."""

ReducerFunction = Callable[[Any, Any], Any]

# Annotated metadata from these modules is validation, never a reducer.
_PYDANTIC_MODULES = frozenset({"pydantic.functional_validators", "pydantic.functional_serializers",
                               "annotated_types", "pydantic.fields", "pydantic.types"})


@dataclass(frozen=True)
class FieldReducer:
    """The reducer resolved for one state field."""

    name: str
    function: ReducerFunction | None = None  # set only for custom reducers


def reducer_from_metadata(metadata: Sequence[object]) -> FieldReducer | None:
    """Find the reducer declared in a field's ``Annotated`` metadata, if any.

    The last reducer-like item wins, as with nested ``Annotated``.
    """
    found: FieldReducer | None = None
    for item in metadata:
        if isinstance(item, Reducer):
            found = FieldReducer(item.name)
        elif isinstance(item, str) and item in BUILTIN_REDUCERS:
            found = FieldReducer(item)
        elif item is operator.add:
            found = FieldReducer(ADD)
        elif isinstance(item, (types.FunctionType, types.BuiltinFunctionType, types.MethodType, partial)) or (
            callable(item) and not isinstance(item, type) and type(item).__module__ not in _PYDANTIC_MODULES
        ):
            found = FieldReducer(CUSTOM, item)
    return found


def _strip_optional(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _strip_optional(args[0])
    if origin is typing.Annotated:
        return _strip_optional(typing.get_args(annotation)[0])
    return annotation


_LIST_ORIGINS: tuple[Any, ...] = (list, set, frozenset, tuple, Sequence, typing.MutableSequence)


def reducer_fits(name: str, annotation: Any) -> bool:
    """Whether the built-in reducer ``name`` can apply to a field of type ``annotation``."""
    if name in (REPLACE, CUSTOM):
        return True
    bare = _strip_optional(annotation)
    if bare is Any:
        return True
    origin = typing.get_origin(bare) or bare
    is_list = origin in _LIST_ORIGINS or (
        isinstance(origin, type) and issubclass(origin, (list, tuple, set, frozenset))
    )
    if name in (APPEND, EXTEND, UNION, MESSAGES):
        return is_list
    if name == MERGE:
        return origin in (dict, Mapping, typing.MutableMapping) or (
            isinstance(origin, type) and issubclass(origin, dict)
        )
    if name == ADD:
        if is_list:
            return True
        return isinstance(origin, type) and (
            issubclass(origin, (int, float, str)) and origin is not bool
        )
    return False


def apply_builtin(name: str, field: str, current: Any, update: Any) -> Any:
    """Combine ``current`` and ``update`` (JSON values) with the built-in reducer ``name``."""
    if name == REPLACE:
        return update
    if name == APPEND:
        base = list(current) if current is not None else []
        base.append(update)
        return base
    if name == EXTEND:
        if not isinstance(update, list):
            raise InvalidUpdateError(
                f"field '{field}' uses the 'extend' reducer and needs a list, got {type(update).__name__}"
            )
        return (list(current) if current is not None else []) + update
    if name == UNION:
        items = update if isinstance(update, list) else [update]
        merged = list(current) if current is not None else []
        for item in items:
            if item not in merged:
                merged.append(item)
        return merged
    if name == MERGE:
        if not isinstance(update, dict):
            raise InvalidUpdateError(
                f"field '{field}' uses the 'merge' reducer and needs an object, got {type(update).__name__}"
            )
        return {**(current or {}), **update}
    if name == ADD:
        if current is None:
            return update
        if isinstance(current, list):
            if not isinstance(update, list):
                raise InvalidUpdateError(
                    f"field '{field}' uses the 'add' reducer on a list and needs a list, got {type(update).__name__}"
                )
            return current + update
        try:
            return current + update
        except TypeError as exc:
            raise InvalidUpdateError(
                f"field '{field}' uses the 'add' reducer but {current!r} + {update!r} failed: {exc}"
            ) from exc
    if name == MESSAGES:
        return merge_messages(field, current, update)
    raise InvalidUpdateError(f"field '{field}' has unknown reducer '{name}'")


def _as_message(field: str, item: Any) -> dict[str, Any]:
    if isinstance(item, str):
        return {"type": "human", "content": item}
    if not isinstance(item, dict) or not isinstance(item.get("type"), str):
        raise InvalidUpdateError(
            f"field '{field}' uses the 'messages' reducer and needs message objects with a 'type' "
            f"(or strings), got {item!r:.80}"
        )
    if item["type"] == "remove" and not isinstance(item.get("id"), str):
        raise InvalidUpdateError(f"field '{field}': a remove message needs a string 'id', got {item!r:.80}")
    return item


def merge_messages(field: str, current: Any, update: Any) -> list[Any]:
    """``add_messages`` on JSON: ``update`` is a message dict, a string or a list of them.

    A message whose ``id`` equals an existing one replaces it in place, others are appended;
    ``{"type": "remove", "id": X}`` drops message X (an unknown X is an InvalidUpdateError), and
    ``{"type": "remove", "id": "__remove_all__"}`` drops every message before it. A message
    without an ``id`` is appended and never matched (executors assign ids before this runs).
    A string is a human message. ``current`` is not modified.
    """
    incoming = [_as_message(field, item) for item in (update if isinstance(update, list) else [update])]
    merged: list[Any] = list(current) if current is not None else []
    for index in range(len(incoming) - 1, -1, -1):
        item = incoming[index]
        if item["type"] == "remove" and item["id"] == REMOVE_ALL_MESSAGES:
            merged, incoming = [], incoming[index + 1:]
            break
    position = {
        m["id"]: i for i, m in enumerate(merged) if isinstance(m, dict) and m.get("id") is not None
    }
    removed: set[Any] = set()
    for item in incoming:
        key = item.get("id")
        if item["type"] == "remove":
            if key not in position:
                raise InvalidUpdateError(
                    f"field '{field}' uses the 'messages' reducer: cannot remove message id {key!r}, "
                    "no message has it"
                )
            removed.add(key)
        elif key is not None and key in position:
            removed.discard(key)
            merged[position[key]] = item
        else:
            if key is not None:
                position[key] = len(merged)
            merged.append(item)
    if removed:
        merged = [m for m in merged if not (isinstance(m, dict) and m.get("id") in removed)]
    return merged


__all__ = [
    "ADD",
    "APPEND",
    "BUILTIN_REDUCERS",
    "CUSTOM",
    "EXTEND",
    "FieldReducer",
    "MERGE",
    "MESSAGES",
    "REMOVE_ALL_MESSAGES",
    "REPLACE",
    "Reducer",
    "UNION",
    "add",
    "append",
    "apply_builtin",
    "extend",
    "merge",
    "merge_messages",
    "messages",
    "reducer_fits",
    "reducer_from_metadata",
    "replace",
    "union",
]

"""Reading a Pydantic state model: its reducers and its JSON Schema."""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel

from .reducers import REPLACE, FieldReducer, reducer_from_metadata


def is_state_model(value: object) -> bool:
    """Whether ``value`` is a Pydantic v2 model class."""
    return (
        isinstance(value, type) and issubclass(value, BaseModel) and hasattr(value, "model_fields")
    )


def state_reducers(model: type[BaseModel]) -> dict[str, FieldReducer]:
    """The reducer of every field of ``model`` (``replace`` where none is declared)."""
    result: dict[str, FieldReducer] = {}
    for name, info in model.model_fields.items():
        found = reducer_from_metadata(info.metadata) or reducer_from_metadata(
            _union_metadata(info.annotation)
        )
        result[name] = found or FieldReducer(REPLACE)
    return result


def _union_metadata(annotation: object) -> list[object]:
    """Reducer markers inside ``Annotated[...] | None`` (pydantic keeps them in the union)."""
    found: list[object] = []
    for arg in typing.get_args(annotation):
        if typing.get_origin(arg) is typing.Annotated:
            found.extend(arg.__metadata__)
    return found


def state_json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema of ``model`` in validation mode (what a run's input must satisfy)."""
    return model.model_json_schema(mode="validation")


__all__ = ["is_state_model", "state_json_schema", "state_reducers"]

"""Reading a Pydantic state model: its reducers and its JSON Schema."""

from __future__ import annotations

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
        found = reducer_from_metadata(info.metadata)
        result[name] = found or FieldReducer(REPLACE)
    return result


def state_json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema of ``model`` in validation mode (what a run's input must satisfy)."""
    return model.model_json_schema(mode="validation")


__all__ = ["is_state_model", "state_json_schema", "state_reducers"]

"""A run's input, checked against the graph's input model before it becomes the first state.

Every engine's start (``invoke``, the local engine, the Azure client backend, and so both HTTP
APIs) goes through :func:`~.driver.new_state`, which calls :func:`check_start_input`. A
subgraph's child run does not: its input is the parent's state fields, which may include the
child's internal ones, so it is checked against the state model only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from ..graph.errors import InvalidInputError


def check_start_input(graph: str, model: type[BaseModel] | None, value: Any) -> Any:
    """``value`` as the state fields it gives (InvalidInputError naming graph and field).

    Without an input model ``value`` is returned as is (the state model checks it). With one,
    ``value`` (a dict, an instance of the input model, another model's explicitly set fields, or
    None) may hold only the input model's fields; validated, they are returned as a dict, so
    every other state field starts at its default.
    """
    if model is None:
        return value
    if isinstance(value, model):
        data: Any = value.model_dump()
    elif isinstance(value, BaseModel):
        data = value.model_dump(exclude_unset=True)
    else:
        data = {} if value is None else value
    if not isinstance(data, Mapping):
        raise InvalidInputError(
            f"graph '{graph}': input must be a JSON object of {model.__name__}'s fields, "
            f"got {type(data).__name__}"
        )
    known = _input_keys(model)
    unknown = [key for key in data if key not in known]
    if unknown:
        details = [{"type": "extra_forbidden", "loc": [key], "msg": "Extra inputs are not permitted",
                    "input": data[key]} for key in unknown]
        raise InvalidInputError(
            f"graph '{graph}': input field '{unknown[0]}' is not a field of the input model "
            f"{model.__name__} (accepted: {', '.join(sorted(model.model_fields)) or 'none'}; "
            f"{len(unknown)} unknown field(s))",
            details=details,
        )
    try:
        instance = model.model_validate(dict(data))
    except ValidationError as exc:
        raise invalid_input(graph, exc) from None
    # Only the input model's own fields: a model configured extra="allow" keeps no extras here.
    return {name: getattr(instance, name) for name in model.model_fields}


def invalid_input(graph: str, exc: ValidationError) -> InvalidInputError:
    """The one-line INVALID_INPUT error of a failed validation, naming the first field."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "(root)"
    return InvalidInputError(
        f"graph '{graph}': input is invalid: {where}: {first.get('msg')} ({exc.error_count()} error(s))",
        details=exc.errors(include_url=False, include_context=False),
    )


def _input_keys(model: type[BaseModel]) -> set[str]:
    """Field names and their string aliases: either may name a field in the input."""
    keys = set(model.model_fields)
    for info in model.model_fields.values():
        for alias in (info.alias, info.validation_alias):
            if isinstance(alias, str):
                keys.add(alias)
    return keys


__all__ = ["check_start_input", "invalid_input"]

"""A graph's input model: the fields a caller gives when starting a run.

By default a run starts from the whole state model. A graph whose state holds internal fields
(drafts, counters, logs) declares ``input_model=``: a Pydantic model whose fields are a subset of
the state's, each with a type the state's field accepts. Only those fields are asked for by the
start operation, its OpenAPI schema and the inspector's start form; the rest of the state starts
at its defaults.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from .errors import ValidationProblem
from .state import is_state_model

INPUT_MODEL_INVALID = "INPUT_MODEL_INVALID"

_UNIONS = (typing.Union, types.UnionType)


def input_model_problems(graph: str, state_model: Any, input_model: Any) -> list[ValidationProblem]:
    """Why ``input_model`` cannot start runs of a graph with ``state_model`` (empty when it can).

    ``state_model`` is assumed valid (the caller checks it first).
    """
    if input_model is None or input_model is state_model:
        return []

    def problem(message: str, field: str | None = None) -> ValidationProblem:
        extra = {"field": field} if field is not None else {}
        return ValidationProblem(INPUT_MODEL_INVALID, f"graph '{graph}': {message}", extra=extra)

    if not is_state_model(input_model):
        return [problem(f"input_model must be a Pydantic v2 BaseModel subclass, got {input_model!r}")]
    state_fields = state_model.model_fields
    problems: list[ValidationProblem] = []
    name = input_model.__name__
    for field_name, info in input_model.model_fields.items():
        target = state_fields.get(field_name)
        if target is None:
            problems.append(problem(
                f"input_model {name} field '{field_name}' is not a field of the state model "
                f"{state_model.__name__}", field_name))
        elif not annotation_fits(info.annotation, target.annotation):
            problems.append(problem(
                f"input_model {name} field '{field_name}' has type {_show(info.annotation)}, which the "
                f"state field of type {_show(target.annotation)} does not accept", field_name))
    for field_name, info in state_fields.items():
        # A required state field the input cannot give would fail every start.
        if info.is_required() and field_name not in input_model.model_fields:
            problems.append(problem(
                f"state field '{field_name}' is required but input_model {name} does not declare it",
                field_name))
    return problems


def annotation_fits(given: Any, accepted: Any) -> bool:
    """Whether every value of type ``given`` is a value of type ``accepted``.

    Structural and conservative: equal types, ``Any``, a subclass, a member of a union, or the
    same generic with fitting arguments. ``Annotated`` metadata (reducers, constraints) is ignored.
    """
    given, accepted = _bare(given), _bare(accepted)
    if accepted is Any or given == accepted:
        return True
    if given is Any:
        return False
    if typing.get_origin(given) in _UNIONS:
        return all(annotation_fits(arg, accepted) for arg in typing.get_args(given))
    if typing.get_origin(given) is typing.Literal:
        return all(annotation_fits(type(v), accepted) for v in typing.get_args(given))
    if typing.get_origin(accepted) in _UNIONS:
        return any(annotation_fits(given, arg) for arg in typing.get_args(accepted))
    given_origin, accepted_origin = typing.get_origin(given), typing.get_origin(accepted)
    if given_origin is None and accepted_origin is None:
        return isinstance(given, type) and isinstance(accepted, type) and issubclass(given, accepted)
    if accepted_origin is None:  # ``list[str]`` fits a bare ``list``
        return isinstance(accepted, type) and isinstance(given_origin, type) and issubclass(given_origin, accepted)
    if given_origin != accepted_origin:
        return False
    given_args, accepted_args = typing.get_args(given), typing.get_args(accepted)
    if len(given_args) != len(accepted_args):
        return False
    return all(annotation_fits(g, a) for g, a in zip(given_args, accepted_args, strict=True))


def _bare(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _show(annotation: Any) -> str:
    bare = _bare(annotation)
    return bare.__name__ if isinstance(bare, type) else str(bare).replace("typing.", "")


__all__ = ["INPUT_MODEL_INVALID", "annotation_fits", "input_model_problems"]

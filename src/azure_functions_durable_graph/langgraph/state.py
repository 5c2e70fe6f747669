"""A LangGraph state schema as our Pydantic state model, and values across the boundary.

Every channel of the ``StateGraph`` (the keys of its state, input, output and node input
schemas) becomes a field: a ``LastValue`` channel replaces (``None`` until written, unless the
schema gives a default), a ``BinaryOperatorAggregate`` with ``operator.add`` uses our ``add``
reducer, ``add_messages`` the messages reducer, any other binary operator a custom reducer that
calls it. Messages travel as JSON dicts and are LangChain message objects inside nodes.
The managed values ``RemainingSteps`` and ``IsLastStep`` are no fields: a node (or branch)
reading one gets it computed from its task's step (see ``managed.py``).
"""

from __future__ import annotations

import contextvars
import copy
import dataclasses
import operator
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, Field, TypeAdapter, create_model

from ..graph import reducers
from .refusals import refuse

RESUME_FIELD = "lg_resume__"
"""Hidden field: the answers given so far to a node's ``interrupt()`` calls, by node."""
INTERRUPT_FIELD = "lg_interrupts__"
"""Hidden field: the value of each node's pending ``interrupt()``, by node."""
SEND_FIELD = "lg_send__"
"""Hidden field, only ever in a ``Send`` payload: the Send's argument, the node's whole input."""
AFTER_FIELD = "lg_after__"
"""Hidden field: the ``Command`` gotos of a node paused by ``interrupt_after``, by node."""
HIDDEN_FIELDS = (RESUME_FIELD, INTERRUPT_FIELD, SEND_FIELD, AFTER_FIELD)

REMAINING_STEPS = "remaining_steps"
"""Kind of a ``RemainingSteps`` key: the supersteps left before the recursion limit."""
IS_LAST_STEP = "is_last_step"
"""Kind of an ``IsLastStep`` key: whether one superstep is left."""
REMAINING: contextvars.ContextVar[int | None] = contextvars.ContextVar("lg_remaining_steps", default=None)
"""The remaining steps of the task being run (set around its node handler and router)."""


@dataclass(frozen=True)
class FieldPlan:
    """How one LangGraph channel is kept in our state."""

    name: str
    annotation: Any
    default: Any
    kind: str  # "value", "aggregate" or "messages"
    unset_when_none: bool  # a LastValue without default: None means never written


@dataclass(frozen=True)
class StatePlan:
    """The converted schema: our model, the fields, and the graph's input and output keys."""

    model: type[BaseModel]
    fields: Mapping[str, FieldPlan]
    input_model: type[BaseModel] | None
    input_keys: tuple[str, ...]
    output_keys: tuple[str, ...]
    schema_keys: Mapping[Any, tuple[str, ...]]
    managed: Mapping[str, str] = dataclasses.field(default_factory=dict)  # key -> kind

    @property
    def messages_keys(self) -> frozenset[str]:
        """Fields that hold messages."""
        return frozenset(n for n, f in self.fields.items() if f.kind == "messages")


class OperatorReducer:
    """A custom reducer that combines the current value and an update with a binary operator."""

    def __init__(self, function: Callable[[Any, Any], Any], initial_missing: bool) -> None:
        self.function = function
        self.initial_missing = initial_missing
        self.__name__ = getattr(function, "__name__", "operator")

    def __call__(self, current: Any, update: Any) -> Any:
        if current is None and self.initial_missing:
            return update
        return self.function(current, update)


class MessagesReducer:
    """LangGraph's ``add_messages`` over messages kept as JSON dicts."""

    __name__ = "add_messages"

    def __call__(self, current: Any, update: Any) -> Any:
        from langgraph.graph.message import add_messages

        merged = add_messages(messages_from_json(current or []), messages_from_json(update))
        return messages_to_json(merged)


def build_state_plan(builder: Any, graph: str) -> StatePlan:
    """Convert ``builder``'s channels and schemas (refusing channels and managed values it cannot map)."""
    from langgraph.channels import BinaryOperatorAggregate, LastValue
    from langgraph.graph.message import add_messages

    managed = managed_keys(builder, graph)
    hints: dict[str, Any] = {}
    defaults: dict[str, Any] = {}
    for schema in builder.schemas:
        hints.update({k: v for k, v in _hints(schema).items() if k not in hints})
        for key, value in _schema_defaults(schema).items():
            defaults.setdefault(key, value)
    fields: dict[str, FieldPlan] = {}
    definitions: dict[str, Any] = {}
    for name, channel in builder.channels.items():
        annotation = _bare(hints.get(name, Any))
        if type(channel) is LastValue:
            has_default = name in defaults
            plan = FieldPlan(name, _json_type(annotation, optional=not has_default),
                             defaults.get(name), "value", not has_default)
            definitions[name] = (plan.annotation, _default(plan.default))
        elif type(channel) is BinaryOperatorAggregate:
            initial = getattr(channel, "value", None)
            missing = not _is_json_value(initial)
            function = channel.operator
            reducer: Any
            if function is add_messages:
                # The built-in messages reducer where this version has one (it runs in the
                # interpreter); else add_messages itself as a custom reducer.
                builtin = getattr(reducers, "messages", None)
                kind, annotation = "messages", list[dict[str, Any]]
                reducer = builtin if builtin is not None else MessagesReducer()
                initial, missing = [], False
            elif function is operator.add:
                kind, reducer = "aggregate", reducers.add
            else:
                kind, reducer = "aggregate", OperatorReducer(function, missing)
            plan = FieldPlan(name, _json_type(annotation, optional=missing), None if missing else initial,
                             kind, False)
            definitions[name] = (Annotated[plan.annotation, reducer], _default(plan.default))
        else:
            raise refuse(graph, f"channel {type(channel).__name__} for state key '{name}'",
                         hint="use a plain key or an Annotated binary-operator reducer")
        fields[name] = plan
    definitions[RESUME_FIELD] = (Annotated[dict[str, list[Any]], reducers.merge], Field(default_factory=dict))
    definitions[INTERRUPT_FIELD] = (Annotated[dict[str, Any], reducers.merge], Field(default_factory=dict))
    definitions[SEND_FIELD] = (Any, None)
    definitions[AFTER_FIELD] = (Annotated[dict[str, list[str]], reducers.merge], Field(default_factory=dict))
    model = create_model(f"{_pascal(graph)}State", **definitions)
    schema_keys = {schema: tuple(keys) for schema, keys in builder.schemas.items()}
    # Managed values are never input or output (as in LangGraph).
    input_keys = tuple(k for k in schema_keys.get(builder.input_schema, tuple(fields)) if k not in managed)
    output_keys = tuple(k for k in schema_keys.get(builder.output_schema, tuple(fields)) if k not in managed)
    # Starting a run asks for the input schema's keys; the hidden fields are never input.
    inputs: dict[str, Any] = {k: (fields[k].annotation, _default(fields[k].default)) for k in input_keys if k in fields}
    input_model = create_model(f"{_pascal(graph)}Input", **inputs)
    return StatePlan(model, fields, input_model, input_keys, output_keys, schema_keys, managed)


def managed_keys(builder: Any, graph: str) -> dict[str, str]:
    """The builder's ``RemainingSteps`` / ``IsLastStep`` keys by kind; any other managed value refused."""
    if not builder.managed:
        return {}
    from langgraph.managed import IsLastStep, RemainingSteps

    kinds = {typing.get_args(RemainingSteps)[1]: REMAINING_STEPS, typing.get_args(IsLastStep)[1]: IS_LAST_STEP}
    found: dict[str, str] = {}
    for name, spec in builder.managed.items():
        kind = kinds.get(spec)
        if kind is None:
            raise refuse(graph, f"managed value {getattr(spec, '__name__', spec)} for state key '{name}'",
                         hint="declare a plain state key instead")
        found[name] = kind
    return found


def managed_value(plan: StatePlan, key: str) -> Any:
    """The value of managed key ``key`` for the task being run (from :data:`REMAINING`)."""
    remaining = REMAINING.get()
    if remaining is None:
        raise RuntimeError(f"managed value '{key}' read outside a node or branch of the graph")
    return remaining if plan.managed[key] == REMAINING_STEPS else remaining == 1


_ATOMIC = (str, int, float, bool, type(None))


def _private(value: Any) -> Any:
    """A copy of ``value`` the node may change in place without touching the run's state."""
    # Most values are scalars or flat lists and dicts of scalars: a shallow copy is a full one.
    if type(value) in _ATOMIC:
        return value
    if type(value) is list and all(type(item) in _ATOMIC for item in value):
        return value.copy()
    if type(value) is dict and all(type(item) in _ATOMIC for item in value.values()):
        return value.copy()
    return copy.deepcopy(value)


def node_input(plan: StatePlan, schema: Any, values: Mapping[str, Any]) -> Any:
    """The value a LangGraph node (or branch) of input ``schema`` reads from ``values``."""
    keys = plan.schema_keys.get(schema, tuple(plan.fields))
    data: dict[str, Any] = {}
    for key in keys:
        field = plan.fields.get(key)
        if field is None and key in plan.managed:
            data[key] = managed_value(plan, key)
            continue
        if field is None or key not in values:
            continue
        value = values[key]
        if value is None and field.unset_when_none:
            continue
        if field.kind == "messages":
            value = messages_from_json(value)
        data[key] = _private(value) if field.kind != "messages" else value
    if isinstance(schema, type) and (issubclass(schema, BaseModel) or dataclasses.is_dataclass(schema)):
        return schema(**data)
    return data


def state_values(state: BaseModel) -> dict[str, Any]:
    """The model's field values (Python objects), hidden fields included."""
    return {name: getattr(state, name) for name in type(state).model_fields}


def update_items(value: Any) -> list[tuple[str, Any]]:
    """The (key, value) writes of a node's return value that is not a Command."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        return list(value.items())
    if isinstance(value, BaseModel):
        defaults = {k: f.default for k, f in type(value).model_fields.items()}
        return [(k, v) for k in type(value).model_fields if (v := getattr(value, k)) is not None
                or defaults.get(k) is not None or k in value.model_fields_set]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [(f.name, getattr(value, f.name)) for f in dataclasses.fields(value)
                if getattr(value, f.name) is not None or f.default is not None]
    if isinstance(value, (list, tuple)) and all(isinstance(t, tuple) and len(t) == 2 for t in value):
        return [(str(k), v) for k, v in value]
    raise TypeError(f"expected a dict update, got {type(value).__name__}")


def to_update(plan: StatePlan, items: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Writes as our update dict: keys outside the channels dropped (as LangGraph does)."""
    update: dict[str, Any] = {}
    for key, value in items:
        field = plan.fields.get(key)
        if field is None:
            continue
        if field.kind == "messages":
            value = messages_to_json(messages_from_json(value))
            if key in update:
                value = update[key] + value
        update[key] = value
    return update


def messages_from_json(value: Any) -> list[Any]:
    """LangChain messages from JSON dicts, message objects, strings or (role, text) tuples."""
    from langchain_core.messages import BaseMessage, convert_to_messages

    items = value if isinstance(value, list) else [value]
    result: list[Any] = []
    for item in items:
        if isinstance(item, Mapping) and "type" in item and "role" not in item:
            result.append(_message_class(str(item["type"])).model_validate(dict(item)))
        elif isinstance(item, BaseMessage):
            result.append(item)
        else:
            result.extend(convert_to_messages([item]))
    return result


def messages_to_json(messages: Iterable[Any]) -> list[dict[str, Any]]:
    """Messages as JSON dicts (their fields, ``type`` naming the kind)."""
    return [m.model_dump(mode="json") for m in messages]


def _message_class(kind: str) -> Any:
    from langchain_core import messages

    classes = {"human": messages.HumanMessage, "ai": messages.AIMessage, "system": messages.SystemMessage,
               "tool": messages.ToolMessage, "remove": messages.RemoveMessage, "chat": messages.ChatMessage,
               "function": messages.FunctionMessage, "AIMessageChunk": messages.AIMessageChunk}
    return classes.get(kind, messages.HumanMessage)


def _hints(schema: Any) -> dict[str, Any]:
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return {k: f.annotation for k, f in schema.model_fields.items()}
    try:
        return typing.get_type_hints(schema, include_extras=True)
    except Exception:  # noqa: BLE001 - an unresolvable hint is typed Any
        return {}


def _schema_defaults(schema: Any) -> dict[str, Any]:
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return {k: f.get_default(call_default_factory=True) for k, f in schema.model_fields.items()
                if not f.is_required()}
    if dataclasses.is_dataclass(schema):
        found: dict[str, Any] = {}
        for f in dataclasses.fields(schema):
            if f.default is not dataclasses.MISSING:
                found[f.name] = f.default
            elif f.default_factory is not dataclasses.MISSING:
                found[f.name] = f.default_factory()
        return found
    return {}


def _bare(annotation: Any) -> Any:
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _json_type(annotation: Any, *, optional: bool) -> Any:
    try:
        TypeAdapter(annotation).json_schema()
    except Exception:  # noqa: BLE001 - a type without a JSON form is kept as Any
        return Any
    if optional and annotation is not Any:
        return annotation | None if isinstance(annotation, type) else typing.Optional[annotation]  # noqa: UP045
    return annotation


def _is_json_value(value: Any) -> bool:
    return isinstance(value, (list, dict, str, int, float, bool))


def _default(value: Any) -> Any:
    if isinstance(value, (list, dict, set)):
        return Field(default_factory=lambda: copy.deepcopy(value))
    return value


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("-", "_").split("_") if part) or "Graph"


__all__ = [
    "AFTER_FIELD",
    "FieldPlan",
    "HIDDEN_FIELDS",
    "INTERRUPT_FIELD",
    "IS_LAST_STEP",
    "REMAINING",
    "REMAINING_STEPS",
    "MessagesReducer",
    "OperatorReducer",
    "RESUME_FIELD",
    "SEND_FIELD",
    "StatePlan",
    "build_state_plan",
    "managed_keys",
    "managed_value",
    "messages_from_json",
    "messages_to_json",
    "node_input",
    "state_values",
    "to_update",
    "update_items",
]

"""``execute_task``: run the user code of one task and return a JSON result.

One call runs a node and its router together (one activity per node run on Azure). Failures
never escape: they become ``{"ok": false, "error": {type, message, node, attempt, retryable}}``
so the interpreter can decide on retries, error routes or failing the run.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import to_jsonable_python

from ..graph.errors import (
    DurableGraphError,
    HandlerNotFoundError,
    InvalidEmitError,
    InvalidInputError,
    InvalidUpdateError,
)
from ..graph.messages import coerce_messages
from ..graph.reducers import CUSTOM, MESSAGES, REPLACE, apply_builtin
from ..graph.registration import GraphRegistration
from ..graph.routing import normalize_route
from .calling import SyncRunner, call_user, positional_arity
from .context import NodeContext
from .emits import EmitSink, TaskEmitter


class NodeTimeoutError(DurableGraphError):
    """A node ran longer than its ``timeout``."""

    code = "NODE_TIMEOUT"


def to_json(value: Any) -> Any:
    """JSON-mode value: datetimes, UUIDs, Decimals, enums and models become JSON types."""
    return to_jsonable_python(value)


async def execute_task(
    registration: GraphRegistration,
    command: Mapping[str, Any],
    *,
    sync_runner: SyncRunner | None = None,
    cancel_signal: threading.Event | None = None,
    emits: EmitSink | None = None,
) -> dict[str, Any]:
    """Run one task command (node + router, event handler, or custom reducers).

    ``emits`` takes what the task's ``ctx.emit`` calls write; they are flushed when the task
    ends, whatever its outcome, so they precede the step event of its result.
    """
    kind = command.get("kind", "node")
    made: list[TaskEmitter] = []

    def context() -> NodeContext:
        emitter = TaskEmitter(
            emits, run_id=command["run_id"], graph=registration.graph_name, node=command["node"],
            step=command["step"], attempt=command.get("attempt", 1), task_id=command["task_id"],
        )
        made.append(emitter)
        return _context(registration, command, cancel_signal, emitter)

    try:
        if kind == "reduce":
            return {"ok": True, "update": _run_reducers(registration, command)}
        state = _validate_state(registration, command)
        if kind == "event":
            update = await _run_event_handler(registration, command, state, context(), sync_runner)
            return {"ok": True, "update": update, "route": None}
        return await _run_node(registration, command, state, context, sync_runner)
    except asyncio.CancelledError:
        raise
    except BaseException as exc:  # noqa: BLE001 - user code may raise anything; report it
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        return {"ok": False, "error": failure_record(exc, command)}
    finally:
        for emitter in made:
            emitter.close()


def failure_record(exc: BaseException, command: Mapping[str, Any]) -> dict[str, Any]:
    """The structured failure of a task: type, message, node, attempt, retryable, code."""
    if isinstance(exc, asyncio.TimeoutError):
        exc = NodeTimeoutError(
            f"graph '{command.get('graph')}', node '{command.get('node')}' exceeded its timeout of {command.get('timeout')}s"
        )
    retryable = not isinstance(
        exc, (InvalidUpdateError, InvalidInputError, InvalidEmitError, HandlerNotFoundError,
              ValidationError)
    )
    record: dict[str, Any] = {
        "type": type(exc).__name__,
        "message": getattr(exc, "message", None) or str(exc) or type(exc).__name__,
        "node": command.get("node"),
        "attempt": command.get("attempt", 1),
        "retryable": retryable,
    }
    if isinstance(exc, DurableGraphError):
        record["code"] = exc.code
    return record


def _validate_state(registration: GraphRegistration, command: Mapping[str, Any]) -> BaseModel:
    data = command["state"]
    payload = command.get("payload")
    if payload:
        unknown = [k for k in payload if k not in registration.state_model.model_fields]
        if unknown:
            raise InvalidUpdateError(
                f"graph '{registration.graph_name}', node '{command['node']}': Send payload names unknown field(s) {unknown}"
            )
        data = {**data, **payload}
    try:
        return registration.state_model.model_validate(data)
    except ValidationError as exc:
        raise InvalidUpdateError(
            f"graph '{registration.graph_name}', node '{command['node']}': state does not validate: {_first_error(exc)}",
            details=exc.errors(include_url=False, include_context=False),
        ) from None


def _context(
    registration: GraphRegistration,
    command: Mapping[str, Any],
    cancel_signal: threading.Event | None,
    emitter: TaskEmitter | None = None,
) -> NodeContext:
    return NodeContext(
        run_id=command["run_id"],
        graph_name=registration.graph_name,
        node=command["node"],
        step=command["step"],
        attempt=command.get("attempt", 1),
        task_id=command["task_id"],
        idempotency_key=command.get("idempotency_key")
        or f"{command['run_id']}:{command['task_id']}",
        metadata=dict(command.get("metadata") or {}),
        payload=command.get("payload"),
        error=command.get("error"),
        event=command.get("event"),
        cancel_signal=cancel_signal or threading.Event(),
        emitter=emitter,
    )


async def _run_node(
    registration: GraphRegistration,
    command: Mapping[str, Any],
    state: BaseModel,
    context: Callable[[], NodeContext],
    sync_runner: SyncRunner | None,
) -> dict[str, Any]:
    node = command["node"]
    handler = registration.handlers.get(node)
    if handler is None:
        raise HandlerNotFoundError(
            f"graph '{registration.graph_name}' has no handler for node '{node}' in this deployment "
            f"(the run's manifest {str(command.get('graph_hash', ''))[:12]} needs it)"
        )
    router = registration.routers.get(node)
    # The context is built only for a handler or router declared ``(state, ctx)``.
    wants_ctx = positional_arity(handler) > 1 or (router is not None and positional_arity(router) > 1)
    ctx = context() if wants_ctx else None
    raw = await call_user(
        handler, (state, ctx), sync_runner=sync_runner, timeout=command.get("timeout")
    )
    update = normalize_update(registration, node, raw)
    route: dict[str, Any] | None = None
    # Validating the node's view here blames a bad value on the node that wrote it.
    base = command["state"] if not command.get("payload") else state.model_dump(mode="json")
    view = state_after(registration, node, base, update) if update or router else state
    if router is not None:
        decision = await call_user(router, (view, ctx), sync_runner=sync_runner)
        route = to_json(normalize_route(decision, node=node))
    return {"ok": True, "update": update, "route": route}


async def _run_event_handler(
    registration: GraphRegistration,
    command: Mapping[str, Any],
    state: BaseModel,
    ctx: NodeContext,
    sync_runner: SyncRunner | None,
) -> dict[str, Any]:
    event = command["event"]
    name = event["name"]
    payload: Any = event.get("payload")
    model = registration.event_models.get(name)
    if model is not None:
        payload = validate_event_payload(registration, name, payload)
    handler = registration.event_handlers.get(name)
    label = f"event '{name}'"
    if handler is None:
        return normalize_update(registration, label, payload)
    raw = await call_user(handler, (state, payload, ctx), sync_runner=sync_runner)
    return normalize_update(registration, label, raw)


def validate_event_payload(registration: GraphRegistration, name: str, payload: Any) -> Any:
    """The payload as its ``payload_model`` instance (InvalidInputError naming the event)."""
    model = registration.event_models.get(name)
    if model is None:
        if name in registration.event_handlers and registration.event_handlers[name] is None:
            _check_update_payload(registration, name, payload)
        return payload
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise InvalidInputError(
            f"graph '{registration.graph_name}': payload of event '{name}' is invalid: {_first_error(exc)}",
            details=exc.errors(include_url=False, include_context=False),
        ) from None


def _check_update_payload(registration: GraphRegistration, name: str, payload: Any) -> None:
    """An event without a handler updates the state with its payload: an object of fields."""
    where = f"graph '{registration.graph_name}': event '{name}' has no handler, so its payload is the state update;"
    if not isinstance(payload, Mapping):
        raise InvalidInputError(f"{where} it must be a JSON object, got {type(payload).__name__}")
    fields = registration.state_model.model_fields
    unknown = [k for k in payload if k not in fields]
    if unknown:
        raise InvalidInputError(f"{where} unknown field(s) {unknown}")
    for key, value in payload.items():
        if registration.manifest.reducers.get(key, REPLACE) != REPLACE:
            continue  # a reducer's update is an item or a delta, not a whole field value
        try:
            TypeAdapter(fields[key].annotation or Any).validate_python(value)
        except ValidationError as exc:
            details = [{**e, "loc": (key, *e.get("loc", ()))}
                       for e in exc.errors(include_url=False, include_context=False)]
            raise InvalidInputError(f"{where} field '{key}': {_first_error(exc)}", details=details) from None


def normalize_update(registration: GraphRegistration, node: str, raw: Any) -> dict[str, Any]:
    """A handler's return value as a JSON update dict, unknown fields rejected by name."""
    if raw is None:
        return {}
    if isinstance(raw, BaseModel):
        raw = {name: getattr(raw, name) for name in raw.model_fields_set}
    if not isinstance(raw, Mapping):
        raise InvalidUpdateError(
            f"graph '{registration.graph_name}', node '{node}' returned {type(raw).__name__}; "
            "return a dict of state fields, a state model instance, or None"
        )
    fields = registration.state_model.model_fields
    for key in raw:
        if key not in fields:
            raise InvalidUpdateError(
                f"graph '{registration.graph_name}', node '{node}': update names unknown field '{key}' "
                f"(state fields: {', '.join(fields)})"
            )
    reducers = registration.manifest.reducers
    return {
        key: _with_ids(coerce_messages(key, value)) if reducers.get(key) == MESSAGES else to_json(value)
        for key, value in raw.items()
    }


def _with_ids(messages: list[dict[str, Any]]) -> list[Any]:
    """Messages as JSON, each given an id if it has none; the ids are part of the recorded
    result, so a replay or a resumed run applies the same ones."""
    for message in messages:
        if message.get("id") is None:
            message["id"] = str(uuid.uuid4())
    return [to_json(message) for message in messages]


def state_after(
    registration: GraphRegistration, node: str, state_json: dict[str, Any], update: dict[str, Any]
) -> BaseModel:
    """The node's view of the state after its update (what its router sees), validated."""
    reducers = registration.manifest.reducers
    view = dict(state_json)
    for field, value in update.items():
        reducer = reducers.get(field, REPLACE)
        if reducer == CUSTOM:
            function = registration.custom_reducers[field]
            view[field] = to_json(function(view.get(field), value))
        else:
            view[field] = apply_builtin(reducer, field, view.get(field), value)
    try:
        return registration.state_model.model_validate(view)
    except ValidationError as exc:
        raise InvalidUpdateError(
            f"graph '{registration.graph_name}', node '{node}': update makes the state invalid: {_first_error(exc)}",
            details=exc.errors(include_url=False, include_context=False),
        ) from None


def _run_reducers(registration: GraphRegistration, command: Mapping[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for field, values in command["updates"].items():
        function = registration.custom_reducers.get(field)
        if function is None:
            raise HandlerNotFoundError(
                f"graph '{registration.graph_name}' has no custom reducer for field '{field}'"
            )
        current = command["base"].get(field)
        for value in values:
            current = to_json(function(current, value))
        result[field] = current
    return result


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    location = ".".join(str(p) for p in first.get("loc", ())) or "(root)"
    return f"{location}: {first.get('msg')} ({exc.error_count()} error(s))"


__all__ = [
    "NodeTimeoutError",
    "execute_task",
    "failure_record",
    "normalize_update",
    "state_after",
    "to_json",
    "validate_event_payload",
]

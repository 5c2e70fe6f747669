"""Indexing a Python v2 ``FunctionApp``/``DFApp`` the way the worker does.

The worker calls ``app.get_functions()`` once per process and reads each function's trigger
and bindings. The emulator does the same and keeps what the host needs: orchestrators and
activities by name, HTTP triggers with their route, methods and auth level, and which
parameters take a durable client.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ORCHESTRATION_TRIGGER = "orchestrationTrigger"
ACTIVITY_TRIGGER = "activityTrigger"
ENTITY_TRIGGER = "entityTrigger"
HTTP_TRIGGER = "httpTrigger"
DURABLE_CLIENT = "durableClient"

ALL_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class IndexedFunction:
    """One function of the app: its name, trigger kind and the callable the worker invokes."""

    name: str
    trigger_type: str
    trigger_param: str
    user_function: Callable[..., Any]
    client_params: tuple[str, ...] = ()
    route: str | None = None
    methods: tuple[str, ...] = ()
    auth_level: str | None = None


@dataclass
class FunctionIndex:
    """The app's functions grouped the way the emulated host looks them up."""

    orchestrators: dict[str, IndexedFunction] = field(default_factory=dict)
    activities: dict[str, IndexedFunction] = field(default_factory=dict)
    http: list[IndexedFunction] = field(default_factory=list)
    others: list[IndexedFunction] = field(default_factory=list)


def _enum_text(value: Any) -> str:
    return str(getattr(value, "value", value))


def _binding_type(binding: Any) -> str:
    getter = getattr(binding, "get_binding_name", None)
    return str(getter() if callable(getter) else getattr(binding, "type", ""))


def index_app(app: Any) -> FunctionIndex:
    """Index every function of ``app`` (a ``FunctionApp``/``DFApp``)."""
    # ``get_functions`` records names to reject duplicates and would reject its own second
    # call; a fresh worker process starts with an empty record, so start from one too.
    if hasattr(app, "functions_bindings"):
        app.functions_bindings = None
    index = FunctionIndex()
    for function in app.get_functions():
        trigger = function.get_trigger()
        kind = _binding_type(trigger)
        name = str(function.get_function_name())
        clients = tuple(
            str(b.name) for b in function.get_bindings() if _binding_type(b) == DURABLE_CLIENT
        )
        common = {"name": name, "trigger_type": kind, "trigger_param": str(trigger.name),
                  "user_function": function.get_user_function(), "client_params": clients}
        if kind == HTTP_TRIGGER:
            methods = getattr(trigger, "methods", None)
            level = getattr(trigger, "auth_level", None)
            index.http.append(IndexedFunction(
                **common,
                route=str(getattr(trigger, "route", None) or name),
                methods=tuple(_enum_text(m).upper() for m in methods) if methods else ALL_METHODS,
                auth_level=_enum_text(level) if level is not None else None,
            ))
        elif kind == ORCHESTRATION_TRIGGER:
            index.orchestrators[name] = IndexedFunction(**common)
        elif kind == ACTIVITY_TRIGGER:
            index.activities[name] = IndexedFunction(**common)
        else:
            index.others.append(IndexedFunction(**common))
    return index


__all__ = ["FunctionIndex", "IndexedFunction", "index_app"]

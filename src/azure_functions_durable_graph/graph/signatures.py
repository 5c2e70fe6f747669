"""How user callables are called, in one place: the arguments each kind is offered, and the
check ``build()`` runs so a callable that cannot take them fails at build, not in a run.

The execution layer calls a node handler or a router with the first *n* of ``(state, ctx)``
and an event handler with the first *n* of ``(state, payload, ctx)``, where *n* is how many
positional arguments the callable accepts (at least one; ``*args`` takes them all). A custom
reducer is called with exactly ``(current, update)``. :func:`arguments_taken` is that rule;
:func:`signature_problem` says, in one line, why a callable cannot be called that way.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

NODE = "node handler"
ROUTER = "router"
EVENT_HANDLER = "event handler"
REDUCER = "custom reducer"

CALL_ARGUMENTS: dict[str, tuple[str, ...]] = {
    NODE: ("state", "ctx"),
    ROUTER: ("state", "ctx"),
    EVENT_HANDLER: ("state", "payload", "ctx"),
    REDUCER: ("current", "update"),
}
"""The arguments each kind of callable is offered, in order."""

EXACT_KINDS = frozenset({REDUCER})
"""Kinds called with every offered argument (not only as many as the callable accepts)."""

_MANY = 99


@functools.lru_cache(maxsize=4096)
def positional_arity(function: Callable[..., Any]) -> int:
    """How many positional arguments ``function`` accepts (large for ``*args``; 1 when unknown)."""
    signature = _signature(function)
    if signature is None:
        return 1
    count = 0
    for parameter in signature.parameters.values():
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            return _MANY
        if parameter.kind in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        ):
            count += 1
    return count


def arguments_taken(function: Callable[..., Any], offered: int) -> int:
    """How many of ``offered`` leading arguments ``function`` is called with (at least one)."""
    return max(1, min(positional_arity(function), offered))


def accepted_forms(kind: str) -> str:
    """The call forms of ``kind`` as text, e.g. ``(state) or (state, ctx)``."""
    names = CALL_ARGUMENTS[kind]
    if kind in EXACT_KINDS:
        return f"({', '.join(names)})"
    return " or ".join(f"({', '.join(names[:n])})" for n in range(1, len(names) + 1))


def signature_problem(function: Callable[..., Any], kind: str) -> str | None:
    """Why ``function`` cannot be called as a ``kind`` is, or None when it can (or is unknown)."""
    signature = _signature(function)
    if signature is None:
        return None  # builtins without a signature: judged when called
    offered = len(CALL_ARGUMENTS[kind])
    parameters = list(signature.parameters.values())
    positional = [
        p for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    required = [p for p in positional if p.default is inspect.Parameter.empty]
    keyword_only = [
        p.name for p in parameters
        if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is inspect.Parameter.empty
    ]
    variadic = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters)
    given = offered if kind in EXACT_KINDS or variadic else min(len(positional), offered)
    reason = None
    if keyword_only:
        reason = f"has required keyword-only parameter(s) {', '.join(keyword_only)}"
    elif not positional and not variadic:
        reason = "takes no positional parameter"
    elif len(required) > given:
        reason = f"needs {len(required)} positional arguments ({', '.join(p.name for p in required)})"
    elif kind in EXACT_KINDS and not variadic and len(positional) < offered:
        reason = f"takes only {len(positional)} positional argument(s)"
    if reason is None:
        return None
    return f"{kind} {_name(function)} {reason}; it is called as {accepted_forms(kind)}"


def _signature(function: Callable[..., Any]) -> inspect.Signature | None:
    try:
        return inspect.signature(function)
    except (TypeError, ValueError):
        return None


def _name(function: Callable[..., Any]) -> str:
    name = getattr(function, "__qualname__", None) or getattr(function, "__name__", None)
    return f"{name}()" if isinstance(name, str) else repr(function)


__all__ = [
    "CALL_ARGUMENTS",
    "EVENT_HANDLER",
    "EXACT_KINDS",
    "NODE",
    "REDUCER",
    "ROUTER",
    "accepted_forms",
    "arguments_taken",
    "positional_arity",
    "signature_problem",
]

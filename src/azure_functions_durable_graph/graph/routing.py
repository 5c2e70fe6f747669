"""Routing decisions a router (or a node's static edges) can make.

A router may return any of these forms; :func:`normalize_route` turns them into one JSON shape
that travels to the interpreter:

- ``RouteDecision.next("node")`` or a node name: go to that node;
- ``RouteDecision.complete()`` or ``"__complete__"`` / ``END``: this branch ends;
- ``RouteDecision.wait_for_event(...)``: park until an event arrives (or its timeout fires);
- a list of node names: fan out; a list of ``Send(node, payload)``: map fan-out;
- a ``dict`` with ``next`` / ``complete`` / ``wait_for_event`` keys (JSON form of the above);
- ``None``: fall back to the node's static ``next_node``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from .errors import InvalidRouteError

END = "__complete__"
"""Name that ends a branch when used as a target."""

START = "__start__"
"""Name of the virtual start node in diagrams."""

RESERVED_NAMES = frozenset({END, START, "__end__"})


class RouteAction(str, Enum):
    """What a routing decision asks for."""

    NEXT = "next"
    COMPLETE = "complete"
    WAIT_FOR_EVENT = "wait_for_event"
    SEND = "send"
    DEFAULT = "default"


@dataclass(frozen=True)
class Send:
    """Run ``node`` as its own task with ``payload`` laid over the state (map-style fan-out)."""

    node: str
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RouteDecision:
    """A routing decision; build one with the factory methods."""

    action: RouteAction
    targets: tuple[str, ...] = ()
    note: str | None = None
    event_name: str | None = None
    resume_node: str | None = None
    timeout: float | None = None
    on_timeout: str | None = None
    sends: tuple[Send, ...] = ()

    @classmethod
    def next(
        cls, node: str | list[str] | tuple[str, ...], *, note: str | None = None
    ) -> RouteDecision:
        """Go to ``node`` next (a list fans out to every node in it)."""
        targets = (node,) if isinstance(node, str) else tuple(node)
        return cls(RouteAction.NEXT, targets=targets, note=note)

    @classmethod
    def complete(cls, note: str | None = None) -> RouteDecision:
        """End this branch; the run completes when no branch is left."""
        return cls(RouteAction.COMPLETE, note=note)

    @classmethod
    def wait_for_event(
        cls,
        event_name: str,
        resume_node: str,
        note: str | None = None,
        *,
        timeout: float | None = None,
        on_timeout: str | None = None,
    ) -> RouteDecision:
        """Park this branch until ``event_name`` arrives, then run ``resume_node``.

        With ``timeout`` (seconds), ``on_timeout`` runs when no event came in time; without
        ``on_timeout`` the run fails with a timeout error.
        """
        return cls(
            RouteAction.WAIT_FOR_EVENT,
            note=note,
            event_name=event_name,
            resume_node=resume_node,
            timeout=timeout,
            on_timeout=on_timeout,
        )

    @classmethod
    def send(cls, sends: list[Send], *, note: str | None = None) -> RouteDecision:
        """Map fan-out: one task per ``Send``."""
        return cls(RouteAction.SEND, sends=tuple(sends), note=note)

    def to_json(self) -> dict[str, Any]:
        """The normalised JSON form the interpreter reads."""
        data: dict[str, Any] = {"action": self.action.value}
        if self.note is not None:
            data["note"] = self.note
        if self.action is RouteAction.NEXT:
            data["targets"] = list(self.targets)
        elif self.action is RouteAction.WAIT_FOR_EVENT:
            data.update(
                event=self.event_name,
                resume_node=self.resume_node,
                timeout=self.timeout,
                on_timeout=self.on_timeout,
            )
        elif self.action is RouteAction.SEND:
            data["sends"] = [{"node": s.node, "payload": dict(s.payload)} for s in self.sends]
        return data


def normalize_route(value: object, *, node: str) -> dict[str, Any]:
    """Turn any accepted router return value into the interpreter's JSON route form.

    Payloads inside ``Send`` are returned as given; the execution layer serialises them.
    """
    if value is None:
        return {"action": RouteAction.DEFAULT.value}
    if isinstance(value, RouteDecision):
        return value.to_json()
    if isinstance(value, Send):
        return RouteDecision.send([value]).to_json()
    if isinstance(value, str):
        if value in (END, "__end__"):
            return {"action": RouteAction.COMPLETE.value}
        return {"action": RouteAction.NEXT.value, "targets": [value]}
    if isinstance(value, Mapping):
        return _route_from_mapping(value, node=node)
    if isinstance(value, (list, tuple)):
        if not value:
            return {"action": RouteAction.COMPLETE.value}
        if all(isinstance(v, Send) for v in value):
            return RouteDecision.send(list(value)).to_json()
        if all(isinstance(v, str) for v in value):
            names = [v for v in value if v not in (END, "__end__")]
            if not names:
                return {"action": RouteAction.COMPLETE.value}
            return {"action": RouteAction.NEXT.value, "targets": names}
        raise InvalidRouteError(
            f"router of node '{node}' returned a list mixing node names and Send objects; "
            "return only names or only Send(...)"
        )
    raise InvalidRouteError(
        f"router of node '{node}' returned {type(value).__name__}; expected RouteDecision, a node "
        "name, '__complete__', a dict, a list of names, a list of Send, or None"
    )


def _route_from_mapping(value: Mapping[str, Any], *, node: str) -> dict[str, Any]:
    """Accept the dict form: ``{"next": ...}``, ``{"complete": true}``, ``{"wait_for_event": {...}}``."""
    if "action" in value:
        try:
            action = RouteAction(value["action"])
        except ValueError:
            raise InvalidRouteError(
                f"router of node '{node}' returned unknown action {value['action']!r}"
            ) from None
        data = dict(value)
        data["action"] = action.value
        if action is RouteAction.NEXT and isinstance(data.get("targets"), str):
            data["targets"] = [data["targets"]]
        return data
    if "next" in value:
        return RouteDecision.next(value["next"], note=value.get("note")).to_json()
    if value.get("complete"):
        return RouteDecision.complete(value.get("note")).to_json()
    if "wait_for_event" in value:
        spec = value["wait_for_event"]
        if isinstance(spec, str):
            spec = {"event_name": spec, "resume_node": value.get("resume_node")}
        if not isinstance(spec, Mapping) or not spec.get("resume_node"):
            raise InvalidRouteError(
                f"router of node '{node}' returned a wait_for_event dict without resume_node"
            )
        event_name = spec.get("event_name") or spec.get("event")
        if not event_name:
            raise InvalidRouteError(
                f"router of node '{node}' returned a wait_for_event dict without event_name"
            )
        return RouteDecision.wait_for_event(
            str(event_name),
            str(spec["resume_node"]),
            spec.get("note"),
            timeout=spec.get("timeout"),
            on_timeout=spec.get("on_timeout"),
        ).to_json()
    raise InvalidRouteError(
        f"router of node '{node}' returned a dict without 'next', 'complete' or 'wait_for_event'"
    )


__all__ = ["END", "START", "RouteAction", "RouteDecision", "Send", "normalize_route"]

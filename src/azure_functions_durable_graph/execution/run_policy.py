"""Run policy: the rules every engine applies when a run is started or sent an event.

``LocalEngine`` and the Durable client backend are storage and transport adapters over this
module: each reads what it stores (a run row, a Durable instance status), hands the facts in,
and stores or sends what comes out. So a start, a repeated start, an event for a finished run or
an undeclared event is answered the same way, with the same code and message, on every engine:

- **start**: the graph's latest registered version unless one is named; the instance-id rule
  (:mod:`.instance_ids`); the JSON limits, before anything is stored; the input validated into
  the run's first state. A generated id is new by construction (:func:`new_instance_id`).
- **repeated start**: an id that is taken answers that run when graph and input are the same
  (compared as canonical JSON, so ``1`` and ``1.0`` or ``true`` and ``1`` are different inputs),
  else ``RUN_CONFLICT``.
- **finished runs** refuse events, cancels and terminates (``RUN_CONFLICT``); unfinished ones
  refuse a purge.
- **events**, in this order: declared by the run's own manifest (``EVENT_NOT_DECLARED``); an id
  taken already is the first send again when name and payload match, also once the run
  finished (else ``EVENT_ID_CONFLICT``); the run not finished; the run's code registered (its
  exact version, else the latest of its graph); the JSON limits; the payload by that code's
  event model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..core import FINISHED
from ..graph.errors import EventNotDeclaredError, GraphNotFoundError, RunConflictError
from ..graph.registration import GraphRegistration
from .backend import RunStatus
from .driver import new_state
from .event_ids import canonical_json, check_repeated_event
from .executor import to_json, validate_event_payload
from .instance_ids import check_instance_id, new_instance_id
from .json_limits import check_event_json, check_start_json
from .registry import GraphRegistry


@dataclass(frozen=True)
class PreparedStart:
    """A start that passed every check: the code, the first state, the caller's id (or None)."""

    registration: GraphRegistration
    state: dict[str, Any]
    instance_id: str | None


def prepare_start(registry: GraphRegistry, graph: str, input: Any, *, instance_id: str | None,
                  metadata: Mapping[str, Any] | None, version: str | None) -> PreparedStart:
    """Check a start request and validate its input (nothing is stored yet)."""
    registration = registry.get(graph, version)
    check_instance_id(instance_id, graph=graph)
    check_start_json(graph, input, metadata)
    return PreparedStart(registration, new_state(registration, input), instance_id)


def repeated_start(existing: RunStatus, graph: str, state: Mapping[str, Any]) -> RunStatus:
    """A start with an id already taken: ``existing`` when graph and input are the same, else 409."""
    if existing.graph_name == graph and canonical_json(existing.input) == canonical_json(state):
        return existing
    raise RunConflictError(
        f"run '{existing.instance_id}' already exists with a different graph or input",
        details={"instance_id": existing.instance_id},
    )


def refuse_if_finished(instance_id: str, status: str, action: str) -> None:
    """RunConflictError when the run already ended (``action`` as in "cancel", "raise event 'x'")."""
    if status in FINISHED:
        raise RunConflictError(
            f"cannot {action}: run '{instance_id}' is already {status}",
            details={"instance_id": instance_id, "status": status},
        )


def refuse_unless_finished(instance_id: str, status: str, action: str) -> None:
    """RunConflictError while the run is unfinished (``action`` as in "purge")."""
    if status not in FINISHED:
        raise RunConflictError(
            f"cannot {action} run '{instance_id}': it is {status}",
            details={"instance_id": instance_id, "status": status},
        )


def check_event_declared(graph_name: str, declared: Iterable[str], event_name: str, *,
                         instance_id: str | None = None) -> None:
    """EventNotDeclaredError unless the graph's manifest declares ``event_name``."""
    names = list(declared)
    if event_name not in names:
        raise EventNotDeclaredError.for_event(graph_name, event_name, names, instance_id=instance_id)


@dataclass(frozen=True)
class EventTarget:
    """What an engine read of the run an event is sent to."""

    instance_id: str
    graph_name: str
    graph_hash: str
    status: str
    declared_events: tuple[str, ...]


@dataclass(frozen=True)
class FirstSend:
    """The event the run already took under the caller's id; ``known`` False when only the id
    is kept (an Azure run consumed it before continuing as new)."""

    name: str | None
    payload: Any
    known: bool = True
    as_read: bool = False  # payload holds the value as the event model read it


@dataclass(frozen=True)
class AdmittedEvent:
    """An event to store or send (``repeat`` False), or the answer to a repeated send (True)."""

    event_id: str | None
    repeat: bool
    payload: Any = None  # the payload in JSON mode, as the run's event model reads it


def admit_event(registry: GraphRegistry, run: EventTarget, event_name: str, payload: Any, *,
                event_id: str | None, first: FirstSend | None) -> AdmittedEvent:
    """Every check of an event sent to ``run``, in the module's order."""
    check_event_declared(run.graph_name, run.declared_events, event_name, instance_id=run.instance_id)
    code = registry.code_for(run.graph_hash, run.graph_name)
    if event_id is not None and first is not None:
        if first.known:
            check_repeated_event(code, run.instance_id, event_id, sent=(event_name, payload),
                                 first=(str(first.name), first.payload), first_read=first.as_read)
        return AdmittedEvent(event_id, repeat=True)  # taken once already: it counts once
    refuse_if_finished(run.instance_id, run.status, f"raise event '{event_name}'")
    if code is None:
        raise GraphNotFoundError(
            f"run '{run.instance_id}': graph '{run.graph_name}' is not registered in this engine; "
            "register it before sending events",
            details={"graph": run.graph_name},
        )
    check_event_json(run.graph_name, event_name, payload)
    value = to_json(validate_event_payload(code, event_name, payload))
    return AdmittedEvent(event_id, repeat=False, payload=value)


__all__ = [
    "AdmittedEvent",
    "EventTarget",
    "FirstSend",
    "PreparedStart",
    "admit_event",
    "check_event_declared",
    "new_instance_id",
    "prepare_start",
    "refuse_if_finished",
    "refuse_unless_finished",
    "repeated_start",
]

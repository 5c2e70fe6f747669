"""Orchestration instances: the host's per-instance record and its public snapshot."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .history import Event, to_datetime

RUNNING = "Running"
PENDING = "Pending"
COMPLETED = "Completed"
FAILED = "Failed"
TERMINATED = "Terminated"
SUSPENDED = "Suspended"
CONTINUED_AS_NEW = "ContinuedAsNew"

FINISHED = frozenset({COMPLETED, FAILED, TERMINATED})


def decode_json(text: str | None) -> Any:
    """``text`` parsed as JSON; text that is not JSON is returned as it is."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


@dataclass(frozen=True)
class ParentLink:
    """Where a sub-orchestration reports back: the parent and the parent's sequence number."""

    instance_id: str
    sequence: int
    name: str
    execution_id: str


@dataclass
class Instance:
    """The emulated host's mutable record of one orchestration instance."""

    instance_id: str
    name: str
    execution_id: str
    input_json: str | None
    created_time: float
    last_updated_time: float
    runtime_status: str = PENDING
    output_json: str | None = None
    custom_status: Any = None
    history: list[Event] = field(default_factory=list)
    inbox: list[Event] = field(default_factory=list)
    held: list[Event] = field(default_factory=list)
    parent: ParentLink | None = None
    failure: dict[str, Any] | None = None
    generation: int = 0
    version: str = ""
    sequence: int = 0  # creation order in the store, set by InstanceStore.put (paging keys on it)

    @property
    def is_finished(self) -> bool:
        """Completed, failed or terminated: nothing more will run."""
        return self.runtime_status in FINISHED

    @property
    def context_input(self) -> Any:
        """The ``input`` the orchestration trigger passes (the host parses the stored JSON once)."""
        parsed = decode_json(self.input_json)
        if parsed is None or isinstance(parsed, (str, dict)):
            return parsed
        # The SDK only re-encodes dicts; give it JSON text for other shapes so get_input works.
        return json.dumps(parsed)

    def snapshot(self) -> InstanceState:
        """A copy that later work does not change."""
        payload = self.context_input
        return InstanceState(
            instance_id=self.instance_id,
            name=self.name,
            runtime_status=self.runtime_status,
            input=decode_json(payload) if isinstance(payload, str) else payload,
            output=decode_json(self.output_json),
            custom_status=copy.deepcopy(self.custom_status),
            created_time=to_datetime(self.created_time),
            last_updated_time=to_datetime(self.last_updated_time),
            history=copy.deepcopy(self.history),
            parent_instance_id=self.parent.instance_id if self.parent else None,
            failure_details=copy.deepcopy(self.failure),
            generation=self.generation,
        )


@dataclass(frozen=True)
class InstanceState:
    """A snapshot of one orchestration instance, with the SDK's status words.

    ``input`` and ``output`` are decoded Python values; ``history`` holds the current
    generation's events in the SDK's JSON schema; ``failure_details`` (``code``, ``message``,
    ``errorType``) is set when the instance failed.
    """

    instance_id: str
    name: str
    runtime_status: str
    input: Any
    output: Any
    custom_status: Any
    created_time: datetime
    last_updated_time: datetime
    history: list[dict[str, Any]]
    parent_instance_id: str | None
    failure_details: dict[str, Any] | None
    generation: int = 0  # how many times the instance continued as new

    @property
    def is_finished(self) -> bool:
        """Completed, failed or terminated."""
        return self.runtime_status in FINISHED


class InstanceStore:
    """All instances of the emulated task hub, by id (insertion-ordered)."""

    def __init__(self) -> None:
        self._items: dict[str, Instance] = {}
        self._created = 0

    def get(self, instance_id: str) -> Instance | None:
        """The instance with that id, if any."""
        return self._items.get(instance_id)

    def put(self, instance: Instance) -> None:
        """Add or replace an instance (starting an existing id replaces it, as the host does);
        either way it is numbered after every instance already stored."""
        self._items.pop(instance.instance_id, None)
        self._created += 1
        instance.sequence = self._created
        self._items[instance.instance_id] = instance

    def delete(self, instance_id: str) -> bool:
        """Remove an instance; whether it existed."""
        return self._items.pop(instance_id, None) is not None

    def all(self) -> list[Instance]:
        """Every instance, oldest first."""
        return list(self._items.values())

    def query(self, *, created_from: float | None = None, created_to: float | None = None,
              statuses: Iterable[str] | None = None, prefix: str | None = None) -> list[Instance]:
        """Instances matching every given filter (the host's list/purge conditions)."""
        wanted = {s.lower() for s in statuses} if statuses else None
        found = []
        for item in self._items.values():
            if created_from is not None and item.created_time < created_from:
                continue
            if created_to is not None and item.created_time > created_to:
                continue
            if wanted is not None and item.runtime_status.lower() not in wanted:
                continue
            if prefix and not item.instance_id.startswith(prefix):
                continue
            found.append(item)
        return found


__all__ = [
    "COMPLETED",
    "CONTINUED_AS_NEW",
    "FAILED",
    "FINISHED",
    "PENDING",
    "RUNNING",
    "SUSPENDED",
    "TERMINATED",
    "Instance",
    "InstanceState",
    "InstanceStore",
    "ParentLink",
    "decode_json",
]

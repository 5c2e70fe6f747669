"""The portable graph manifest: everything the interpreter needs, nothing process-specific.

A manifest is plain JSON. It travels with every run (so an in-flight run keeps its topology
after a redeploy) and its ``graph_hash`` identifies the graph's shape, settings and state schema.
Handler code is never part of it: handlers are looked up by node name in the current deployment.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .mermaid import manifest_to_mermaid

MANIFEST_FORMAT_VERSION = 1
DEFAULT_MAX_STEPS = 1000


class RetryPolicy(BaseModel):
    """How a failing node is retried: exponential backoff through durable timers.

    ``non_retryable`` names exception types (classes or their names) that fail at once.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_attempts: int = Field(default=3, ge=1)
    initial_interval: float = Field(default=1.0, ge=0)
    backoff: float = Field(default=2.0, ge=1)
    max_interval: float = Field(default=60.0, ge=0)
    non_retryable: tuple[str, ...] = ()

    @field_validator("non_retryable", mode="before")
    @classmethod
    def _names_of_types(cls, value: Any) -> Any:
        if isinstance(value, (type, str)):
            value = [value]
        return tuple(v.__name__ if isinstance(v, type) else v for v in value)

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before ``attempt`` (2 for the first retry)."""
        delay = self.initial_interval * self.backoff ** max(attempt - 2, 0)
        return float(min(delay, self.max_interval))


class WaitSpec(BaseModel):
    """A wait a router declares it may ask for (used by validation and diagrams)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event: str
    resume_node: str
    on_timeout: str | None = None


class NodeSpec(BaseModel):
    """One node of the graph."""

    model_config = ConfigDict(extra="forbid")

    name: str
    kind: Literal["node", "subgraph"] = "node"
    next: list[str] = Field(default_factory=list)
    has_router: bool = False
    route_targets: list[str] | None = None
    waits: list[WaitSpec] = Field(default_factory=list)
    terminal: bool = False
    join: bool = False
    # The predecessors this node waits for (each must have finished since it last ran). Left
    # out of the JSON (and so of the hash) when absent, so graphs without it keep their hash.
    join_on: list[str] | None = Field(default=None, exclude_if=lambda value: value is None)
    retry: RetryPolicy | None = None
    timeout: float | None = None
    on_error: str | None = None
    subgraph: GraphManifest | None = None


class EventSpec(BaseModel):
    """An event the graph accepts, with the JSON Schema of its payload."""

    model_config = ConfigDict(extra="forbid")

    name: str
    payload_schema: dict[str, Any] | None = None
    has_handler: bool = True


class GraphManifest(BaseModel):
    """The portable, hashable description of a graph."""

    model_config = ConfigDict(extra="forbid")

    format_version: int = MANIFEST_FORMAT_VERSION
    graph_name: str
    version: str = "0.1.0"
    entrypoint: str
    nodes: list[NodeSpec]
    events: list[EventSpec] = Field(default_factory=list)
    state_schema: dict[str, Any] = Field(default_factory=dict)
    # What a run's input must satisfy when the graph declares an input model. Left out of the
    # JSON (and so of the hash) when absent, so graphs without one keep their graph_hash.
    input_schema: dict[str, Any] | None = Field(default=None, exclude_if=lambda value: value is None)
    # The state fields a completed run's output shows (all when absent); left out of the JSON
    # when absent, like input_schema, so graphs without it keep their graph_hash.
    output_fields: list[str] | None = Field(default=None, exclude_if=lambda value: value is None)
    # State fields kept for the graph's own bookkeeping: a run's input, step updates, progress
    # events and output leave them out (see shown_state). Left out of the JSON when absent.
    hidden_fields: list[str] | None = Field(default=None, exclude_if=lambda value: value is None)
    reducers: dict[str, str] = Field(default_factory=dict)
    max_steps: int = DEFAULT_MAX_STEPS
    metadata: dict[str, Any] = Field(default_factory=dict)
    graph_hash: str = ""

    @model_validator(mode="after")
    def _fill_hash(self) -> GraphManifest:
        expected = compute_graph_hash(self)
        if not self.graph_hash:
            self.graph_hash = expected
        elif self.graph_hash != expected:
            # A hand-edited manifest must not pass for the graph its hash names.
            raise ValueError(
                f"graph_hash of graph '{self.graph_name}' does not match its content "
                f"(stated {self.graph_hash[:12]}, computed {expected[:12]})"
            )
        return self

    def node(self, name: str) -> NodeSpec:
        """The node called ``name`` (KeyError if absent)."""
        for spec in self.nodes:
            if spec.name == name:
                return spec
        raise KeyError(name)

    @property
    def node_names(self) -> list[str]:
        """Node names in declaration order."""
        return [n.name for n in self.nodes]

    def event(self, name: str) -> EventSpec | None:
        """The declared event called ``name``, or None."""
        for spec in self.events:
            if spec.name == name:
                return spec
        return None

    @property
    def edges(self) -> list[dict[str, str]]:
        """Every edge: ``{source, target, kind}`` with kind static, conditional, wait, timeout, error."""
        result: list[dict[str, str]] = []
        for spec in self.nodes:
            for target in spec.next:
                result.append({"source": spec.name, "target": target, "kind": "static"})
            for target in spec.route_targets or []:
                result.append({"source": spec.name, "target": target, "kind": "conditional"})
            for wait in spec.waits:
                result.append(
                    {
                        "source": spec.name,
                        "target": wait.resume_node,
                        "kind": "wait",
                        "event": wait.event,
                    }
                )
                if wait.on_timeout:
                    result.append(
                        {
                            "source": spec.name,
                            "target": wait.on_timeout,
                            "kind": "timeout",
                            "event": wait.event,
                        }
                    )
            if spec.on_error:
                result.append({"source": spec.name, "target": spec.on_error, "kind": "error"})
        return result

    def is_verified(self) -> bool:
        """Whether ``graph_hash`` matches the content (loading a mismatched manifest fails)."""
        return self.graph_hash == compute_graph_hash(self)

    def to_mermaid(self) -> str:
        """The graph as a Mermaid flowchart."""
        return manifest_to_mermaid(self)


def shown_state(values: Any, hidden: Collection[str] | None) -> Any:
    """``values`` (a dict of state fields) without the ``hidden`` fields; anything else as is.

    The same object comes back when nothing is hidden, so graphs without hidden fields pay
    nothing for the check.
    """
    if not hidden or not isinstance(values, dict) or not any(k in values for k in hidden):
        return values
    return {k: v for k, v in values.items() if k not in hidden}


def canonical_json(value: Any) -> str:
    """Canonical JSON: sorted keys, no whitespace, UTF-8 kept."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def compute_graph_hash(manifest: GraphManifest) -> str:
    """sha256 of the canonical JSON of the manifest's content (everything but the hash)."""
    content = manifest.model_dump(mode="json", exclude={"graph_hash"})
    _drop_nested_hashes(content)
    return hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest()


def _drop_nested_hashes(content: dict[str, Any]) -> None:
    for node in content.get("nodes", []):
        sub = node.get("subgraph")
        if isinstance(sub, dict):
            sub.pop("graph_hash", None)
            _drop_nested_hashes(sub)


NodeSpec.model_rebuild()

__all__ = [
    "DEFAULT_MAX_STEPS",
    "EventSpec",
    "GraphManifest",
    "MANIFEST_FORMAT_VERSION",
    "NodeSpec",
    "RetryPolicy",
    "WaitSpec",
    "canonical_json",
    "compute_graph_hash",
    "shown_state",
]

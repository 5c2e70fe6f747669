"""What travels between the HTTP triggers, the orchestrator and the activity: names and shapes.

Everything here is plain JSON built from ``core/`` data; no Azure SDK import, no clock, no
user code, so the orchestrator that uses it stays deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core import CompiledGraph, Snapshot, build_output, compile_manifest
from ..execution.backend import status_from_snapshot
from ..graph.manifest import GraphManifest

# Function names (a prefix may be put in front of each, see DurableGraphApp.add_to).
ORCHESTRATOR = "durable_graph_orchestrator"
ACTIVITY = "durable_graph_execute_task"
# Every input of a run (graph events and graceful cancels) arrives on this one Durable event
# name, with an id in its payload. One always-open wait on one name avoids the SDK's buffering
# of early events per name, which hands one early event to every later wait of that name.
INPUT_EVENT = "durable_graph_input"
PAYLOAD_FORMAT = 1
CUSTOM_STATUS_LIST_LIMIT = 50
ERROR_MESSAGE_LIMIT = 2000


@dataclass(frozen=True)
class CompactionPolicy:
    """When the orchestrator continues as new (at a superstep boundary) to keep history short."""

    after_steps: int = 20
    max_history_events: int = 250


def start_payload(
    manifest: dict[str, Any],
    state: dict[str, Any],
    *,
    metadata: dict[str, Any],
    created_at: float,
    root: dict[str, Any],
    policy: CompactionPolicy,
    parent_task: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The orchestrator input of a new run: the manifest travels with it."""
    return {
        "format": PAYLOAD_FORMAT,
        "manifest": manifest,
        "input": state,
        "metadata": metadata,
        "created_at": created_at,
        "root": root,
        "policy": {"after_steps": policy.after_steps, "max_history_events": policy.max_history_events},
        "parent_task": parent_task,
        "generation": 0,
        "results_before": 0,
        "snapshot": None,
    }


def run_payload(manifest: GraphManifest, state: dict[str, Any], *, metadata: dict[str, Any],
                created_at: float, policy: CompactionPolicy) -> dict[str, Any]:
    """The orchestrator input of a new top-level run of ``manifest`` (state already validated)."""
    return start_payload(
        manifest.model_dump(mode="json"), state, metadata=metadata, created_at=created_at,
        root={"graph": manifest.graph_name, "hash": manifest.graph_hash, "path": []}, policy=policy,
    )


def continue_payload(payload: dict[str, Any], snapshot: Snapshot, results_applied: int) -> dict[str, Any]:
    """The input of the next generation after continue-as-new: same run, current snapshot."""
    return {
        **payload,
        "snapshot": snapshot,
        "generation": int(payload.get("generation", 0)) + 1,
        "results_before": int(payload.get("results_before", 0)) + results_applied,
    }


def policy_of(payload: dict[str, Any]) -> CompactionPolicy:
    """The compaction policy a run was started with."""
    raw = payload.get("policy") or {}
    return CompactionPolicy(
        after_steps=int(raw.get("after_steps", CompactionPolicy.after_steps)),
        max_history_events=int(raw.get("max_history_events", CompactionPolicy.max_history_events)),
    )


def graph_of(payload: dict[str, Any]) -> CompiledGraph:
    """The run's own manifest, compiled (never the one registered now)."""
    return compile_manifest(payload["manifest"])


def progress_status(graph: CompiledGraph, snapshot: Snapshot, results: int) -> dict[str, Any]:
    """The orchestration's custom status: small progress only, never the state (16 KB limit)."""
    current, waits = status_from_snapshot(snapshot)
    status: dict[str, Any] = {
        "status": snapshot["status"],
        "step": snapshot["step"],
        "current_nodes": current[:CUSTOM_STATUS_LIST_LIMIT],
        "waiting_for": waits[:CUSTOM_STATUS_LIST_LIMIT],
        "graph_name": graph.graph_name,
        "graph_version": graph.manifest.version,
        "graph_hash": graph.manifest.graph_hash,
        "results": results,
    }
    if snapshot.get("cancel") is not None:
        status["cancel"] = snapshot["cancel"]
    if snapshot.get("error"):
        status["error"] = small_error(snapshot["error"])
    return status


def small_error(error: dict[str, Any]) -> dict[str, Any]:
    """An error record with its message cut to fit in the custom status."""
    message = str(error.get("message", ""))
    if len(message) > ERROR_MESSAGE_LIMIT:
        message = message[: ERROR_MESSAGE_LIMIT - 1] + "…"
    return {**{k: v for k, v in error.items() if k != "details"}, "message": message}


def run_output(graph: CompiledGraph, snapshot: Snapshot, parent_task: dict[str, Any] | None) -> dict[str, Any]:
    """The orchestration output of a completed or cancelled run."""
    output: dict[str, Any] = {"status": snapshot["status"]}
    if snapshot["status"] == "completed":
        output.update(build_output(graph, snapshot))
    if parent_task is not None:
        output["parent_task"] = parent_task
    return output


def input_message(kind: str, event_id: str, *, name: str | None = None, payload: Any = None,
                  reason: str | None = None) -> dict[str, Any]:
    """The payload of one :data:`INPUT_EVENT`: a graph event or a graceful cancel."""
    if kind == "event":
        return {"kind": "event", "id": event_id, "name": name, "payload": payload}
    return {"kind": "cancel", "id": event_id, "reason": reason}


__all__ = [
    "ACTIVITY",
    "INPUT_EVENT",
    "ORCHESTRATOR",
    "CompactionPolicy",
    "continue_payload",
    "graph_of",
    "input_message",
    "policy_of",
    "progress_status",
    "run_payload",
    "run_output",
    "small_error",
    "start_payload",
]

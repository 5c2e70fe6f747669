"""What travels between the HTTP triggers, the orchestrator and the activity: names and shapes.

Everything here is plain JSON built from ``core/`` data; no Azure SDK import, no clock, no
user code, so the orchestrator that uses it stays deterministic.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..core import COMPLETED, CompiledGraph, Snapshot, build_output, compile_manifest
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
# The host refuses a custom status over 16 KB of UTF-16 text (it rounds the size down to whole
# KB first; nothing here counts on that): 8,192 UTF-16 code units of JSON.
CUSTOM_STATUS_MAX_UNITS = 16 * 1024 // 2
_JSON_NET_ESCAPES = ("\u0085", "\u2028", "\u2029")
_ELLIPSIS = "\u2026"
_UNCUT = frozenset({"status", "graph_hash"})  # what readers of the status rely on, whole


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
    """The orchestration's custom status: small progress only, never the state, and always
    within the host's 16 KB limit (see :func:`fit_custom_status`)."""
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
    error = snapshot.get("error")
    if error:
        status["error"] = small_error(error)
    return fit_custom_status(status)


def small_error(error: dict[str, Any]) -> dict[str, Any]:
    """An error record for the custom status: without its ``details`` (validation errors can
    be long); its message is cut only if the whole status would not fit."""
    return {k: v for k, v in error.items() if k != "details"}


def custom_status_units(status: Any) -> int:
    """The size of ``status`` as the host counts it: UTF-16 code units of its JSON text.

    The extension serialises the custom status with Json.NET and refuses more than 16 KB of
    UTF-16 (``SetCustomStatus`` in ``DurableOrchestrationContext.cs``, measured by
    ``MessagePayloadDataConverter.cs``). Json.NET writes non-ASCII text as it is, like
    ``ensure_ascii=False``, but also escapes U+0085, U+2028 and U+2029 (six units each).
    """
    text = json.dumps(status, separators=(",", ":"), ensure_ascii=False)
    escaped = sum(text.count(char) for char in _JSON_NET_ESCAPES)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2 + 5 * escaped


def fit_custom_status(status: dict[str, Any]) -> dict[str, Any]:
    """``status`` itself when it fits in :data:`CUSTOM_STATUS_MAX_UNITS`, else a copy cut to fit.

    Cut in this order, each only as far as needed: the free texts (cancel reason, error
    message), longest first; then the last waits and current nodes; then every other text.
    A cut text ends with "…" and a cut status says ``"truncated": true``. Deterministic (the
    orchestrator calls it on every replay) and never splits a UTF-16 surrogate pair.
    """
    if custom_status_units(status) <= CUSTOM_STATUS_MAX_UNITS:
        return status
    fitted: dict[str, Any] = json.loads(json.dumps(status))  # a deep copy of plain JSON data
    fitted["truncated"] = True
    texts = [(holder, key) for holder, key in ((fitted.get("cancel"), "reason"), (fitted.get("error"), "message"))
             if isinstance(holder, dict) and isinstance(holder.get(key), str)]
    for holder, key in sorted(texts, key=lambda hk: -len(hk[0][hk[1]])):
        if custom_status_units(fitted) <= CUSTOM_STATUS_MAX_UNITS:
            return fitted
        _shorten(fitted, holder, key)
    for name in ("waiting_for", "current_nodes"):
        while fitted.get(name) and custom_status_units(fitted) > CUSTOM_STATUS_MAX_UNITS:
            fitted[name].pop()
    for longest in (256, 64, 16):
        if custom_status_units(fitted) <= CUSTOM_STATUS_MAX_UNITS:
            break
        fitted = {k: v if k in _UNCUT else _cut_texts(v, longest) for k, v in fitted.items()}
    return fitted


def _cut(text: str, keep: int) -> str:
    """``text`` cut to its first ``keep`` characters plus "…" (unchanged when short enough)."""
    return text if len(text) <= keep else text[:keep] + _ELLIPSIS


def _shorten(status: dict[str, Any], holder: dict[str, Any], key: str) -> None:
    """Cut ``holder[key]`` to the longest prefix with which ``status`` fits (possibly none)."""
    text = holder[key]
    low, high = 0, len(text)  # Python indexes code points: a prefix never splits a pair
    while low < high:
        middle = (low + high + 1) // 2
        holder[key] = _cut(text, middle)
        if custom_status_units(status) <= CUSTOM_STATUS_MAX_UNITS:
            low = middle
        else:
            high = middle - 1
    holder[key] = _cut(text, low)


def _cut_texts(value: Any, longest: int) -> Any:
    """``value`` with every string longer than ``longest`` characters cut (keys stay)."""
    if isinstance(value, str):
        return _cut(value, longest)
    if isinstance(value, list):
        return [_cut_texts(item, longest) for item in value]
    if isinstance(value, dict):
        return {k: _cut_texts(v, longest) for k, v in value.items()}
    return value


def run_output(graph: CompiledGraph, snapshot: Snapshot, parent_task: dict[str, Any] | None) -> dict[str, Any]:
    """The orchestration output of a completed or cancelled run."""
    output: dict[str, Any] = {"status": snapshot["status"]}
    if snapshot["status"] == COMPLETED:
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
    "CUSTOM_STATUS_MAX_UNITS",
    "CompactionPolicy",
    "continue_payload",
    "custom_status_units",
    "fit_custom_status",
    "graph_of",
    "input_message",
    "policy_of",
    "progress_status",
    "run_payload",
    "run_output",
    "small_error",
    "start_payload",
]

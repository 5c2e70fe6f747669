"""The status JSON the host's webhook API returns for an instance."""

from __future__ import annotations

import json
from typing import Any

from . import history as h
from .instances import Instance, decode_json


def _seconds_text(epoch_seconds: float) -> str:
    # The host prints ``DateTime.ToString("s") + "Z"``: whole seconds, UTC.
    return h.to_datetime(epoch_seconds).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_payload(inst: Instance, *, show_input: bool = True, show_history: bool = False,
                   show_history_output: bool = False) -> dict[str, Any]:
    """``name``, ``instanceId``, ``runtimeStatus``, ``input``, ``customStatus``, ``output``,
    ``createdTime``, ``lastUpdatedTime`` and, when asked, ``historyEvents``.

    ``input`` is the stored start payload parsed once, as the host does: for instances started
    by the Python client that is the SDK's JSON *text*.
    """
    payload: dict[str, Any] = {
        "name": inst.name,
        "instanceId": inst.instance_id,
        "runtimeStatus": inst.runtime_status,
        "input": decode_json(inst.input_json) if show_input else None,
        "customStatus": inst.custom_status,
        "output": decode_json(inst.output_json),
        "createdTime": _seconds_text(inst.created_time),
        "lastUpdatedTime": _seconds_text(inst.last_updated_time),
    }
    if show_history:
        payload["historyEvents"] = [h.for_status(e, show_output=show_history_output)
                                    for e in inst.history]
    return payload


# ``DurableOrchestrationContext.SetCustomStatus`` serialises with a 16 KB limit, and
# ``MessagePayloadDataConverter.Serialize`` counts the JSON's UTF-16 bytes, truncated to whole KB
# (extension, ``src/WebJobs.Extensions.DurableTask/MessagePayloadDataConverter.cs``).
CUSTOM_STATUS_LIMIT_KB = 16


def custom_status_error(custom_status: Any) -> str | None:
    """The host's error for a custom status over its limit, or ``None`` when it fits."""
    if custom_status is None:
        return None
    # Json.NET's default output: compact, non-ASCII characters unescaped.
    text = json.dumps(custom_status, separators=(",", ":"), ensure_ascii=False)
    size_kb = int(len(text.encode("utf-16-le")) / 1024.0)
    if size_kb <= CUSTOM_STATUS_LIMIT_KB:
        return None
    return (f"The UTF-16 size of the JSON-serialized payload must not exceed "
            f"{CUSTOM_STATUS_LIMIT_KB:,} KB. The current payload size is {size_kb:,} KB.")


__all__ = ["CUSTOM_STATUS_LIMIT_KB", "custom_status_error", "status_payload"]

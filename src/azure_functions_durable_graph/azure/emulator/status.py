"""The status JSON the host's webhook API returns for an instance."""

from __future__ import annotations

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


__all__ = ["status_payload"]

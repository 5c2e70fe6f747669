"""Where the emulator keeps a graph app's emits when its settings name no storage account."""

from __future__ import annotations

from typing import Any

from ..emit_channel import EmitChannel
from ..emit_log import MemoryEmitLog


def keep_emits_in_memory(app: Any) -> None:
    """Give a ``DurableGraphApp`` whose settings name no storage account an in-memory emit log,
    as the host's storage account would hold them (with ``AzureWebJobsStorage`` set, e.g. to
    Azurite, the app's own blob log is used)."""
    owner = getattr(app, "owner", None)
    channel = getattr(owner, "emits", None)
    if isinstance(channel, EmitChannel) and channel.log is None:
        channel.use(MemoryEmitLog())


__all__ = ["keep_emits_in_memory"]

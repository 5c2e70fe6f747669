"""Python clients for the HTTP API: :class:`DurableGraphClient` and :class:`AsyncDurableGraphClient`.

They talk to ``durable-graph serve``, to the Durable emulator and to a deployed Functions app
alike (docs/client.md). Answers are typed models (``client.models``); error answers raise the
package's exception family with the server's code and message.
"""

from .async_client import AsyncDurableGraphClient
from .calls import RetryPolicy, ServerUnreachableError
from .models import (
    EventAccepted,
    GraphInfo,
    History,
    HistoryStep,
    Purged,
    Run,
    RunPage,
    StreamEvent,
    Wait,
)
from .sync_client import DurableGraphClient

__all__ = [
    "AsyncDurableGraphClient",
    "DurableGraphClient",
    "EventAccepted",
    "GraphInfo",
    "History",
    "HistoryStep",
    "Purged",
    "RetryPolicy",
    "Run",
    "RunPage",
    "ServerUnreachableError",
    "StreamEvent",
    "Wait",
]

"""What the emulator's HTTP layer uses of ``DurableEmulator``.

``asgi``, ``webhooks`` and ``http_triggers`` are written against this protocol rather than the
class, so they do not import ``host`` (which builds the ASGI app from them): the import graph
points one way, from the host down to its HTTP layer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from ...execution.clock import Clock
from .functions import FunctionIndex
from .instances import Instance, InstanceState


class ServedEmulator(Protocol):
    """The emulator as its webhook/RPC API and HTTP triggers see it."""

    @property
    def functions(self) -> FunctionIndex:
        """The app's indexed functions (HTTP triggers among them)."""

    @property
    def route_prefix(self) -> str:
        """The HTTP triggers' route prefix, without slashes ('' for none)."""

    @property
    def max_request_body(self) -> int:
        """The most bytes of body an HTTP function is given."""

    @property
    def task_hub(self) -> str:
        """The task hub named in management URLs and client bindings."""

    @property
    def base_url(self) -> str | None:
        """Where the API is served, once served."""

    @property
    def clock(self) -> Clock:
        """The clock that stamps history."""

    def client_binding(self, base_url: str | None = None) -> str:
        """The ``durableClient`` binding value pointing at ``base_url``."""

    def instance_record(self, instance_id: str) -> Instance | None:
        """The live record of an instance, or None."""

    def query(self, **filters: Any) -> list[Instance]:
        """Live records matching the host's list filters."""

    async def start_from_json(self, orchestrator_name: str, instance_id: str | None,
                              input_json: str | None) -> str:
        """Start an orchestration with the JSON input given; its id."""

    async def wait_for(self, instance_id: str,
                       predicate: Callable[[InstanceState], bool] | None = None,
                       timeout: float = 10.0) -> InstanceState:
        """Wait until the instance finished (or ``predicate`` holds); its snapshot."""

    async def raise_event_json(self, instance_id: str, name: str, input_json: str | None) -> None:
        """Deliver an external event whose payload is the JSON text given."""

    async def terminate(self, instance_id: str, reason: str | None = None) -> None:
        """Terminate an active instance."""

    async def suspend(self, instance_id: str, reason: str | None = None) -> None:
        """Suspend an active instance."""

    async def resume(self, instance_id: str, reason: str | None = None) -> None:
        """Resume a suspended instance."""

    async def purge(self, instance_id: str) -> bool:
        """Delete a finished instance's history."""

    async def purge_by(self, *, created_from: float, created_to: float | None = None,
                       statuses: Iterable[str] | None = None) -> int:
        """Delete every instance created in the window; how many."""

    async def restart(self, instance_id: str, *, new_instance_id: bool = True) -> str:
        """Start the instance's orchestrator again with its original input; the new id."""


__all__ = ["ServedEmulator"]

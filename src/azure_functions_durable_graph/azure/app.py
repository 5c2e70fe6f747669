"""``DurableGraphApp``: the registry of graphs, and the Azure Functions app built from it.

The registry works without the Azure SDK, so ``durable-graph`` can discover and serve the graphs
of a ``function_app.py`` locally. ``function_app`` returns a lazy handle: the real Functions app
(a ``DFApp``) is built only when something (the Functions worker, the Durable emulator) first
touches it.
"""

from __future__ import annotations

import sys
from typing import Any

from ..execution.registry import GraphRegistry
from ..graph.errors import DurableGraphError
from ..graph.registration import GraphRegistration
from .emit_channel import EmitChannel
from .protocol import CompactionPolicy


class DurableGraphApp:
    """Holds registered graphs (every version) and exposes them as an Azure Functions app."""

    def __init__(
        self, *, auth_level: Any = None, route_prefix: str = "api",
        continue_as_new_after_steps: int = 20, max_history_events: int = 250,
    ) -> None:
        for name, value in (("continue_as_new_after_steps", continue_as_new_after_steps),
                            ("max_history_events", max_history_events)):
            if not isinstance(value, int) or value < 1:
                raise DurableGraphError(f"DurableGraphApp: {name} must be a positive integer, got {value!r}",
                                        code="REGISTRATION_INVALID")
        self.auth_level = auth_level
        self.route_prefix = route_prefix
        # Orchestrations continue as new at a superstep boundary past either limit.
        self.compaction = CompactionPolicy(after_steps=continue_as_new_after_steps,
                                           max_history_events=max_history_events)
        self.graphs = GraphRegistry()  # the one registry every engine keeps (execution/registry.py)
        self.emits = EmitChannel()  # ctx.emit on Azure: an append blob per run in the app's storage
        self._function_app: LazyFunctionApp | None = None

    def register_registration(self, registration: GraphRegistration) -> GraphRegistration:
        """Register a built graph. Several versions of one graph may be registered."""
        if not isinstance(registration, GraphRegistration):
            raise DurableGraphError(
                f"register_registration needs a GraphRegistration (builder.build()), got {type(registration).__name__}",
                code="REGISTRATION_INVALID",
            )
        return self.graphs.add(registration)

    register = register_registration

    @property
    def graph_names(self) -> list[str]:
        """Names of every registered graph, in registration order."""
        return self.graphs.graph_names

    def registrations(self) -> list[GraphRegistration]:
        """The latest registered version of every graph."""
        return self.graphs.registrations()

    def versions(self, graph_name: str) -> list[str]:
        """Every registered version of ``graph_name`` in registration order."""
        return self.graphs.versions(graph_name)

    def get(self, graph_name: str, version: str | None = None) -> GraphRegistration:
        """The registration of ``graph_name`` (the latest registered version by default)."""
        return self.graphs.get(graph_name, version)

    @property
    def function_app(self) -> LazyFunctionApp:
        """The Azure Functions app, built on first use (attribute access)."""
        if self._function_app is None:
            self._function_app = LazyFunctionApp(self)
        return self._function_app

    def add_to(self, target: Any, *, prefix: str = "") -> Any:
        """Add the graph functions to an existing ``FunctionApp``, ``DFApp`` or ``Blueprint``;
        ``prefix`` goes in front of every generated function name."""
        from .functions import add_to

        return add_to(self, target, prefix=prefix)


class AzureTargetUnavailableError(DurableGraphError, AttributeError):
    """The Functions app cannot be built here; an AttributeError so ``hasattr`` stays False."""

    code = "AZURE_TARGET_UNAVAILABLE"


class LazyFunctionApp:
    """Stands for the Functions app until it is used; then builds it and delegates to it."""

    def __init__(self, owner: DurableGraphApp) -> None:
        self._owner = owner
        self._built: Any = None

    @property
    def owner(self) -> DurableGraphApp:
        """The DurableGraphApp this app serves (how local discovery finds the graphs)."""
        return self._owner

    def _build(self) -> Any:
        try:
            from .functions import new_function_app
        except ImportError as exc:  # the Azure SDKs are dependencies; a broken install lands here
            raise AzureTargetUnavailableError(
                f"the Azure Functions app cannot be built: {exc}; install azure-functions and azure-functions-durable"
            ) from None
        return new_function_app(self._owner)

    def built(self) -> Any:
        """The real Functions app (built now if it was not yet)."""
        if self._built is None:
            self._built = self._build()
        return self._built

    # The Functions worker finds the app of function_app.py with isinstance(x, FunctionRegister)
    # after importing azure.functions; isinstance consults __class__, so once the Functions SDK
    # is loaded the handle passes for the app it stands for (building it). Before that (local
    # discovery and serving) it stays a plain handle and the SDK is never imported.
    @property  # type: ignore[misc]
    def __class__(self) -> type:
        if "azure.functions" in sys.modules:
            return type(self.built())
        return LazyFunctionApp

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
        else:  # e.g. a host resetting the app's indexing state: it belongs to the real app
            setattr(self.built(), name, value)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.built(), name)


__all__ = ["DurableGraphApp", "LazyFunctionApp"]

"""``GraphRegistration``: a built graph, ready to register with an engine or to invoke."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from .manifest import GraphManifest

if TYPE_CHECKING:
    from ..execution.runner import RunResult


@dataclass(frozen=True)
class GraphRegistration:
    """The portable manifest plus this process's handlers, looked up by node/event name."""

    manifest: GraphManifest
    state_model: type[BaseModel]
    handlers: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    routers: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    event_handlers: Mapping[str, Callable[..., Any] | None] = field(default_factory=dict)
    event_models: Mapping[str, type[BaseModel]] = field(default_factory=dict)
    custom_reducers: Mapping[str, Callable[[Any, Any], Any]] = field(default_factory=dict)
    subgraphs: Mapping[str, GraphRegistration] = field(default_factory=dict)
    # The model a run's input is validated against; None: the state model itself.
    input_model: type[BaseModel] | None = None

    @property
    def graph_name(self) -> str:
        """The graph's name."""
        return self.manifest.graph_name

    @property
    def version(self) -> str:
        """The graph's version string."""
        return self.manifest.version

    @property
    def graph_hash(self) -> str:
        """sha256 of the manifest's canonical JSON."""
        return self.manifest.graph_hash

    def invoke(self, input: Any = None, **options: Any) -> RunResult:
        """Run the graph to its end in this process, with no persistence.

        See :func:`azure_functions_durable_graph.execution.runner.invoke` for the options.
        """
        # Imported here: the runner lives in the execution layer above graph/.
        from ..execution.runner import invoke

        return invoke(self, input, **options)

    async def ainvoke(self, input: Any = None, **options: Any) -> RunResult:
        """Async form of :meth:`invoke`."""
        from ..execution.runner import ainvoke

        return await ainvoke(self, input, **options)


__all__ = ["GraphRegistration"]

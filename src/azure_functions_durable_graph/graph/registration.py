"""``GraphRegistration``: a built graph, ready to register with an engine or to invoke.

Invoking runs user code, which is the execution layer's job; graph/ does not import it. The
in-process runner is installed here instead (:func:`install_runner`) by the package root, which
every import of the package runs first, so ``registration.invoke`` works however the package
was imported. What a run returns (:class:`RunResult`, :class:`StepRecord`) is plain data
declared here, so ``invoke`` is typed without graph/ depending on the runner.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from .errors import DurableGraphError
from .manifest import GraphManifest

_invoke: Callable[..., RunResult] | None = None
_ainvoke: Callable[..., Awaitable[RunResult]] | None = None
_astream: Callable[..., AsyncIterator[dict[str, Any]]] | None = None


def install_runner(
    invoke: Callable[..., RunResult], ainvoke: Callable[..., Awaitable[RunResult]],
    astream: Callable[..., AsyncIterator[dict[str, Any]]] | None = None,
) -> None:
    """Set the in-process runner that ``invoke``/``ainvoke``/``stream`` (and
    ``RunResult.resume``) call.

    Each takes ``(registration, input, **options)``; the package root installs
    ``execution.runner.invoke``, ``ainvoke`` and ``astream``.
    """
    global _invoke, _ainvoke, _astream
    _invoke, _ainvoke, _astream = invoke, ainvoke, astream


def _runner() -> tuple[Callable[..., RunResult], Callable[..., Awaitable[RunResult]]]:
    if _invoke is None or _ainvoke is None:
        raise DurableGraphError(
            "no in-process runner is installed (the package root 'azure_functions_durable_graph' installs it)",
            code="RUNNER_NOT_INSTALLED",
        )
    return _invoke, _ainvoke


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
        return _runner()[0](self, input, **options)

    async def ainvoke(self, input: Any = None, **options: Any) -> RunResult:
        """Async form of :meth:`invoke`."""
        return await _runner()[1](self, input, **options)

    def stream(self, input: Any = None, **options: Any) -> AsyncIterator[dict[str, Any]]:
        """Run in this process like :meth:`ainvoke`, as an async iterator of its progress.

        ``async for event in registration.stream(input): ...`` yields the steps, the nodes'
        ``ctx.emit`` chunks (``{"type": "emit", "node", "kind", "data", ...}``) as they are
        emitted, waits, and last ``{"type": "end", "status", "output", ...}``; options as for
        :meth:`invoke`.
        """
        _runner()
        if _astream is None:
            raise DurableGraphError("the installed in-process runner cannot stream",
                                    code="RUNNER_NOT_INSTALLED")
        return _astream(self, input, **options)


@dataclass(frozen=True)
class StepRecord:
    """One executed task: node, superstep, attempt, its update (and route or error)."""

    node: str
    step: int
    task_id: str
    attempt: int
    update: dict[str, Any] | None = None
    route: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


@dataclass
class RunResult:
    """The outcome of :meth:`GraphRegistration.invoke`: status, final state, output, executed
    steps, error; ``snapshot`` is the interpreter's snapshot, ``clock`` the clock the run used."""

    run_id: str
    status: str
    state: BaseModel | None
    output: dict[str, Any] | None
    steps: list[StepRecord]
    error: dict[str, Any] | None
    waiting_for: list[dict[str, Any]]
    snapshot: Mapping[str, Any]
    registration: GraphRegistration = field(repr=False)
    # An ``execution.clock.Clock``; None: the system clock.
    clock: Any = field(repr=False, default=None)

    @property
    def node_sequence(self) -> list[str]:
        """Nodes of the successfully completed steps, in order."""
        return [s.node for s in self.steps if s.error is None]

    def resume(self, events: Iterable[Any] | None = None, *, cancel: str | None = None) -> RunResult:
        """Continue a waiting run with more events (or a cancel); see :meth:`GraphRegistration.invoke`."""
        return _runner()[0](self.registration, None, events=events, clock=self.clock, resume=self, cancel=cancel)

    async def aresume(self, events: Iterable[Any] | None = None, *, cancel: str | None = None) -> RunResult:
        """Async form of :meth:`resume`."""
        return await _runner()[1](self.registration, None, events=events, clock=self.clock, resume=self, cancel=cancel)


__all__ = ["GraphRegistration", "RunResult", "StepRecord", "install_runner"]

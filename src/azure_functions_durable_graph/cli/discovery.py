"""Find the graphs a loaded TARGET defines.

A module's globals (or the single attribute the TARGET names) are searched for
``GraphRegistration`` objects, ``ManifestBuilder`` objects (built here), ``DurableGraphApp``
registries and the lazy ``function_app`` handle of one. A graph reachable several ways (the
builder *and* the app it was registered with) is reported once, keyed by (name, version), and
the app's registration wins because that is what the deployment actually serves.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from ..azure.app import DurableGraphApp, LazyFunctionApp
from ..graph.builder import ManifestBuilder
from ..graph.errors import GraphValidationError, TargetLoadError
from ..graph.registration import GraphRegistration
from .target import LoadedTarget, load_target

# Higher wins when one (name, version) is found several ways.
_FROM_BUILDER = 0
_FROM_REGISTRATION = 1
_FROM_APP = 2

_LOOKED_FOR = "a GraphRegistration, a ManifestBuilder, a DurableGraphApp or its function_app"


@dataclass(frozen=True)
class DiscoveredGraph:
    """One graph found in the TARGET: a registration when valid, the error when not."""

    graph_name: str
    version: str
    source: str
    registration: GraphRegistration | None = None
    error: GraphValidationError | None = None

    @property
    def valid(self) -> bool:
        """Whether the graph built without validation problems."""
        return self.error is None


@dataclass(frozen=True)
class Discovery:
    """Every graph found in a TARGET, in module definition order, deduplicated."""

    target: str
    graphs: tuple[DiscoveredGraph, ...]
    warnings: tuple[str, ...] = ()

    @property
    def valid(self) -> bool:
        """Whether every graph found is valid."""
        return all(graph.valid for graph in self.graphs)

    @property
    def names(self) -> list[str]:
        """Graph names in discovery order (a name repeats when several versions exist)."""
        return [graph.graph_name for graph in self.graphs]


@dataclass(frozen=True)
class _Candidate:
    graph: DiscoveredGraph
    priority: int


def discover(target: str | None) -> Discovery:
    """Load ``target`` (see :mod:`.target`) and return the graphs it defines.

    Raises :class:`TargetLoadError` when the target cannot be loaded or defines no graph, and
    passes through a :class:`GraphValidationError` raised while importing the user's module.
    """
    return discover_in(load_target(target))


def discover_in(loaded: LoadedTarget) -> Discovery:
    """The graphs of an already loaded target."""
    text = loaded.spec.text
    namespace: dict[str, object]
    if loaded.has_attribute and not isinstance(loaded.value, ModuleType):
        source = loaded.spec.attribute or text
        found = _from_object(loaded.value, source)
        if found is None:
            raise TargetLoadError(
                f"'{text}' is {_describe(loaded.value)}, not {_LOOKED_FOR}",
                details={"target": text},
            )
        candidates, namespace = found, {source: loaded.value}
    else:
        # ``package:submodule`` searches that submodule like a module TARGET.
        namespace = vars(loaded.value if loaded.has_attribute else loaded.module)
        candidates = _from_namespace(namespace)
    graphs, warnings = _deduplicate(candidates)
    if not graphs:
        raise TargetLoadError(_nothing_found(text, namespace), details={"target": text})
    return Discovery(target=text, graphs=tuple(graphs), warnings=tuple(warnings))


def _from_namespace(namespace: dict[str, object]) -> list[_Candidate]:
    found: list[_Candidate] = []
    # A copy: building a graph may import modules, which must not disturb this iteration.
    for name, value in list(namespace.items()):
        candidates = _from_object(value, name)
        if candidates:
            found.extend(candidates)
    return found


def _from_object(value: object, source: str) -> list[_Candidate] | None:
    """Candidates from one object, or None when it is not a kind discovery understands."""
    # isinstance only: LazyFunctionApp builds the Azure app on any public attribute access.
    if isinstance(value, LazyFunctionApp):
        return _from_app(value.owner, source)
    if isinstance(value, DurableGraphApp):
        return _from_app(value, source)
    if isinstance(value, GraphRegistration):
        return [_valid(value, source, _FROM_REGISTRATION)]
    if isinstance(value, ManifestBuilder):
        return [_from_builder(value, source)]
    return None


def _from_app(app: DurableGraphApp, source: str) -> list[_Candidate]:
    return [_valid(registration, source, _FROM_APP) for registration in app.registrations()]


def _from_builder(builder: ManifestBuilder, source: str) -> _Candidate:
    name, version = _text(builder.graph_name), _text(builder.version)
    try:
        registration = builder.build()
    except GraphValidationError as exc:
        graph = DiscoveredGraph(graph_name=name, version=version, source=source, error=exc)
        return _Candidate(graph, _FROM_BUILDER)
    except Exception as exc:
        # Not a validation problem but a crash (e.g. a state model Pydantic cannot describe).
        raise TargetLoadError(
            f"building graph '{name}' from '{source}' failed: {type(exc).__name__}: {exc}",
            details={"graph": name, "source": source},
        ) from exc
    return _valid(registration, source, _FROM_BUILDER)


def _valid(registration: GraphRegistration, source: str, priority: int) -> _Candidate:
    graph = DiscoveredGraph(
        graph_name=registration.graph_name,
        version=registration.version,
        source=source,
        registration=registration,
    )
    return _Candidate(graph, priority)


def _deduplicate(candidates: list[_Candidate]) -> tuple[list[DiscoveredGraph], list[str]]:
    """One graph per (name, version), placed where it first appeared, best source kept."""
    chosen: dict[tuple[str, str], _Candidate] = {}
    warnings: list[str] = []
    for candidate in candidates:
        graph = candidate.graph
        key = (graph.graph_name, graph.version)
        current = chosen.get(key)
        if current is None:
            chosen[key] = candidate
            continue
        if _differs(current.graph, graph):
            warnings.append(
                f"graph '{graph.graph_name}' version '{graph.version}' is defined by both "
                f"'{current.graph.source}' and '{graph.source}' with different content"
            )
        if candidate.priority > current.priority:
            chosen[key] = candidate
    # dicts keep insertion order, so replacing a value keeps the first-seen position.
    return [candidate.graph for candidate in chosen.values()], warnings


def _differs(first: DiscoveredGraph, second: DiscoveredGraph) -> bool:
    if first.registration is None or second.registration is None:
        return False
    if first.registration is second.registration:
        return False
    return first.registration.graph_hash != second.registration.graph_hash


def _nothing_found(text: str, namespace: dict[str, object]) -> str:
    empty_apps = [
        name
        for name, value in namespace.items()
        if (isinstance(value, DurableGraphApp) and not value.graph_names)
        or (isinstance(value, LazyFunctionApp) and not value.owner.graph_names)
    ]
    if empty_apps:
        return f"no graphs found in '{text}': DurableGraphApp '{empty_apps[0]}' has no registered graph"
    return f"no graphs found in '{text}' (looked for {_LOOKED_FOR})"


def _describe(value: object) -> str:
    if isinstance(value, type):
        return f"the class {value.__name__}"
    return f"a {type(value).__name__}"


def _text(value: object) -> str:
    return value if isinstance(value, str) else repr(value)


__all__ = ["DiscoveredGraph", "Discovery", "discover", "discover_in"]

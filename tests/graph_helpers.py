"""Shared helpers for the graph-layer tests: a small state model, no-op handlers, example loading."""

from __future__ import annotations

import importlib.util
import itertools
import sys
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

from pydantic import BaseModel

from azure_functions_durable_graph import ManifestBuilder, reducers

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
EXAMPLE_NAMES = ("quick_example", "content_classifier", "support_agent")

_counter = itertools.count()


class State(BaseModel):
    """The state most test graphs use."""

    value: int = 0
    log: Annotated[list[str], reducers.append] = []


def noop(state: Any) -> None:
    """A node handler that changes nothing."""
    return None


def no_route(state: Any) -> None:
    """A router that always falls back to the static edges."""
    return None


def builder(graph_name: str = "g", state_model: Any = State, **options: Any) -> ManifestBuilder:
    """A fresh builder for graph ``graph_name``."""
    return ManifestBuilder(graph_name=graph_name, state_model=state_model, **options)


def load_module(path: Path, module_name: str | None = None) -> ModuleType:
    """Import the Python file at ``path`` as a fresh module (a new name on every call)."""
    name = module_name or f"_loaded_{path.stem}_{next(_counter)}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def load_example(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` by path."""
    return load_module(EXAMPLES_DIR / f"{name}.py")


class HostileState(BaseModel):
    """Any JSON goes in ``data``: only the package's own rules limit it."""

    data: Any = None
    done: bool = False


def _hostile_ask(state: HostileState) -> None:
    return None


def _hostile_wait(state: HostileState) -> Any:
    from azure_functions_durable_graph import RouteDecision

    return RouteDecision.wait_for_event(event_name="answer", resume_node="finish")


def _hostile_finish(state: HostileState) -> dict[str, Any]:
    return {"done": True}


def build_waiting_graph(graph_name: str) -> Any:
    """A graph the hostile-client tests aim at: 'ask' waits for ``answer`` (no handler: its
    payload is the state update), then 'finish' ends the run."""
    builder = ManifestBuilder(graph_name=graph_name, state_model=HostileState)
    builder.set_entrypoint("ask")
    builder.add_node("ask", _hostile_ask, route=_hostile_wait)
    builder.add_node("finish", _hostile_finish, terminal=True)
    builder.add_event_handler("answer")
    return builder.build()

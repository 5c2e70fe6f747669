"""Render a manifest as a Mermaid flowchart.

Static edges are solid arrows, conditional (router) edges dotted, waits are labelled with the
event name, timeouts and error routes are labelled too; joins are drawn as hexagons, subgraphs
as subroutines, and START/END as rounded terminals.

It reads a manifest through the protocols below (the attributes it draws), so this module does
not depend on ``manifest``; ``GraphManifest.to_mermaid`` calls it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Protocol

from .routing import END


class DrawnWait(Protocol):
    """What the diagram reads of a declared wait (``WaitSpec``)."""

    @property
    def event(self) -> str: ...
    @property
    def resume_node(self) -> str: ...
    @property
    def on_timeout(self) -> str | None: ...


class DrawnNode(Protocol):
    """What the diagram reads of a node (``NodeSpec``)."""

    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def next(self) -> Sequence[str]: ...
    @property
    def route_targets(self) -> Sequence[str] | None: ...
    @property
    def waits(self) -> Sequence[DrawnWait]: ...
    @property
    def terminal(self) -> bool: ...
    @property
    def join(self) -> bool: ...
    @property
    def on_error(self) -> str | None: ...


class DrawnGraph(Protocol):
    """What the diagram reads of a manifest (``GraphManifest``)."""

    @property
    def entrypoint(self) -> str: ...
    @property
    def nodes(self) -> Sequence[DrawnNode]: ...


_SAFE = re.compile(r"[^A-Za-z0-9_]")


def _node_id(name: str) -> str:
    safe = _SAFE.sub("_", name)
    if safe != name:
        # Sanitising may merge distinct names ("a-b", "a_b"): a short digest keeps them apart.
        safe += "_" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:6]
    return "n_" + safe


def _label(text: str) -> str:
    return text.replace('"', "#quot;")


def manifest_to_mermaid(manifest: DrawnGraph) -> str:
    """Mermaid ``flowchart TD`` source for the manifest."""
    lines = ["flowchart TD", '    __start__(["START"])', '    __end__(["END"])']
    for spec in manifest.nodes:
        nid, label = _node_id(spec.name), _label(spec.name)
        if spec.join:
            lines.append(f'    {nid}{{{{"{label}"}}}}')
        elif spec.kind == "subgraph":
            lines.append(f'    {nid}[["{label}"]]')
        else:
            lines.append(f'    {nid}["{label}"]')
    lines.append(f"    __start__ --> {_node_id(manifest.entrypoint)}")

    def target_id(target: str) -> str:
        return "__end__" if target == END else _node_id(target)

    for spec in manifest.nodes:
        source = _node_id(spec.name)
        if spec.terminal:
            lines.append(f"    {source} --> __end__")
        for target in spec.next:
            lines.append(f"    {source} --> {target_id(target)}")
        for target in spec.route_targets or []:
            lines.append(f"    {source} -.-> {target_id(target)}")
        for wait in spec.waits:
            event = _label(wait.event)
            lines.append(f'    {source} -. "wait: {event}" .-> {target_id(wait.resume_node)}')
            if wait.on_timeout:
                lines.append(f'    {source} -. "timeout: {event}" .-> {target_id(wait.on_timeout)}')
        if spec.on_error:
            lines.append(f'    {source} -. "error" .-> {target_id(spec.on_error)}')
    return "\n".join(lines) + "\n"


__all__ = ["DrawnGraph", "DrawnNode", "DrawnWait", "manifest_to_mermaid"]

"""``durable-graph graph``: print one graph as a Mermaid flowchart or as its manifest JSON."""

from __future__ import annotations

import argparse
import sys

from ..graph.errors import GraphNotFoundError
from .common import UsageError, add_target_argument, print_invalid_graph
from .discovery import DiscoveredGraph, Discovery, discover

FORMATS = ("mermaid", "json")


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Register the ``graph`` subcommand."""
    parser = subparsers.add_parser(
        "graph",
        help="print a graph as Mermaid or manifest JSON",
        description=(
            "Print one graph of TARGET as a Mermaid flowchart (default) or as its manifest JSON. "
            "When TARGET defines several graphs, choose one with --graph."
        ),
    )
    add_target_argument(parser)
    parser.add_argument("--graph", dest="graph_name", metavar="NAME", help="the graph to print")
    parser.add_argument(
        "--graph-version",
        metavar="VERSION",
        help="the version to print when TARGET defines several versions of the graph",
    )
    parser.add_argument("--format", choices=FORMATS, default="mermaid", help="default: mermaid")
    return parser


def run(args: argparse.Namespace) -> int:
    """Print the selected graph; 1 when it is invalid."""
    discovery = discover(args.target)
    graph = select_graph(discovery, args.graph_name, args.graph_version)
    if graph.error is not None:
        print_invalid_graph(graph.error, graph.version, stream=sys.stderr)
        return 1
    assert graph.registration is not None
    manifest = graph.registration.manifest
    if args.format == "json":
        sys.stdout.write(manifest.model_dump_json(indent=2) + "\n")
    else:
        sys.stdout.write(manifest.to_mermaid())
    return 0


def select_graph(
    discovery: Discovery, name: str | None, version: str | None = None
) -> DiscoveredGraph:
    """The one graph matching ``name``/``version``; errors name what is available."""
    graphs = list(discovery.graphs)
    if name is not None:
        graphs = [g for g in graphs if g.graph_name == name]
        if not graphs:
            raise GraphNotFoundError(
                f"graph '{name}' not found in '{discovery.target}' "
                f"(available: {_names(discovery.graphs)})",
                details={"graph": name, "available": discovery.names},
            )
    if version is not None:
        matching = [g for g in graphs if g.version == version]
        if not matching:
            versions = ", ".join(f"{g.graph_name} {g.version}" for g in graphs)
            raise GraphNotFoundError(
                f"no graph with version '{version}' in '{discovery.target}' "
                f"(available: {versions})",
                details={"graph": name, "version": version},
            )
        graphs = matching
    if len(graphs) == 1:
        return graphs[0]
    if len({g.graph_name for g in graphs}) == 1:
        versions = ", ".join(g.version for g in graphs)
        raise UsageError(
            f"graph '{graphs[0].graph_name}' has several versions in '{discovery.target}' ({versions}); "
            "choose one with --graph-version VERSION"
        )
    raise UsageError(
        f"'{discovery.target}' defines several graphs ({_names(graphs)}); "
        "choose one with --graph NAME"
    )


def _names(graphs: tuple[DiscoveredGraph, ...] | list[DiscoveredGraph]) -> str:
    # dict.fromkeys dedupes names that appear with several versions, keeping order.
    return ", ".join(dict.fromkeys(g.graph_name for g in graphs))


__all__ = ["add_parser", "run", "select_graph"]

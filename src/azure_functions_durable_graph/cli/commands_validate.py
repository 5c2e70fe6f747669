"""``durable-graph validate``: load a TARGET and check every graph it defines."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..graph.errors import GraphValidationError
from ..graph.validation import manifest_warnings
from .common import add_target_argument, print_invalid_graph, print_warning
from .discovery import DiscoveredGraph, Discovery, discover
from .target import DEFAULT_TARGET

HASH_PREFIX = 12


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Register the ``validate`` subcommand."""
    parser = subparsers.add_parser(
        "validate",
        help="check every graph in TARGET",
        description=(
            "Load TARGET, build every graph it defines and report each one. "
            "Exit 0 when all are valid, 1 when any is invalid, 2 when TARGET cannot be loaded."
        ),
    )
    add_target_argument(parser)
    parser.add_argument("--json", action="store_true", help="print a JSON document instead")
    return parser


def run(args: argparse.Namespace) -> int:
    """Validate the graphs of ``args.target``; 0 when all are valid, 1 otherwise."""
    try:
        discovery = discover(args.target)
    except GraphValidationError as exc:
        # The user's module called build() at import time and it failed: a graph verdict.
        return _report_import_failure(args, exc)
    warnings = [*discovery.warnings, *_graph_warnings(discovery)]
    if args.json:
        _print_json(_document(discovery.target, discovery.valid, _graphs_json(discovery)), warnings)
    else:
        for warning in warnings:
            print_warning(warning)
        for graph in discovery.graphs:
            _print_graph(graph)
    return 0 if discovery.valid else 1


def _graph_warnings(discovery: Discovery) -> list[str]:
    """Warnings about valid graphs (they never change the exit code)."""
    return [
        warning
        for graph in discovery.graphs
        if graph.registration is not None
        for warning in manifest_warnings(graph.registration.manifest)
    ]


def _report_import_failure(args: argparse.Namespace, exc: GraphValidationError) -> int:
    target = args.target or DEFAULT_TARGET
    if args.json:
        entry = _graph_json(_text(exc.graph_name), None, None, None, exc)
        _print_json(_document(target, False, [entry]), [])
    else:
        print_invalid_graph(exc)
    return 1


def _print_graph(graph: DiscoveredGraph) -> None:
    if graph.error is not None:
        print_invalid_graph(graph.error, graph.version)
        return
    assert graph.registration is not None
    manifest = graph.registration.manifest
    count = len(manifest.nodes)
    print(
        f"ok {graph.graph_name} {graph.version} "
        f"hash {manifest.graph_hash[:HASH_PREFIX]} "
        f"{count} node{'s' if count != 1 else ''}"
    )


def _graphs_json(discovery: Discovery) -> list[dict[str, Any]]:
    result = []
    for graph in discovery.graphs:
        manifest = graph.registration.manifest if graph.registration is not None else None
        result.append(
            _graph_json(
                graph.graph_name,
                graph.version,
                graph.source,
                manifest.graph_hash if manifest is not None else None,
                graph.error,
                len(manifest.nodes) if manifest is not None else None,
            )
        )
    return result


def _graph_json(
    name: str,
    version: str | None,
    source: str | None,
    graph_hash: str | None,
    error: GraphValidationError | None,
    node_count: int | None = None,
) -> dict[str, Any]:
    return {
        "graph_name": name,
        "version": version,
        "valid": error is None,
        "source": source,
        "graph_hash": graph_hash,
        "node_count": node_count,
        "problems": [p.to_dict() for p in error.problems] if error is not None else [],
    }


def _document(target: str, valid: bool, graphs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"target": target, "valid": valid, "graphs": graphs}


def _print_json(document: dict[str, Any], warnings: list[str]) -> None:
    document["warnings"] = warnings
    # default=str: problem extras come from user code and need not be JSON-native.
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")


def _text(value: object) -> str:
    return value if isinstance(value, str) else repr(value)


__all__ = ["add_parser", "run"]

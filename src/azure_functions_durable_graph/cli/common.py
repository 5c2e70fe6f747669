"""Pieces every subcommand shares: the usage error, the TARGET argument, output helpers."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from ..graph.errors import GraphValidationError, ValidationProblem
from .target import DEFAULT_TARGET

PROG = "durable-graph"
TARGET_OPTION = "target_option"


class UsageError(Exception):
    """A command was called in a way it cannot serve (printed as one line, exit code 2)."""


def add_target_argument(parser: argparse.ArgumentParser) -> None:
    """Add TARGET the way every graph-loading command takes it: the last positional, or ``--target``.

    Both forms land in ``args.target`` once :func:`resolve_target` has run (the entry point
    calls it after parsing); giving both with different values is a usage error.
    """
    parser.add_argument(
        "target",
        nargs="?",
        default=None,
        metavar="TARGET",
        help=(
            "path/to/file.py[:attribute], a folder with function_app.py, or "
            f"package.module[:attribute] (default: {DEFAULT_TARGET}); also accepted as --target"
        ),
    )
    parser.add_argument(
        "--target",
        dest=TARGET_OPTION,
        default=None,
        metavar="TARGET",
        help="the same TARGET, as an option",
    )


def resolve_target(args: argparse.Namespace) -> None:
    """Merge ``--target`` into ``args.target`` (UsageError when both name different TARGETs)."""
    option = getattr(args, TARGET_OPTION, None)
    if option is None:
        return
    positional = getattr(args, "target", None)
    if positional is not None and positional != option:
        raise UsageError(
            f"TARGET given twice, as '{positional}' and as --target '{option}'; give it once"
        )
    args.target = option


def print_error(message: str, stream: TextIO | None = None) -> None:
    """Print ``durable-graph: error: <message>`` on stderr."""
    print(f"{PROG}: error: {message}", file=stream or sys.stderr)


def print_warning(message: str) -> None:
    """Print ``durable-graph: warning: <message>`` on stderr."""
    print(f"{PROG}: warning: {message}", file=sys.stderr)


def format_problem(problem: ValidationProblem) -> str:
    """One validation problem as ``CODE (node 'x'): message``."""
    where = f" (node '{problem.node}')" if problem.node else ""
    return f"{problem.code}{where}: {problem.message}"


def print_invalid_graph(
    error: GraphValidationError, version: str | None = None, stream: TextIO | None = None
) -> None:
    """Print an invalid graph's header line and every problem, indented, one per line."""
    out = stream or sys.stdout
    label = f"{error.graph_name}" + (f" {version}" if version else "")
    count = len(error.problems)
    print(f"invalid {label}: {count} problem{'s' if count != 1 else ''}", file=out)
    for problem in error.problems:
        print(f"  {format_problem(problem)}", file=out)


__all__ = [
    "PROG",
    "TARGET_OPTION",
    "UsageError",
    "add_target_argument",
    "format_problem",
    "print_error",
    "print_invalid_graph",
    "print_warning",
    "resolve_target",
]

"""The ``durable-graph`` entry point: the argument parser and the error policy.

Each subcommand lives in its own module exposing ``add_parser(subparsers)`` (returning its
parser) and ``run(args) -> int``; adding a command means adding its module to ``COMMANDS``.
Errors become one ``durable-graph: error: ...`` line and an exit code; tracebacks only
with ``--debug``.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence
from typing import Protocol

from .._version import __version__
from ..graph.errors import DurableGraphError, GraphValidationError
from . import (
    commands_graph,
    commands_new,
    commands_run,
    commands_runs,
    commands_serve,
    commands_validate,
)
from .common import PROG, UsageError, print_error, print_invalid_graph, resolve_target

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class Command(Protocol):
    """What a subcommand module provides (modules satisfy this protocol structurally)."""

    def add_parser(
        self, subparsers: argparse._SubParsersAction[argparse.ArgumentParser]
    ) -> argparse.ArgumentParser:
        """Register the subcommand and return its parser."""

    def run(self, args: argparse.Namespace) -> int:
        """Run the subcommand and return the exit code."""


COMMANDS: tuple[Command, ...] = (
    commands_validate,
    commands_graph,
    commands_run,
    commands_serve,
    commands_new,
    commands_runs,
    commands_runs.events_command,
)
"""Subcommand modules, in the order ``--help`` lists them."""


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Inspect, validate and run durable graphs.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument(
        "--debug", action="store_true", default=False, help="print tracebacks on errors"
    )
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for command in COMMANDS:
        sub = command.add_parser(subparsers)
        # SUPPRESS: otherwise the subcommand's default would overwrite a '--debug' given
        # before the command name.
        sub.add_argument(
            "--debug",
            action="store_true",
            default=argparse.SUPPRESS,
            help="print tracebacks on errors",
        )
        sub.set_defaults(_run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``) and return the exit code.

    0: success; 1: a graph is invalid; 2: usage error, TARGET not loadable, or another error.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:
        # argparse exits for --help, --version and usage errors; main returns instead.
        return _exit_code(exc)
    run = getattr(args, "_run", None)
    if run is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    debug = bool(getattr(args, "debug", False))
    try:
        resolve_target(args)
        code: int = run(args)
        return code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except GraphValidationError as exc:
        _traceback(debug)
        print_invalid_graph(exc, stream=sys.stderr)
        return EXIT_INVALID
    except (DurableGraphError, UsageError) as exc:
        _traceback(debug)
        print_error(_one_line(str(exc)))
        return EXIT_USAGE
    except Exception as exc:
        _traceback(debug)
        hint = "" if debug else " (run with --debug for the traceback)"
        print_error(_one_line(f"unexpected {type(exc).__name__}: {exc}") + hint)
        return EXIT_USAGE


def _traceback(debug: bool) -> None:
    if debug:
        traceback.print_exc(file=sys.stderr)


def _one_line(message: str) -> str:
    # Messages from user code (e.g. Pydantic errors) span lines; the CLI promises one.
    return "; ".join(line.strip() for line in message.splitlines() if line.strip())


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return EXIT_OK
    if isinstance(exc.code, int):
        return exc.code
    return EXIT_USAGE


__all__ = ["COMMANDS", "Command", "EXIT_INVALID", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]

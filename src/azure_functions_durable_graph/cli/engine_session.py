"""Opening the embedded engine for a CLI command: ``--db``, graph discovery, input parsing."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..core import CANCELLED, COMPLETED, FAILED, WAITING
from ..graph.registration import GraphRegistration
from .common import UsageError
from .discovery import discover

DEFAULT_DB_HELP = "SQLite file of the embedded engine (default: .durable-graph/runs.db)"

# Exit codes of commands that drive runs (documented in docs/cli.md).
EXIT_COMPLETED = 0
EXIT_WAITING = 3
EXIT_FAILED = 4
EXIT_CANCELLED = 5
EXIT_BY_STATUS = {COMPLETED: EXIT_COMPLETED, WAITING: EXIT_WAITING, FAILED: EXIT_FAILED,
                  CANCELLED: EXIT_CANCELLED}


def add_db_argument(parser: argparse.ArgumentParser) -> None:
    """The ``--db PATH`` option shared by engine commands."""
    parser.add_argument("--db", default=None, metavar="PATH", help=DEFAULT_DB_HELP)


DURABILITY_HELP = (
    "process (default): a commit survives a crash of the process (WAL, synchronous=NORMAL); "
    "power: it survives a power loss or OS crash too, synced at every commit (synchronous=FULL)"
)


def add_durability_argument(parser: argparse.ArgumentParser) -> None:
    """The ``--durability process|power`` option of commands that drive runs."""
    from ..local.store.durability import DURABILITY_MODES

    parser.add_argument("--durability", choices=DURABILITY_MODES, default="process", help=DURABILITY_HELP)


def db_path(args: argparse.Namespace) -> Path:
    """The SQLite file named by ``--db`` or the default one."""
    from ..local.engine import DEFAULT_DB

    return Path(args.db) if args.db else DEFAULT_DB


def valid_registrations(target: str | None) -> list[GraphRegistration]:
    """Every valid graph in TARGET (invalid ones are skipped; ``validate`` reports them)."""
    return [g.registration for g in discover(target).graphs if g.registration is not None]


def parse_json_argument(text: str, what: str) -> Any:
    """``JSON`` or ``@file.json``; a UsageError naming ``what`` when it is not JSON."""
    source = text
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            source = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"{what}: cannot read '{path}': {exc.strerror}") from None
    try:
        return json.loads(source)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


def check_event(registration: GraphRegistration, name: str, payload: Any) -> None:
    """Refuse an event the graph does not declare or a payload its model rejects."""
    from ..execution.executor import validate_event_payload
    from ..graph.errors import EventNotDeclaredError

    if registration.manifest.event(name) is None:
        raise EventNotDeclaredError.for_event(registration.graph_name, name,
                                              [e.name for e in registration.manifest.events])
    validate_event_payload(registration, name, payload)


def parse_event_argument(text: str) -> tuple[str, Any]:
    """``NAME=JSON`` (or ``NAME=@file``) as a (name, payload) pair."""
    name, sep, payload = text.partition("=")
    if not sep or not name:
        raise UsageError(f"--event '{text}' must look like NAME=JSON")
    return name, parse_json_argument(payload, f"--event {name}")


__all__ = [
    "EXIT_BY_STATUS",
    "check_event",
    "add_db_argument",
    "add_durability_argument",
    "db_path",
    "parse_event_argument",
    "parse_json_argument",
    "valid_registrations",
]

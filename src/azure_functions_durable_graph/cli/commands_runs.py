"""``durable-graph runs list|show|cancel`` and ``durable-graph events send`` on the engine's file."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from ..core import COMPLETED
from ..execution.backend import PENDING, RUN_STATUSES
from ..execution.timestamps import api_times
from .common import UsageError, add_target_argument
from .engine_session import add_db_argument, db_path, parse_json_argument, valid_registrations


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Register ``runs`` with its own sub-commands."""
    parser = subparsers.add_parser("runs", help="list, show or cancel stored runs",
                                   description="Work on the runs stored by the embedded engine.")
    actions = parser.add_subparsers(dest="runs_action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list runs, newest first")
    listing.add_argument("--graph", dest="graph_name", default=None)
    listing.add_argument("--status", default=None, choices=[s for s in RUN_STATUSES if s != PENDING])
    listing.add_argument("--limit", type=int, default=20)
    show = actions.add_parser("show", help="a run's status and step history")
    show.add_argument("instance_id")
    cancel = actions.add_parser("cancel", help="cancel a run gracefully (or --force to terminate)")
    cancel.add_argument("instance_id")
    add_target_argument(cancel)
    cancel.add_argument("--reason", default=None)
    cancel.add_argument("--force", action="store_true", help="terminate at once")
    for sub in (listing, show, cancel):
        add_db_argument(sub)
        sub.add_argument("--json", action="store_true", help="print JSON")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the chosen ``runs`` action."""
    if args.runs_action == "list":
        return _with_engine(args, None, _list)
    if args.runs_action == "show":
        return _with_engine(args, None, _show)
    return _with_engine(args, args.target, _cancel)


def _with_engine(args: argparse.Namespace, target: str | None,
                 action: Callable[[Any, argparse.Namespace], Awaitable[int]]) -> int:
    from ..local.engine import LocalEngine

    # Terminating needs no graph code; a graceful cancel of a parked run does (it is driven).
    needs_graphs = target is not None or (action is _cancel and not getattr(args, "force", False))
    registrations = valid_registrations(target) if needs_graphs else []

    async def main() -> int:
        engine = LocalEngine(_read_only_store(args) if action in (_list, _show) else db_path(args))
        for registration in registrations:
            engine.register(registration)
        try:
            return await action(engine, args)
        finally:
            engine.store.close()

    return asyncio.run(main())


def _read_only_store(args: argparse.Namespace) -> Any:
    """The store of a command that only reads: SQLite ``mode=ro``, so a read-only file serves.

    A missing file has no runs; it is not created.
    """
    from ..local.store import MemoryRunStore, SqliteRunStore

    path = db_path(args)
    return SqliteRunStore(path, read_only=True) if path.exists() else MemoryRunStore()


async def _list(engine: Any, args: argparse.Namespace) -> int:
    runs, _cursor = await engine.list_runs(graph_name=args.graph_name, status=args.status, limit=args.limit)
    if args.json:
        print(json.dumps([r.to_dict() for r in runs], indent=2, default=str))
        return 0
    for status in runs:
        print(f"{status.instance_id}  {status.graph_name:<20} {status.status:<10} step {status.step}")
    if not runs:
        print("no runs")
    return 0


async def _show(engine: Any, args: argparse.Namespace) -> int:
    status = await engine.get_status(args.instance_id)
    steps = await engine.history(args.instance_id)
    if args.json:
        history = [api_times(step) for step in steps]  # instants as the HTTP API shows them
        print(json.dumps({"run": status.to_dict(), "history": history}, indent=2, default=str))
        return 0
    print(f"run {status.instance_id}: {status.status} (graph {status.graph_name} {status.graph_version}, step {status.step})")
    for wait in status.waiting_for:
        print(f"  waiting for event '{wait['event']}' at node {wait['node']}")
    for step in steps:
        outcome = "ok" if step.get("ok") else f"failed: {(step.get('error') or {}).get('message')}"
        print(f"  step {step.get('step')}: {step.get('node')} attempt {step.get('attempt')} {outcome}")
    if status.error:
        print(f"  error [{status.error.get('code')}]: {status.error.get('message')}")
    return 0


async def _cancel(engine: Any, args: argparse.Namespace) -> int:
    await engine.open()
    try:
        if args.force:
            status = await engine.terminate(args.instance_id, args.reason)
        else:
            await engine.cancel(args.instance_id, args.reason)
            status = await engine.wait(args.instance_id, timeout=30)
    finally:
        await engine.close()
    print(json.dumps(status.to_dict(), indent=2, default=str) if args.json else f"run {status.instance_id}: {status.status}")
    return 0


def add_events_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Register ``events send``."""
    parser = subparsers.add_parser("events", help="send an event to a stored run")
    actions = parser.add_subparsers(dest="events_action", metavar="ACTION", required=True)
    send = actions.add_parser("send", help="deliver an event and let the run go on")
    send.add_argument("instance_id")
    send.add_argument("event_name")
    send.add_argument("payload", nargs="?", default="{}", help="JSON or @file (default {})")
    add_target_argument(send)
    send.add_argument("--no-wait", action="store_true", help="return once the event is stored")
    add_db_argument(send)
    send.add_argument("--json", action="store_true", help="print JSON")
    return parser


def run_events(args: argparse.Namespace) -> int:
    """Deliver the event, then (unless --no-wait) drive the run until it finishes or waits."""
    from ..local.engine import LocalEngine
    from .engine_session import EXIT_BY_STATUS

    try:
        payload = parse_json_argument(args.payload, "payload")
    except UsageError as exc:
        if args.target is None:  # TARGET given where PAYLOAD goes: say how to pass both
            raise UsageError(f"{exc}; TARGET comes after PAYLOAD (pass '{{}}' first) or as --target TARGET") from None
        raise
    registrations = valid_registrations(args.target)

    async def main() -> dict[str, Any]:
        async with LocalEngine(db_path(args)) as engine:
            for registration in registrations:
                engine.register(registration)
            await engine.raise_event(args.instance_id, args.event_name, payload)
            if args.no_wait:
                return (await engine.get_status(args.instance_id)).to_dict()
            return (await engine.wait(args.instance_id)).to_dict()

    status = asyncio.run(main())
    if args.json:
        print(json.dumps(status, indent=2, default=str))
    else:
        print(f"run {status['instance_id']}: {status['status']}")
        if status["status"] == COMPLETED:
            print(json.dumps((status.get("output") or {}).get("state"), indent=2, default=str))
    return EXIT_BY_STATUS.get(status["status"], 4) if not args.no_wait else 0


class _EventsCommand:
    """Adapter so ``events`` plugs into the command table like a module."""

    add_parser = staticmethod(add_events_parser)
    run = staticmethod(run_events)


events_command = _EventsCommand()

__all__ = ["add_events_parser", "add_parser", "events_command", "run", "run_events"]

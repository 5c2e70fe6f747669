"""``durable-graph run``: run one graph to its end on the embedded engine, with live progress.

The progress is the run's stream (``LocalEngine.stream``): steps, waits and the nodes' emits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..core import COMPLETED, WAITING
from ..execution.follow import EVENT_PAGE
from ..graph.errors import RunNotFoundError
from .commands_graph import select_graph
from .common import add_target_argument
from .discovery import discover
from .engine_session import (
    EXIT_BY_STATUS,
    add_db_argument,
    add_durability_argument,
    check_event,
    db_path,
    parse_event_argument,
    parse_json_argument,
)
from .run_output import JsonLines, Progress, Timings, compact

if TYPE_CHECKING:
    from ..execution.backend import RunStatus
    from ..local.engine import LocalEngine


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Register the ``run`` subcommand."""
    parser = subparsers.add_parser(
        "run", help="run a graph to its end on the embedded engine",
        description="Start a run of one graph of TARGET on the embedded SQLite engine, show its "
        "progress (steps, waits, the nodes' emits; tokens inline) on stderr and print the final state. Exit 0 completed, 3 waiting, 4 failed, 5 cancelled.",
    )
    add_target_argument(parser)
    parser.add_argument("--graph", dest="graph_name", metavar="NAME", help="the graph to run")
    parser.add_argument("--graph-version", metavar="VERSION",
                        help="the version to run when TARGET defines several versions of the graph")
    parser.add_argument("--input", default="{}", metavar="JSON|@FILE", help="the run's input (default {})")
    parser.add_argument("--event", action="append", default=[], metavar="NAME=JSON",
                        help="an event to deliver (repeatable; buffered until a wait takes it)")
    parser.add_argument("--instance-id", default=None, help="the run's id (default: generated)")
    add_db_argument(parser)
    add_durability_argument(parser)
    parser.add_argument("--json", action="store_true",
                        help="print the run's events as JSON lines on stdout, as they come, then the "
                        "final status document (instance_id, status, output, error, ...) as the last line")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the graph; the exit code follows the final status."""
    discovery = discover(args.target)
    chosen = select_graph(discovery, args.graph_name, args.graph_version)
    if chosen.registration is None:
        from .common import print_invalid_graph

        assert chosen.error is not None
        print_invalid_graph(chosen.error, chosen.version, stream=sys.stderr)
        return 1
    payload = parse_json_argument(args.input, "--input")
    events = [parse_event_argument(text) for text in args.event]
    for name, event_payload in events:  # refuse bad events before any run is started
        check_event(chosen.registration, name, event_payload)
    registrations = [g.registration for g in discovery.graphs if g.registration is not None]
    status = asyncio.run(_run(args, chosen.registration.graph_name, registrations, payload, events))
    if args.json:
        print(compact(status, ascii_only=True))
    else:
        _print_outcome(status, args.target)
    return EXIT_BY_STATUS.get(status["status"], 4)


async def _run(args: argparse.Namespace, graph: str, registrations: list[Any], payload: Any,
               events: list[tuple[str, Any]]) -> dict[str, Any]:
    from ..local.engine import LocalEngine

    async with LocalEngine(db_path(args), durability=args.durability) as engine:
        for registration in registrations:
            engine.register(registration)
        timings = Timings()
        engine.add_listener(timings.on_events)
        # A run this id already names shows only what this command makes it do.
        after = await _last_seq(engine, args.instance_id) if args.instance_id else 0
        status = await engine.start(graph, payload, instance_id=args.instance_id)
        output: Progress | JsonLines = (JsonLines(sys.stdout) if args.json
                                        else Progress(sys.stderr, timings, status.instance_id))
        for name, event_payload in events:
            await engine.raise_event(status.instance_id, name, event_payload)
        try:
            final = await follow(engine, status.instance_id, output.show, after=after)
        finally:
            output.finish()
        return final.to_dict()


async def follow(engine: LocalEngine, instance_id: str, show: Callable[[dict[str, Any]], None], *,
                 after: int = 0) -> RunStatus:
    """Show the run's stream (``LocalEngine.stream``) until it finishes or parks; its status then.

    A waiting run keeps its stream open, so the end is what ``engine.wait`` decides: once the
    run has finished the stream is read to its ``end`` event; once it is parked on a wait no
    buffered event answers, the events stored after the last one shown are shown and the
    reading stops.
    """
    last = after

    async def read() -> None:
        nonlocal last
        async for event in engine.stream(instance_id, after=after):
            show(event)
            last = event.get("seq", last)

    reader = asyncio.create_task(read())
    try:
        final = await engine.wait(instance_id)
        if final.finished:
            await reader
            return final
    finally:
        await _stop(reader)
    while True:  # parked: nothing more comes unless something else sends an event
        batch = await engine.run_events(instance_id, last)
        for seq, event in batch:
            show({**event, "seq": seq})
            last = seq
        if len(batch) < EVENT_PAGE:
            return final


async def _stop(task: asyncio.Task[None]) -> None:
    """Cancel ``task`` and wait until it has ended (its failure, if any, is raised)."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _last_seq(engine: LocalEngine, instance_id: str) -> int:
    """The sequence number of the run's last stored event (0 when there is no such run)."""
    last = 0
    try:
        while batch := await engine.run_events(instance_id, last):
            last = batch[-1][0]
            if len(batch) < EVENT_PAGE:
                break
    except RunNotFoundError:
        return 0
    return last


def _print_outcome(status: dict[str, Any], target: str | None) -> None:
    run_id = status["instance_id"]
    state = (status.get("output") or {}).get("state") if status["status"] == COMPLETED else None
    print(f"run {run_id}: {status['status']}")
    if state is not None:
        print(json.dumps(state, indent=2, default=str))
    if status["status"] == WAITING:
        for wait in status["waiting_for"]:
            print(f"waiting for event '{wait['event']}' (node {wait['node']}); send it with:")
            where = f" --target {target}" if target else ""
            print(f"  durable-graph events send {run_id} {wait['event']} '{{...}}'{where}")
    if status.get("error"):
        error = status["error"]
        print(f"error [{error.get('code')}]: {error.get('message')}")


__all__ = ["add_parser", "follow", "run"]

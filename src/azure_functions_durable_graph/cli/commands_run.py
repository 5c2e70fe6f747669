"""``durable-graph run``: run one graph to its end on the embedded engine, with live progress."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any, TextIO

from ..core import COMPLETED, WAITING
from .commands_graph import select_graph
from .common import add_target_argument
from .discovery import discover
from .engine_session import (
    EXIT_BY_STATUS,
    add_db_argument,
    check_event,
    db_path,
    parse_event_argument,
    parse_json_argument,
)


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Register the ``run`` subcommand."""
    parser = subparsers.add_parser(
        "run", help="run a graph to its end on the embedded engine",
        description="Start a run of one graph of TARGET on the embedded SQLite engine, show its "
        "progress and print the final state. Exit 0 completed, 3 waiting, 4 failed, 5 cancelled.",
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
    parser.add_argument("--json", action="store_true", help="print one JSON document with status and output")
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
    progress = None if args.json else Progress(sys.stderr)
    status = asyncio.run(_run(args, chosen.registration.graph_name, registrations, payload, events, progress))
    if args.json:
        print(json.dumps(status, indent=2, default=str))
    else:
        _print_outcome(status, args.target)
    return EXIT_BY_STATUS.get(status["status"], 4)


async def _run(args: argparse.Namespace, graph: str, registrations: list[Any], payload: Any,
               events: list[tuple[str, Any]], progress: Progress | None) -> dict[str, Any]:
    from ..local.engine import LocalEngine

    async with LocalEngine(db_path(args)) as engine:
        for registration in registrations:
            engine.register(registration)
        if progress is not None:
            engine.add_listener(progress.on_events)
        status = await engine.start(graph, payload, instance_id=args.instance_id)
        for name, event_payload in events:
            await engine.raise_event(status.instance_id, name, event_payload)
        final = await engine.wait(status.instance_id)
        if progress is not None:
            progress.finish()
        return final.to_dict()


class Progress:
    """Node-by-node progress: a live line with a spinner on a terminal, plain lines otherwise."""

    FRAMES = "|/-\\"

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.started: dict[str, float] = {}
        self.frame = 0

    def on_events(self, instance_id: str, seq: int, events: list[dict[str, Any]]) -> None:
        """Print what happened (called by the engine after each persisted transition)."""
        for event in events:
            kind = event["type"]
            if kind == "step_started":
                for task in event["tasks"]:
                    self.started[task["task_id"]] = time.perf_counter()
                names = ", ".join(t["node"] for t in event["tasks"])
                self._live(f"step {event['step']}: running {names}")
            elif kind == "task_completed":
                took = (time.perf_counter() - self.started.pop(event["task_id"], time.perf_counter())) * 1000
                self._line(f"ok     {event['node']} (step {event['step']}, {took:.0f} ms)")
            elif kind == "task_failed":
                retry = " - will retry" if event.get("will_retry") else ""
                self._line(f"failed {event['node']} attempt {event['attempt']}: {event['error'].get('message')}{retry}")
            elif kind == "waiting":
                self._line(f"wait   {event['node']} is waiting for event '{event['event']}'")

    def _live(self, text: str) -> None:
        if self.tty:
            self.frame = (self.frame + 1) % len(self.FRAMES)
            self.stream.write(f"\r\x1b[2K{self.FRAMES[self.frame]} {text}")
            self.stream.flush()

    def _line(self, text: str) -> None:
        if self.tty:
            self.stream.write("\r\x1b[2K")
        self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self) -> None:
        """Clear the live line."""
        if self.tty:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()


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


__all__ = ["add_parser", "run"]

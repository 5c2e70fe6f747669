"""``runs list|show|cancel`` and ``events send`` against a server (``--url``), through the client.

With ``--url`` (or ``DURABLE_GRAPH_URL``) these commands talk to ``durable-graph serve``, the
Durable emulator or a Functions app over HTTP instead of opening the engine's file; the key
comes from ``--api-key`` or ``DURABLE_GRAPH_API_KEY``. Output is the same as on the file.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from ..core import COMPLETED

ENV_URL = "DURABLE_GRAPH_URL"
ENV_API_KEY = "DURABLE_GRAPH_API_KEY"


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """``--url`` and ``--api-key``: work on a server's runs instead of the file's."""
    parser.add_argument("--url", default=None, metavar="URL",
                        help=f"a server to talk to (durable-graph serve, a Functions app); default ${ENV_URL}")
    parser.add_argument("--api-key", default=None, metavar="KEY",
                        help=f"the server's API key or function key; default ${ENV_API_KEY}")


def server_url(args: argparse.Namespace) -> str | None:
    """The server named by ``--url`` or the environment, None to use the file."""
    return getattr(args, "url", None) or os.environ.get(ENV_URL) or None


def _client(args: argparse.Namespace) -> Any:
    from ..client import DurableGraphClient

    return DurableGraphClient(str(server_url(args)), getattr(args, "api_key", None) or os.environ.get(ENV_API_KEY))


def _dump(value: Any) -> str:
    return json.dumps(value, indent=2, default=str)


def run_runs(args: argparse.Namespace) -> int:
    """``runs list|show|cancel`` on the server."""
    with _client(args) as client:
        if args.runs_action == "list":
            runs = []
            for run in client.list_runs(graph=args.graph_name, status=args.status, page_size=min(args.limit, 500)):
                runs.append(run)
                if len(runs) >= args.limit:
                    break
            if args.json:
                print(_dump([r.model_dump(mode="json") for r in runs]))
                return 0
            for run in runs:
                print(f"{run.instance_id}  {run.graph_name:<20} {run.status:<10} step {run.step}")
            if not runs:
                print("no runs")
            return 0
        if args.runs_action == "show":
            run, history = client.get(args.instance_id), client.history(args.instance_id)
            if args.json:
                print(_dump({"run": run.model_dump(mode="json"),
                             "history": [s.model_dump(mode="json") for s in history.steps]}))
                return 0
            print(f"run {run.instance_id}: {run.status} (graph {run.graph_name} {run.graph_version}, step {run.step})")
            for wait in run.waiting_for:
                print(f"  waiting for event '{wait.event}' at node {wait.node}")
            for step in history.steps:
                outcome = "ok" if step.ok else f"failed: {(step.error or {}).get('message')}"
                print(f"  step {step.step}: {step.node} attempt {step.attempt} {outcome}")
            if run.error:
                print(f"  error [{run.error.get('code')}]: {run.error.get('message')}")
            return 0
        run = client.cancel(args.instance_id, args.reason, force=args.force)
        if not args.force:
            run = client.wait(args.instance_id, timeout=30, until_finished=True)
        print(_dump(run.model_dump(mode="json")) if args.json else f"run {run.instance_id}: {run.status}")
        return 0


def run_send(args: argparse.Namespace, payload: Any) -> int:
    """``events send`` on the server: send, then (unless --no-wait) wait until the run
    finishes or waits again."""
    from .engine_session import EXIT_BY_STATUS

    with _client(args) as client:
        before = client.get(args.instance_id)
        client.send_event(args.instance_id, args.event_name, payload)
        run = client.get(args.instance_id)
        if not args.no_wait:
            run = _settled(client, args.instance_id, args.event_name, before.step)
    status = run.model_dump(mode="json")
    if args.json:
        print(_dump(status))
    else:
        print(f"run {run.instance_id}: {run.status}")
        if run.status == COMPLETED:
            print(_dump(run.state))
    return EXIT_BY_STATUS.get(run.status, 4) if not args.no_wait else 0


def _settled(client: Any, instance_id: str, event: str, step: int, timeout: float = 60.0) -> Any:
    """The run once it finished, waits again after the step it was at (the event moved it),
    or waits for other events only (this one stays buffered)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        run = client.wait(instance_id, timeout=max(0.0, deadline - time.monotonic()))
        elsewhere = event not in [w.event for w in run.waiting_for]
        if run.finished or run.step > step or elsewhere or time.monotonic() >= deadline:
            return run
        time.sleep(0.05)


__all__ = ["ENV_API_KEY", "ENV_URL", "add_server_arguments", "run_runs", "run_send", "server_url"]

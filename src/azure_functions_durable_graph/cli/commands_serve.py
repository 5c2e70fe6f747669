"""``durable-graph serve``: the HTTP API over the embedded engine, for the graphs of TARGET."""

from __future__ import annotations

import argparse
import ipaddress
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from .common import UsageError, add_target_argument, print_warning
from .discovery import discover
from .engine_session import add_db_argument, add_durability_argument, db_path

# Open streams (SSE followers of waiting runs) get this long to end before shutdown goes on.
GRACEFUL_SECONDS = 3
EXIT_NOT_STARTED = 2  # the server could not start (docs/cli.md, exit codes)
ENGINES = ("local", "durable-emulator")


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Register the ``serve`` subcommand."""
    parser = subparsers.add_parser(
        "serve", help="serve the HTTP API locally on the embedded engine",
        description="Load TARGET (default function_app.py), run the embedded SQLite engine and the "
        "HTTP API in one process. Stops gracefully on Ctrl+C or SIGTERM; runs stay stored.",
    )
    add_target_argument(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=7071, help="port (default 7071, as the Functions host)")
    add_db_argument(parser)
    add_durability_argument(parser)
    parser.add_argument("--api-key", default=None,
                        help="require this key (x-functions-key or Bearer); default: $DURABLE_GRAPH_API_KEY")
    parser.add_argument("--prefix", default="/api", help="route prefix (default /api)")
    parser.add_argument(
        "--allow-host", action="append", default=[], metavar="NAME",
        help="also answer requests whose Host header is NAME (repeatable; '*' answers any). Bound to "
        "loopback, only localhost, 127.0.0.1 and [::1] are answered by default (DNS rebinding)",
    )
    parser.add_argument("--reload", action="store_true", help="restart when files in TARGET's folder change")
    parser.add_argument("--header-timeout", type=_seconds, default=10.0, metavar="SECONDS",
                        help="close a connection whose request line and headers take longer (default 10)")
    parser.add_argument("--body-timeout", type=_seconds, default=30.0, metavar="SECONDS",
                        help="answer 408 and close when a request body takes longer (default 30)")
    parser.add_argument(
        "--engine", choices=ENGINES, default="local",
        help="local: the embedded SQLite engine (default); durable-emulator: the generated Azure "
        "Functions app run by the Durable emulator through the real Durable SDK (history in memory)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    from ..api.deadlines import deadline_protocol
    from ..api.server import (
        ENV_ALLOWED_HOSTS,
        ENV_API_KEY,
        ENV_DB,
        ENV_DURABILITY,
        ENV_PREFIX,
        ENV_TARGET,
        build_local_app,
    )
    from .reload_app import FACTORY as RELOAD_FACTORY

    api_key = args.api_key or os.environ.get(ENV_API_KEY) or None
    discovery = discover(args.target)  # load errors are reported before the server starts
    registrations = [g.registration for g in discovery.graphs if g.registration is not None]
    for graph in discovery.graphs:
        if graph.error is not None:
            print_warning(f"graph '{graph.graph_name}' is invalid and not served: {graph.error.message}")
    if not _is_loopback(args.host) and api_key is None:
        print_warning(f"binding to {args.host} without an API key: anyone who can reach it can run graphs")
    if args.engine == "durable-emulator":
        return _serve_on_emulator(args, registrations)
    _check_database(db_path(args))  # in one line, before uvicorn would print a traceback
    hosts = allowed_hosts(args.host, args.allow_host)
    names = [g.graph_name for g in discovery.graphs if g.registration is not None]
    print("\n".join(local_banner(f"http://{args.host}:{args.port}", args.prefix, names, db_path(args))))
    sys.stdout.flush()
    options = {"host": args.host, "port": args.port, "log_level": "warning",
               "timeout_graceful_shutdown": GRACEFUL_SECONDS,
               "http": deadline_protocol(args.header_timeout, args.body_timeout)}
    if args.reload:
        os.environ[ENV_TARGET] = str(Path(discovery.target).resolve()) if Path(discovery.target).exists() else discovery.target
        os.environ[ENV_DB] = str(db_path(args))
        os.environ[ENV_DURABILITY] = args.durability
        os.environ[ENV_PREFIX] = args.prefix
        if api_key:
            os.environ[ENV_API_KEY] = api_key
        if hosts is not None:
            os.environ[ENV_ALLOWED_HOSTS] = ",".join(hosts)
        else:
            os.environ.pop(ENV_ALLOWED_HOSTS, None)
        folder = Path(discovery.target).resolve().parent if Path(discovery.target).exists() else Path.cwd()
        return _run_uvicorn(RELOAD_FACTORY, factory=True,
                            reload=True, reload_dirs=[str(folder)], **options)
    app = build_local_app(registrations, db=db_path(args), api_key=api_key, prefix=args.prefix,
                          allowed_hosts=hosts, durability=args.durability)
    return _run_uvicorn(app, **options)


def _run_uvicorn(app: Any, **options: Any) -> int:
    """Serve; when uvicorn cannot start (the port is taken) it has logged one line: exit 2."""
    import uvicorn

    try:
        uvicorn.run(app, **options)
    except SystemExit as exc:
        if exc.code not in (0, None):
            return EXIT_NOT_STARTED
    return 0


def _check_database(db: Path) -> None:
    """Refuse, as a one-line StoreError, a file that is not this engine's or is in use."""
    from ..local.ownership import EngineLock
    from ..local.store.sqlite import SqliteRunStore

    SqliteRunStore(db).close()
    lock = EngineLock(db)
    lock.acquire()  # STORE_IN_USE while another engine (serve, run, ...) has the file
    lock.release()


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"'{text}' must be a positive number of seconds")
    return value


def _serve_on_emulator(args: argparse.Namespace, registrations: list[Any]) -> int:
    """Serve the generated Functions app on the Durable emulator until SIGINT/SIGTERM."""
    from ..azure.app import DurableGraphApp
    from ..azure.emulator import DurableEmulator, EmulatorServer

    if args.reload:
        raise UsageError("--reload is not supported with --engine durable-emulator")
    if args.prefix.strip("/") != "api":
        raise UsageError("--prefix is fixed to /api with --engine durable-emulator (the Functions route prefix)")
    runtime = DurableGraphApp()
    for registration in registrations:
        runtime.register_registration(registration)
    emulator = DurableEmulator(runtime.function_app)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with EmulatorServer(emulator, host=args.host, port=args.port,
                        allowed_hosts=allowed_hosts(args.host, args.allow_host)) as server:
        print("\n".join(emulator_banner(server.base_url, [r.graph_name for r in registrations])))
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    print("durable-graph: emulator stopped")
    return 0


def local_banner(root: str, prefix: str, graphs: list[str], db: Path) -> list[str]:
    """What ``serve`` prints on the local engine; every URL in it answers (the tests check)."""
    base = root + prefix.rstrip("/")
    lines = [f"durable-graph serving {', '.join(graphs) or 'no graphs'}",
             f"  inspector {root}/"]
    if base != root:  # with an empty prefix, / is the inspector
        lines.append(f"  API       {base}/")
    return [*lines, f"  docs      {base}/docs", f"  OpenAPI   {base}/openapi.json", f"  database  {db}"]


def emulator_banner(root: str, graphs: list[str]) -> list[str]:
    """What ``serve --engine durable-emulator`` prints: the Functions app's own URLs (no inspector)."""
    base = f"{root}/api"
    return [f"durable-graph serving {', '.join(graphs) or 'no graphs'} on the Durable emulator "
            "(Durable history in memory, lost at exit)",
            f"  graphs    {base}/graphs", f"  docs      {base}/docs", f"  OpenAPI   {base}/openapi.json"]


def allowed_hosts(bind: str, extra: list[str]) -> list[str] | None:
    """The Host names ``serve`` answers: on loopback the loopback names plus ``extra``; on
    another address only when ``extra`` names some (None: any Host)."""
    from ..api.hosts import LOOPBACK_HOSTS

    if not _is_loopback(bind) and not extra:
        return None  # the names a public address is reached by are not known here
    return [*LOOPBACK_HOSTS, *extra]


def _is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


__all__ = ["add_parser", "allowed_hosts", "emulator_banner", "local_banner", "run"]

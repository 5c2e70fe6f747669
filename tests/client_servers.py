"""Both engines served on loopback for the client tests, and a proxy that cuts connections.

``local``: the embedded engine (memory store, manual clock) behind its Starlette app, served by
uvicorn on a thread (what ``durable-graph serve`` runs). ``emulator``: the generated Functions
app on the Durable emulator (the conformance suite's fixture). :class:`CuttingProxy` forwards
TCP on loopback and drops chosen connections after a number of answer bytes.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn

from azure_functions_durable_graph import GraphRegistration
from azure_functions_durable_graph.api.server import build_local_app
from azure_functions_durable_graph.execution import ManualClock
from azure_functions_durable_graph.local.engine import LocalEngine
from azure_functions_durable_graph.local.store.memory import MemoryRunStore
from http_conformance import LocalHttpEngine, emulator_engine


class LoopbackServer:
    """An ASGI app served by uvicorn on its own thread and loop, lifespan included."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.base_url = ""
        self.loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._server: uvicorn.Server | None = None
        self._thread = threading.Thread(target=self._run, name="loopback-server", daemon=True)

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        assert self._ready.wait(30), "the loopback server did not start"
        assert self.base_url, "the loopback server failed to start"
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None and self.loop is not None:
            self.loop.call_soon_threadsafe(setattr, self._server, "should_exit", True)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        try:
            self.loop.run_until_complete(self._serve())
        finally:
            self._ready.set()
            self.loop.close()

    async def _serve(self) -> None:
        config = uvicorn.Config(self.app, host="127.0.0.1", port=0, log_level="warning", access_log=False)
        self._server = uvicorn.Server(config)
        serving = asyncio.get_running_loop().create_task(self._server.serve())
        while not self._server.started and not serving.done():
            await asyncio.sleep(0.01)
        if self._server.started:
            port = self._server.servers[0].sockets[0].getsockname()[1]
            self.base_url = f"http://127.0.0.1:{port}"
        self._ready.set()
        await serving

    def call(self, coroutine: Any) -> Any:
        """Run a coroutine on the server's loop and return its result."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(60)


class LoopbackLocalEngine(LocalHttpEngine):
    """The conformance suite's local engine, reached over a real socket."""

    def __init__(self, client: httpx.Client, engine: LocalEngine, clock: ManualClock,
                 server: LoopbackServer) -> None:
        super().__init__(client, engine, clock)  # type: ignore[arg-type]
        self.server = server
        self.base_url = server.base_url

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.server.call(self._wake())


@contextmanager
def local_loopback(registration: GraphRegistration, *, api_key: str | None = None) -> Iterator[LoopbackLocalEngine]:
    """The local engine serving ``registration`` on a loopback port."""
    clock = ManualClock(auto_advance=False)
    engine = LocalEngine(MemoryRunStore(), clock=clock)
    app = build_local_app([registration], engine=engine, api_key=api_key)
    headers = {"x-functions-key": api_key} if api_key else {}
    with LoopbackServer(app) as server, httpx.Client(base_url=server.base_url, timeout=30, headers=headers) as client:
        yield LoopbackLocalEngine(client, engine, clock, server)


@contextmanager
def emulator_loopback(registration: GraphRegistration) -> Iterator[Any]:
    """The conformance suite's emulator engine, with its ``base_url``."""
    with emulator_engine(registration) as engine:
        engine.base_url = engine.server.base_url
        yield engine


LOOPBACK_ENGINES = {"local": local_loopback, "emulator": emulator_loopback}


@dataclass
class Cut:
    """Drop the first ``times`` connections whose request contains ``marker``, once
    ``after_bytes`` bytes of the answer were passed on."""

    marker: bytes
    after_bytes: int
    times: int = 1


@dataclass
class CuttingProxy:
    """A loopback TCP proxy in front of ``target`` (``http://host:port``)."""

    target: str
    cuts: list[Cut] = field(default_factory=list)
    requests: list[bytes] = field(default_factory=list)  # the first bytes of every request
    cut_count: int = 0

    def __post_init__(self) -> None:
        host, port = self.target.removeprefix("http://").split(":")
        self._upstream = (host, int(port))
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        """Stop accepting connections."""
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(downstream,), daemon=True).start()

    def _serve(self, downstream: socket.socket) -> None:
        upstream = socket.create_connection(self._upstream)
        head = downstream.recv(65536)
        with self._lock:
            self.requests.append(head)
            cut = next((c for c in self.cuts if c.marker in head and c.times > 0), None)
            if cut is not None:
                cut.times -= 1
        upstream.sendall(head)
        threading.Thread(target=self._pipe, args=(downstream, upstream), daemon=True).start()
        passed = 0
        try:
            while True:
                chunk = upstream.recv(65536)
                if not chunk:
                    break
                if cut is not None and passed + len(chunk) >= cut.after_bytes:
                    downstream.sendall(chunk[:cut.after_bytes - passed])
                    with self._lock:
                        self.cut_count += 1
                    break
                downstream.sendall(chunk)
                passed += len(chunk)
        except OSError:
            pass
        finally:
            for sock in (downstream, upstream):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass


__all__ = ["LOOPBACK_ENGINES", "Cut", "CuttingProxy", "LoopbackServer", "emulator_loopback", "local_loopback"]

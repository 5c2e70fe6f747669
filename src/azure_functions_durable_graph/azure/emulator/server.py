"""``EmulatorServer``: the emulator served over loopback HTTP from a background thread."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

import uvicorn

from ...api.hosts import HostCheck
from .errors import EmulatorError
from .host import DurableEmulator


async def close_sdk_session() -> None:
    """Close the durable SDK's shared aiohttp session (it is bound to the loop that made it)."""
    from azure.durable_functions.models.utils import http_utils

    closer = getattr(http_utils, "_close_session", None)
    if closer is not None:
        await closer()


class EmulatorServer:
    """Serve ``emu`` with uvicorn on its own loop and thread; use as a context manager.

    The emulator's dispatcher runs on the same loop, so orchestrations progress by
    themselves. ``base_url`` is known once entered; :meth:`call` runs code on the server loop.
    """

    def __init__(self, emu: DurableEmulator, host: str = "127.0.0.1", port: int = 0,
                 *, startup_timeout: float = 15.0, allowed_hosts: Iterable[str] | None = None) -> None:
        self.emu = emu
        # The Host names answered (421 otherwise, as ``durable-graph serve`` does); None: any.
        self.allowed_hosts = None if allowed_hosts is None else list(allowed_hosts)
        self.host = host
        self.port = port
        self.startup_timeout = startup_timeout
        self.base_url: str = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: uvicorn.Server | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None

    # --------------------------------------------------------------- lifecycle

    def __enter__(self) -> EmulatorServer:
        self._thread = threading.Thread(target=self._run, name="durable-emulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(self.startup_timeout):
            raise EmulatorError(f"emulator server did not start within {self.startup_timeout}s")
        if self._failure is not None:
            raise EmulatorError(f"emulator server failed to start: {self._failure}")
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop uvicorn and the dispatcher, close the SDK session, join the thread."""
        if self._loop is not None and self._server is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(setattr, self._server, "should_exit", True)
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # surfaced to __enter__ if startup never finished
            self._failure = exc
        finally:
            self._ready.set()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self) -> None:
        app: Any = self.emu.asgi_app()
        if self.allowed_hosts is not None:
            app = HostCheck(app, self.allowed_hosts)
        config = uvicorn.Config(app, host=self.host, port=self.port,
                                log_level="warning", lifespan="off", access_log=False)
        server = uvicorn.Server(config)
        self._server = server
        serving = asyncio.get_running_loop().create_task(server.serve())
        try:
            while not server.started:
                if serving.done():
                    await serving  # raises the startup error
                    raise EmulatorError("uvicorn exited before it started")
                await asyncio.sleep(0.01)
            port = server.servers[0].sockets[0].getsockname()[1]
            self.base_url = f"http://{self.host}:{port}"
            self.emu.base_url = self.base_url
            self.emu.start_dispatcher()
            self._ready.set()
            await serving
        finally:
            await self.emu.aclose()
            # The SDK keeps one aiohttp session per process, tied to this loop: close it so
            # the next loop (another server, another test) opens a fresh one.
            await close_sdk_session()
            if not serving.done():
                serving.cancel()

    # ---------------------------------------------------------------- helpers

    def call(self, fn: Callable[..., Any], *args: Any, timeout: float | None = 60.0) -> Any:
        """Run ``fn(*args)`` on the server loop (awaiting it if it returns an awaitable)."""
        if self._loop is None or not self._loop.is_running():
            raise EmulatorError("the emulator server is not running")

        async def invoke() -> Any:
            result = fn(*args)
            if inspect.isawaitable(result):
                result = await result
            return result

        return asyncio.run_coroutine_threadsafe(invoke(), self._loop).result(timeout)

    def run_until_idle(self) -> None:
        """Process all runnable work now (see :meth:`DurableEmulator.run_until_idle`)."""
        self.call(self.emu.run_until_idle)

    def pending_timers(self, instance_id: str) -> list[float]:
        """When the instance's armed timers are due, earliest first (read on the server loop)."""

        async def read() -> list[float]:
            return self.emu.pending_timers(instance_id)

        return list(self.call(read))

    def advance_clock(self, seconds: float) -> float:
        """Advance the emulator's ``ManualClock`` and wake the timers now due; the new time."""
        return float(self.call(self.emu.advance_clock, seconds))

    def wait_for(self, instance_id: str, predicate: Callable[[Any], bool] | None = None,
                 timeout: float = 10.0) -> Any:
        """Block until the instance finished (or ``predicate`` holds); its snapshot."""
        return self.call(self.emu.wait_for, instance_id, predicate, timeout,
                         timeout=timeout + 5.0)


__all__ = ["EmulatorServer", "close_sdk_session"]

"""Read deadlines for the local server: a slow client cannot hold a connection forever.

uvicorn bounds only the idle time between two requests of a kept-alive connection. This HTTP
protocol (uvicorn's httptools one, plus two timers) also bounds how long a request may take to
arrive: its head (request line and headers) within ``header_timeout`` seconds of the
connection opening or of the request's first byte, then its body within ``body_timeout``
seconds of the head. A client that misses a deadline gets ``408`` in the package's error
shape, when no response has started, and the connection is closed.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ..graph.errors import DurableGraphError
from .protocol import error_response

logger = logging.getLogger(__name__)

DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_BODY_TIMEOUT = 30.0


class RequestTimeout(DurableGraphError):
    """A request's head or body did not arrive in time (the local server's read deadlines)."""

    code = "REQUEST_TIMEOUT"
    http_status = 408


def timeout_answer(message: str) -> bytes:
    """The raw ``408`` response, in the error shape, that closes the connection."""
    body = error_response(RequestTimeout(message)).encoded()
    head = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode("ascii") + b"\r\nconnection: close\r\n\r\n")
    return head + body


class DeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a head deadline and a body deadline per request."""

    def __init__(self, *args: Any, header_timeout: float = DEFAULT_HEADER_TIMEOUT,
                 body_timeout: float = DEFAULT_BODY_TIMEOUT, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self._deadline: asyncio.TimerHandle | None = None
        self._waiting_for = ""  # "head" or "body" while a deadline is armed

    # -- the two deadlines -------------------------------------------------------------------
    def _arm(self, what: str, seconds: float) -> None:
        self._disarm()
        self._waiting_for = what
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._waiting_for = ""

    def _expired(self) -> None:
        what, self._deadline, self._waiting_for = self._waiting_for, None, ""
        if self.transport.is_closing():
            return
        limit = self.header_timeout if what == "head" else self.body_timeout
        cycle = self.cycle
        logger.info("closing a connection from %s: request %s not received within %g s",
                    self.client, what, limit)
        # No answer in the middle of another one (a pipelined head behind a running response).
        answer = cycle is None or (not cycle.response_started if what == "body" else cycle.response_complete)
        if answer:
            self.transport.write(timeout_answer(f"request {what} not received within {limit:g} s"))
        if cycle is not None and what == "body":
            # The app may still be reading the body: it now sees the client gone, and anything
            # it sends is dropped (the 408 is already the answer).
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()

    # -- uvicorn's hooks -----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the head deadline: a connection that sends nothing is closed as well."""
        super().connection_made(transport)
        self._arm("head", self.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        """Drop the deadline with the connection."""
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        """A request's first byte: on a kept-alive connection its head deadline starts here."""
        super().on_message_begin()
        if self._deadline is None:
            self._arm("head", self.header_timeout)

    def on_headers_complete(self) -> None:
        """The head is in: the body deadline replaces the head deadline."""
        super().on_headers_complete()
        self._arm("body", self.body_timeout)

    def on_message_complete(self) -> None:
        """The whole request is in: no deadline until the next one begins."""
        super().on_message_complete()
        self._disarm()


def deadline_protocol(header_timeout: float, body_timeout: float) -> Any:
    """What to pass as uvicorn's ``http``: the protocol with these deadlines (picklable)."""
    return functools.partial(DeadlineProtocol, header_timeout=header_timeout, body_timeout=body_timeout)


__all__ = ["DEFAULT_BODY_TIMEOUT", "DEFAULT_HEADER_TIMEOUT", "DeadlineProtocol", "RequestTimeout",
           "deadline_protocol", "timeout_answer"]

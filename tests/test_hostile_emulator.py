"""Issue 13, item 11: malformed requests get the same answer from both engines over HTTP.

One table of refused requests (unknown routes, wrong methods, bodies that are not JSON or not
UTF-8, JSON that is not an object, garbage cursors, bodies over the limit) is sent to the local
engine and to the generated Functions app on the Durable emulator; each row names the status and
error code both must give, in the package's error shape. The emulator also has to stop reading
an oversized body at the limit (it used to read a 300 MB body whole before its 413), which is
checked on a raw socket: the answer comes before the body has been sent.
"""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest

from azure_functions_durable_graph.api.dispatch import DEFAULT_MAX_BODY
from azure_functions_durable_graph.graph.registration import GraphRegistration
from graph_helpers import build_waiting_graph
from http_conformance import ENGINES, EmulatorHttpEngine, HttpEngine, emulator_engine

GRAPH = "hostile_http"
WAITING = "hostile-waiting"
START = f"/api/graphs/{GRAPH}/runs"
RUN = f"/api/runs/{WAITING}"
JSON = {"content-type": "application/json"}


def build_graph() -> GraphRegistration:
    """The shared waiting graph (graph_helpers.build_waiting_graph) under this module's name."""
    return build_waiting_graph(GRAPH)


@dataclass(frozen=True)
class Row:
    """One malformed request and the answer both engines must give."""

    name: str
    method: str
    path: str
    status: int
    code: str
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    chunked: bool = False  # send the body in pieces, without a Content-Length

    def send(self, engine: HttpEngine) -> Any:
        """Send the request over the engine's HTTP client; the response."""
        content: Any = self.body
        if self.chunked and self.body is not None:
            whole = self.body
            content = (whole[i:i + 65536] for i in range(0, len(whole), 65536))
        return engine.client.request(self.method, self.path, content=content, headers=self.headers)


OVER = b"{" + b" " * DEFAULT_MAX_BODY + b"}"  # one byte more than the limit, all valid JSON

ROWS = [
    # No route: the emulator used to answer an empty 404.
    Row("unknown route", "GET", "/api/nope", 404, "NOT_FOUND"),
    Row("outside the route prefix", "GET", "/elsewhere", 404, "NOT_FOUND"),
    Row("too many segments", "GET", "/api/runs/x/y/z", 404, "NOT_FOUND"),
    Row("past a route", "POST", START + "/extra", 404, "NOT_FOUND", b"{}", JSON),
    Row("an encoded slash in an id", "GET", "/api/runs/a%2Fb", 404, "NOT_FOUND"),
    # A route without the method: the emulator used to answer an empty 405.
    Row("GET on start", "GET", START, 405, "METHOD_NOT_ALLOWED"),
    Row("PUT on start", "PUT", START, 405, "METHOD_NOT_ALLOWED", b"{}", JSON),
    Row("DELETE on a graph", "DELETE", f"/api/graphs/{GRAPH}", 405, "METHOD_NOT_ALLOWED"),
    Row("PATCH on runs", "PATCH", "/api/runs", 405, "METHOD_NOT_ALLOWED", b"{}", JSON),
    Row("POST on health", "POST", "/api/health", 405, "METHOD_NOT_ALLOWED"),
    Row("OPTIONS", "OPTIONS", "/api/health", 405, "METHOD_NOT_ALLOWED"),
    Row("a method nobody takes", "PROPFIND", "/api/health", 405, "METHOD_NOT_ALLOWED"),
    # Not JSON, or not UTF-8: the emulator used to decode with replacement characters and start.
    Row("not JSON", "POST", START, 400, "INVALID_JSON", b"{not json", JSON),
    Row("invalid UTF-8", "POST", START, 400, "INVALID_JSON", b'{"input": {"data": "\xff"}}', JSON),
    Row("invalid UTF-8, input not an object", "POST", START, 400, "INVALID_JSON", b'{"input": "\xff"}', JSON),
    Row("truncated UTF-8", "POST", START, 400, "INVALID_JSON", b'{"input": {"data": "\xc3"}}', JSON),
    Row("an encoded surrogate", "POST", START, 400, "INVALID_JSON", b'{"input": {"data": "\xed\xa0\x80"}}', JSON),
    Row("an escaped lone surrogate", "POST", START, 400, "INVALID_JSON", b'{"input": {"data": "\\ud800"}}', JSON),
    Row("NaN", "POST", START, 400, "INVALID_JSON", b'{"input": {"data": NaN}}', JSON),
    Row("event: invalid UTF-8", "POST", RUN + "/events/answer", 400, "INVALID_JSON", b'{"data": "\xff"}', JSON),
    Row("event: not JSON", "POST", RUN + "/events/answer", 400, "INVALID_JSON", b"\xff", JSON),
    Row("cancel: not JSON", "POST", RUN + "/cancel", 400, "INVALID_JSON", b"\xff", JSON),
    # JSON, but not the object the route takes.
    Row("start: an array", "POST", START, 400, "INVALID_INPUT", b"[1, 2]", JSON),
    Row("start: a string", "POST", START, 400, "INVALID_INPUT", b'"x"', JSON),
    Row("start: null", "POST", START, 400, "INVALID_INPUT", b"null", JSON),
    Row("start: input a number", "POST", START, 400, "INVALID_INPUT", b'{"input": 5}', JSON),
    Row("event: an array", "POST", RUN + "/events/answer", 400, "INVALID_INPUT", b"[1]", JSON),
    Row("event: a string", "POST", RUN + "/events/answer", 400, "INVALID_INPUT", b'"x"', JSON),
    Row("cancel: an array", "POST", RUN + "/cancel", 400, "INVALID_INPUT", b"[1]", JSON),
    Row("cancel: reason a number", "POST", RUN + "/cancel", 400, "INVALID_INPUT", b'{"reason": 5}', JSON),
    # Garbage cursors and filters on the list of runs.
    Row("cursor: text", "GET", "/api/runs?cursor=not-a-cursor", 400, "INVALID_CURSOR"),
    Row("cursor: base64 null", "GET", "/api/runs?cursor=bnVsbA==", 400, "INVALID_CURSOR"),
    Row("cursor: base64 of another object", "GET", "/api/runs?cursor=eyJ4IjoxfQ==", 400, "INVALID_CURSOR"),
    Row("cursor: not UTF-8", "GET", "/api/runs?cursor=%FF%FE", 400, "INVALID_CURSOR"),
    Row("limit 0", "GET", "/api/runs?limit=0", 400, "INVALID_INPUT"),
    Row("an unknown status", "GET", "/api/runs?status=bogus", 400, "INVALID_INPUT"),
    # Over the body limit, declared or streamed.
    Row("declared over the limit", "POST", START, 413, "BODY_TOO_LARGE", OVER, JSON),
    Row("chunked over the limit", "POST", START, 413, "BODY_TOO_LARGE", OVER * 2, JSON, chunked=True),
]


@pytest.fixture(scope="module", params=list(ENGINES))
def engine(request: pytest.FixtureRequest) -> Iterator[HttpEngine]:
    """An engine serving the graph, with one run parked on its wait (the event and cancel rows')."""
    with ENGINES[request.param](build_graph()) as served:
        response = served.client.post(START, json={"input": {}, "instance_id": WAITING})
        assert response.status_code == 202, response.text
        assert served.settle(WAITING)["status"] == "waiting"
        yield served


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_a_malformed_request_gets_the_same_answer_on_both_engines(engine: HttpEngine, row: Row) -> None:
    response = row.send(engine)
    assert response.status_code == row.status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    error = response.json()["error"]
    assert error["code"] == row.code, error
    assert set(error) == {"code", "message", "details"}
    assert isinstance(error["message"], str) and error["message"] and "\n" not in error["message"]
    # The refusals changed nothing: the run is still parked on its wait.
    assert engine.client.get(RUN).json()["status"] == "waiting"


def test_empty_bodies_are_empty_objects_on_both_engines(engine: HttpEngine) -> None:
    started = engine.client.post(START, content=b"")
    assert started.status_code == 202, started.text
    run_id = started.json()["instance_id"]
    assert engine.settle(run_id)["status"] == "waiting"
    sent = engine.client.post(f"/api/runs/{run_id}/events/answer", content=b"")
    assert sent.status_code == 202, sent.text
    assert engine.settle(run_id)["status"] == "completed"
    other = engine.client.post(START, content=b" \r\n")
    assert other.status_code == 202, other.text
    other_id = other.json()["instance_id"]
    engine.settle(other_id)
    cancelled = engine.client.post(f"/api/runs/{other_id}/cancel", content=b"")
    assert cancelled.status_code == 202, cancelled.text
    assert engine.settle(other_id)["status"] == "cancelled"


# ------------------------------------------------------------------ the emulator's own socket


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorHttpEngine]:
    """The Functions app on the Durable emulator, for requests sent on a raw socket."""
    with emulator_engine(build_graph()) as served:
        yield served


def _address(served: EmulatorHttpEngine) -> tuple[str, int]:
    url = urlsplit(served.server.base_url)
    assert url.hostname is not None and url.port is not None
    return url.hostname, url.port


def _read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of the one response on ``sock``, read until the server closes."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:  # the server closed with the rest of our body unread
        pass
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def test_the_emulator_stops_reading_a_chunked_body_at_the_limit(emulator: EmulatorHttpEngine) -> None:
    total = 8 * DEFAULT_MAX_BODY
    piece = b" " * 65536
    frame = b"%x\r\n" % len(piece) + piece + b"\r\n"
    head = (f"POST {START} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n").encode()
    with socket.create_connection(_address(emulator), timeout=10) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)  # little in flight unread
        sock.sendall(head)
        sent = 0
        deadline = time.monotonic() + 30
        while sent < total and time.monotonic() < deadline:
            readable, writable, _ = select.select([sock], [sock], [], 1.0)
            if readable:  # the answer (or the close) came before the whole body
                break
            if writable:
                try:
                    sock.sendall(frame)
                except (BrokenPipeError, ConnectionResetError):
                    break  # closed on us: it stopped reading
                sent += len(piece)
        status, headers, body = _read_answer(sock)
    assert sent < total, "the whole body was sent before any answer: the server read all of it"
    assert status == 413 and headers.get("connection") == "close", (status, headers)
    assert json.loads(body)["error"]["code"] == "BODY_TOO_LARGE"


def test_the_emulator_refuses_a_declared_length_before_reading(emulator: EmulatorHttpEngine) -> None:
    head = (f"POST {START} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Content-Length: 300000000\r\n\r\n").encode()
    with socket.create_connection(_address(emulator), timeout=10) as sock:
        sock.sendall(head)  # and not one byte of the body
        status, headers, body = _read_answer(sock)
    assert status == 413 and headers.get("connection") == "close", (status, headers)
    error = json.loads(body)["error"]
    assert error["code"] == "BODY_TOO_LARGE" and "300000000 bytes" in error["message"]


def test_the_emulator_names_the_allowed_methods_of_a_405(emulator: EmulatorHttpEngine) -> None:
    assert emulator.client.get(START).headers["allow"] == "POST"
    assert emulator.client.put(f"/api/runs/{WAITING}").headers["allow"] == "DELETE, GET"


@pytest.mark.parametrize("engine_name", list(ENGINES))
def test_every_engine_names_every_method_of_the_path_in_a_405(engine_name: str) -> None:
    # GET and DELETE are two routes on one path: the Allow of a 405 lists both. The local
    # server also answers HEAD where it answers GET; a Functions HTTP trigger takes only the
    # methods its route lists, so the emulator (like the host) does not.
    with ENGINES[engine_name](build_waiting_graph(GRAPH)) as engine:
        allow = engine.client.put("/api/runs/some-run", json={}).headers["allow"]
    expected = {"local": "DELETE, GET, HEAD", "emulator": "DELETE, GET"}[engine_name]
    assert ", ".join(sorted(m.strip() for m in allow.split(","))) == expected

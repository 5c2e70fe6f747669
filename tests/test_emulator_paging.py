"""The emulator's instances query pages as the extension does (``HttpApiHandler.cs``).

A default page of 100, ``top`` honoured, the ``x-ms-continuation-token`` header on every answer
(empty on the last page) and accepted on the next request. The real Python client reads one page
only, which is why the Azure backend follows the token itself (``azure/management.py``).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from starlette.testclient import TestClient

from azure_functions_durable_graph.azure.emulator import DurableEmulator, EmulatorServer
from azure_functions_durable_graph.azure.emulator.client_binding import client_binding_json
from azure_functions_durable_graph.azure.emulator.paging import (
    DEFAULT_PAGE_SIZE,
    PagingError,
    decode_token,
    encode_token,
    page_size,
)
from azure_functions_durable_graph.execution.clock import ManualClock
from emulator_apps import app

LIST = "/runtime/webhooks/durabletask/instances"
TOKEN = "x-ms-continuation-token"


@pytest.fixture
def hub() -> Iterator[TestClient]:
    """The emulator's HTTP API in process; no dispatcher, so started instances stay Pending."""
    emulator = DurableEmulator(app, clock=ManualClock(auto_advance=False))
    with TestClient(emulator.asgi_app()) as client:
        yield client


def _start(client: TestClient, count: int, prefix: str = "i") -> list[str]:
    ids = [f"{prefix}{n:04d}" for n in range(count)]
    for instance_id in ids:
        assert client.post(f"/runtime/webhooks/durabletask/orchestrators/waiter/{instance_id}").status_code == 202
    return ids


def _walk(client: TestClient, **params: str) -> list[list[str]]:
    """Every page's instance ids, following the token until it comes back empty."""
    pages, token = [], None
    for _ in range(50):
        response = client.get(LIST, params=params, headers={TOKEN: token} if token else {})
        assert response.status_code == 200, response.text
        assert TOKEN in response.headers  # always sent, as the extension does
        pages.append([item["instanceId"] for item in response.json()])
        token = response.headers[TOKEN]
        if not token:
            return pages
    raise AssertionError("the token never ran out")


@pytest.mark.parametrize(("top", "size"), [
    (None, DEFAULT_PAGE_SIZE), ("5", 5), (" +7 ", 7), ("abc", 100), ("1.5", 100), ("", 100),
    ("2147483647", 2147483647), ("2147483648", 100), ("٣", 100),
])
def test_page_size_follows_int_tryparse(top: str | None, size: int) -> None:
    assert page_size(top) == size


@pytest.mark.parametrize("top", ["0", "-1"])
def test_a_page_size_below_one_is_refused(top: str) -> None:
    with pytest.raises(PagingError):
        page_size(top)


def test_tokens_round_trip_and_strangers_are_refused() -> None:
    assert decode_token(encode_token(42)) == 42
    assert decode_token(None) == decode_token("") == decode_token("  ") == 0
    for stranger in ("bnVsbA==", "not base64!", encode_token(1)[:-2] + "xx"):
        with pytest.raises(PagingError):
            decode_token(stranger)


def test_default_pages_of_100_until_the_token_is_empty(hub: TestClient) -> None:
    ids = _start(hub, 250)
    pages = _walk(hub)
    assert [len(p) for p in pages] == [100, 100, 50]
    assert [i for p in pages for i in p] == ids  # creation order, nothing twice


def test_top_is_honoured_and_filters_apply_before_paging(hub: TestClient) -> None:
    ids = _start(hub, 25, "a") + _start(hub, 10, "b")
    assert [len(p) for p in _walk(hub, top="10")] == [10, 10, 10, 5]
    assert [i for p in _walk(hub, top="4", instanceIdPrefix="b") for i in p] == ids[25:]
    exact = _walk(hub, top="35")
    assert [len(p) for p in exact] == [35] and exact[0] == ids


def test_instances_started_or_purged_between_pages_neither_repeat_nor_hide_others(hub: TestClient) -> None:
    ids = _start(hub, 30)
    first = hub.get(LIST, params={"top": "10"})
    token = first.headers[TOKEN]
    # Restarting a listed id moves it after the others; a new one comes last.
    hub.post("/runtime/webhooks/durabletask/instances/i0003/terminate")
    assert hub.post("/runtime/webhooks/durabletask/orchestrators/waiter/i0003").status_code == 202
    _start(hub, 1, "new")
    rest: list[str] = []
    while token:
        response = hub.get(LIST, params={"top": "10"}, headers={TOKEN: token})
        rest += [item["instanceId"] for item in response.json()]
        token = response.headers[TOKEN]
    assert [i["instanceId"] for i in first.json()] == ids[:10]
    assert rest == [*ids[10:], "i0003", "new0000"]


def test_bad_paging_input_is_the_400_of_an_argument_exception(hub: TestClient) -> None:
    _start(hub, 3)
    for params, headers in (({"top": "0"}, {}), ({}, {TOKEN: "garbage"})):
        response = hub.get(LIST, params=params, headers=headers)
        assert response.status_code == 400
        assert response.json()["Message"] == "One or more of the arguments submitted is incorrect"


def test_the_python_client_reads_only_the_first_page() -> None:
    from azure.durable_functions import DurableOrchestrationClient

    emulator = DurableEmulator(app, clock=ManualClock(auto_advance=False))
    with EmulatorServer(emulator) as server, httpx.Client(base_url=server.base_url, timeout=30) as http:
        for n in range(120):
            assert http.post(f"/runtime/webhooks/durabletask/orchestrators/waiter/c{n:03d}").status_code == 202

        async def listed() -> int:
            client = DurableOrchestrationClient(client_binding_json(server.base_url, emulator.task_hub))
            return len(await client.get_status_all())

        assert server.call(listed) == DEFAULT_PAGE_SIZE  # the SDK ignores the token (SDK issue #580)

"""``azure/management.py`` walks the instances query to its end, whatever the provider's tokens.

A scripted host (an aiohttp server on loopback) answers the pages; the client under test is the
real ``DurableOrchestrationClient`` built from a binding that points at it. The emulator's own
paging is covered in ``test_emulator_paging.py``; these are the tokens real providers have sent.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp import web

from azure_functions_durable_graph.azure.emulator.client_binding import client_binding_json
from azure_functions_durable_graph.azure.management import (
    TOKEN_HEADER,
    ManagementApiError,
    instance_pages,
    rpc_base_url,
)


def _status(instance_id: str) -> dict[str, Any]:
    return {"name": "orch", "instanceId": instance_id, "runtimeStatus": "Running", "input": None,
            "customStatus": None, "output": None, "createdTime": "2024-01-01T00:00:00Z",
            "lastUpdatedTime": "2024-01-01T00:00:00Z"}


async def _walk(script: dict[str, tuple[int, Any, str | None]]) -> tuple[list[list[str]], list[dict[str, Any]]]:
    """Serve ``script`` (token sent -> status, body, token answered) and walk it."""
    from azure.durable_functions import DurableOrchestrationClient

    requests: list[dict[str, Any]] = []

    async def instances(request: web.Request) -> web.Response:
        token = request.headers.get(TOKEN_HEADER, "")
        requests.append({"token": token, "query": dict(request.query)})
        status, body, answered = script[token]
        headers = {} if answered is None else {TOKEN_HEADER: answered}
        return web.Response(status=status, text=json.dumps(body), headers=headers,
                            content_type="application/json")

    app = web.Application()
    app.router.add_get("/durabletask/instances/", instances)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        client = DurableOrchestrationClient(client_binding_json(f"http://127.0.0.1:{port}", "hub"))
        assert rpc_base_url(client) == f"http://127.0.0.1:{port}/durabletask/"
        pages = [[s.instance_id for s in page] async for page in instance_pages(client)]
        return pages, requests
    finally:
        await runner.cleanup()


def test_follows_tokens_until_an_empty_one_and_an_empty_page_is_not_the_end() -> None:
    pages, requests = asyncio.run(_walk({
        "": (200, [_status("a"), _status("b")], "t1"),
        "t1": (200, [], "t2"),  # Netherite has sent empty pages with a token (extension #3245)
        "t2": (200, [_status("c")], ""),
    }))
    assert pages == [["a", "b"], [], ["c"]]
    assert [r["token"] for r in requests] == ["", "t1", "t2"]
    assert requests[0]["query"] == {"showInput": "true"}


def test_a_missing_header_ends_the_walk() -> None:
    pages, requests = asyncio.run(_walk({"": (200, [_status("a")], None)}))
    assert pages == [["a"]] and len(requests) == 1


@pytest.mark.parametrize("last", ["bnVsbA==", "t1"])
def test_a_token_that_leads_back_ends_the_walk(last: str) -> None:
    # Azure Storage once answered its last page with "null" in base64, forever (extension #1174).
    pages, requests = asyncio.run(_walk({
        "": (200, [_status("a")], "t1"),
        "t1": (200, [_status("b")], last),
    }))
    assert pages == [["a"], ["b"]] and [r["token"] for r in requests] == ["", "t1"]


def test_a_failed_query_raises() -> None:
    with pytest.raises(ManagementApiError, match="status 500"):
        asyncio.run(_walk({"": (500, {"Message": "Something went wrong"}, None)}))

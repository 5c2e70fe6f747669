"""Every orchestration instance of the task hub, read page by page from the Durable HTTP API.

The Python Durable client's ``get_status_all`` and ``get_status_by`` send one request and read
one page: the host's default of 100 instances (Azure/azure-functions-durable-python issue #580).
The extension pages ``GET {rpcBaseUrl}instances/`` with the ``x-ms-continuation-token`` header
(``HttpApiHandler.cs``): sent back with the next request, it asks for the next page; the
response carries it empty once nothing remains. So this module sends those requests itself, to
the RPC base URL of the client's binding, and follows the token to the end.

Besides an empty token, two more end the walk: ``"bnVsbA=="`` (``"null"`` in base64), which
the Azure Storage provider has answered on a last page, and which leads back to that page
(extension issue #1174), and any token already sent once. An empty page with a token is not the
end (Netherite, extension issue #3245).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

TOKEN_HEADER = "x-ms-continuation-token"
NULL_TOKEN = "bnVsbA=="  # base64 of "null"
REQUEST_TIMEOUT_SECONDS = 240.0  # what the Python client allows one management request


class ManagementApiError(Exception):
    """The host answered the instances query with something other than a page of instances."""


def rpc_base_url(client: Any) -> str:
    """The RPC base URL (``.../durabletask/``) of a ``DurableOrchestrationClient``'s binding."""
    bindings = getattr(client, "_orchestration_bindings", None)  # the client keeps no public copy
    url = getattr(bindings, "rpc_base_url", None)
    if not url:
        raise ManagementApiError("the durable client binding has no rpcBaseUrl; "
                                 "the Python Durable SDK only supports RPC endpoints")
    return str(url) if str(url).endswith("/") else f"{url}/"


async def instance_pages(client: Any, *, page_size: int | None = None,
                         show_input: bool = True) -> AsyncGenerator[list[Any], None]:
    """Yield each page of the instances query as ``DurableOrchestrationStatus`` objects."""
    import aiohttp
    from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus

    query = [f"showInput={'true' if show_input else 'false'}"]
    if page_size is not None:
        query.append(f"top={int(page_size)}")
    url = f"{rpc_base_url(client)}instances/?{'&'.join(query)}"
    headers: dict[str, str] = {}
    invocation = getattr(client, "_function_invocation_id", None)
    if invocation:  # the header the client sends for correlation with the host's logs
        headers["X-Azure-Functions-InvocationId"] = str(invocation)
    seen: set[str] = set()
    token = ""
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while True:
            sent = {**headers, TOKEN_HEADER: token} if token else headers
            async with session.get(url, headers=sent) as response:
                if response.status != 200:
                    raise ManagementApiError(
                        f"the instances query failed with status {response.status}: "
                        f"{(await response.text())[:200]}")
                body = await response.json(content_type=None)
                token = (response.headers.get(TOKEN_HEADER) or "").strip()
            if not isinstance(body, list):
                raise ManagementApiError(f"the instances query answered {type(body).__name__}, not a list")
            yield [DurableOrchestrationStatus.from_json(item) for item in body]
            if not token or token == NULL_TOKEN or token in seen:
                return
            seen.add(token)


__all__ = ["ManagementApiError", "TOKEN_HEADER", "instance_pages", "rpc_base_url"]

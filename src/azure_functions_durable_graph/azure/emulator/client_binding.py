"""The ``durableClient`` binding value the host hands to client functions.

``DurableOrchestrationClient`` parses it with ``DurableOrchestrationBindings.from_json``:
``taskHubName``, ``creationUrls``, ``managementUrls`` and ``rpcBaseUrl`` are the keys it reads
(the rest land in ``client_data``). Management URLs carry the ``INSTANCEID`` placeholder that
``create_check_status_response`` replaces, as the real extension's do.
"""

from __future__ import annotations

import json
from urllib.parse import quote

WEBHOOK_PATH = "/runtime/webhooks/durabletask"
RPC_PATH = "/durabletask"
INSTANCE_PLACEHOLDER = "INSTANCEID"
SYSTEM_KEY = "emulator"  # auth is not enforced on loopback; the key only keeps URL shapes real
CONNECTION = "Storage"


def client_binding(base_url: str, task_hub: str) -> dict[str, object]:
    """The binding payload as a dict, for a host served at ``base_url``."""
    root = base_url.rstrip("/")
    webhook = root + WEBHOOK_PATH
    query = f"taskHub={quote(task_hub)}&connection={CONNECTION}&code={SYSTEM_KEY}"
    instance = f"{webhook}/instances/{INSTANCE_PLACEHOLDER}"
    orchestrators = webhook + "/orchestrators/{functionName}[/{instanceId}]"
    return {
        "taskHubName": task_hub,
        "creationUrls": {
            "createNewInstancePostUri": f"{orchestrators}?code={SYSTEM_KEY}",
            "createAndWaitOnNewInstancePostUri": (
                f"{orchestrators}?timeout={{timeoutInSeconds}}"
                f"&pollingInterval={{intervalInSeconds}}&code={SYSTEM_KEY}"),
        },
        "managementUrls": {
            "id": INSTANCE_PLACEHOLDER,
            "statusQueryGetUri": f"{instance}?{query}",
            "sendEventPostUri": f"{instance}/raiseEvent/{{eventName}}?{query}",
            "terminatePostUri": f"{instance}/terminate?reason={{text}}&{query}",
            "rewindPostUri": f"{instance}/rewind?reason={{text}}&{query}",
            "purgeHistoryDeleteUri": f"{instance}?{query}",
            "restartPostUri": f"{instance}/restart?{query}",
            "suspendPostUri": f"{instance}/suspend?reason={{text}}&{query}",
            "resumePostUri": f"{instance}/resume?reason={{text}}&{query}",
        },
        "baseUrl": webhook,
        "requiredQueryStringParameters": f"code={SYSTEM_KEY}",
        "rpcBaseUrl": f"{root}{RPC_PATH}/",
    }


def client_binding_json(base_url: str, task_hub: str) -> str:
    """The binding payload as the JSON text the worker passes to the function."""
    return json.dumps(client_binding(base_url, task_hub))


def management_payload(base_url: str, task_hub: str, instance_id: str) -> dict[str, str]:
    """The check-status payload (``id``, ``statusQueryGetUri``, ...) for one instance."""
    urls = client_binding(base_url, task_hub)["managementUrls"]
    assert isinstance(urls, dict)
    encoded = quote(instance_id, safe="")
    return {key: str(value).replace(INSTANCE_PLACEHOLDER, instance_id if key == "id" else encoded)
            for key, value in urls.items()}


__all__ = [
    "RPC_PATH",
    "WEBHOOK_PATH",
    "client_binding",
    "client_binding_json",
    "management_payload",
]

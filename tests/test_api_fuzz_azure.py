"""The same property-based fuzzing, through the generated Functions app on the Durable emulator.

Every documented operation is called over a real loopback socket: the emulator routes it to
the app's HTTP trigger, which serves it through the Durable client. No response may be a server
error or break the OpenAPI document, for valid and for invalid requests. Fewer examples than the
local fuzzing: each request here crosses the emulator's host and the SDK's client.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from schemathesis import GenerationMode

from azure_functions_durable_graph import DurableGraphApp
from azure_functions_durable_graph.azure.emulator import DurableEmulator, EmulatorServer
from test_api_fuzz import _cases, fuzz_operation, registrations

MAX_EXAMPLES = 15


@pytest.fixture(scope="module")
def api_schema() -> Iterator[schemathesis.BaseSchema]:
    runtime = DurableGraphApp()
    for registration in registrations():
        runtime.register_registration(registration)
    with EmulatorServer(DurableEmulator(runtime.function_app)) as server:
        yield schemathesis.openapi.from_url(f"{server.base_url}/api/openapi.json")


@pytest.mark.parametrize(("method", "path", "mode"), _cases())
def test_operation_on_azure(api_schema: schemathesis.BaseSchema, method: str, path: str,
                            mode: GenerationMode) -> None:
    fuzz_operation(api_schema[path][method], mode, MAX_EXAMPLES, timeout=30)

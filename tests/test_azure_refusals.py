"""When the Durable host refuses what the API asked, the answer is the package's error, not a 500.

An instance id already used by another orchestration of the same app (the host answers 409 to
``start_new`` and the SDK raises a bare exception) is the API's 409 ``RUN_CONFLICT``.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df
import httpx

from azure_functions_durable_graph import DurableGraphApp
from azure_functions_durable_graph.azure.emulator import DurableEmulator, EmulatorServer
from scenarios import build_quick_example


def test_an_id_taken_by_another_orchestration_is_a_409() -> None:
    app = df.DFApp()

    @app.orchestration_trigger(context_name="context")
    def other(context: Any) -> Any:
        yield context.wait_for_external_event("never")

    runtime = DurableGraphApp()
    runtime.register_registration(build_quick_example())
    runtime.add_to(app)
    emulator = DurableEmulator(app)
    with EmulatorServer(emulator) as server, httpx.Client(base_url=server.base_url, timeout=30) as client:
        server.call(emulator.start_new, "other", "taken")
        server.run_until_idle()
        response = client.post(f"/api/graphs/{runtime.graph_names[0]}/runs",
                               json={"input": {"message": "hi"}, "instance_id": "taken"})
        assert response.status_code == 409, response.text
        assert response.json()["error"]["code"] == "RUN_CONFLICT"
        assert client.get("/api/runs/taken").status_code == 404  # not a run of a graph


def test_an_id_no_run_can_have_is_not_found_without_asking_the_host() -> None:
    # The Durable client puts the id in a URL path unescaped: "\n" or "a#b" would ask the host
    # about another URL (the list of instances, say) instead of the run.
    runtime = DurableGraphApp()
    runtime.register_registration(build_quick_example())
    emulator = DurableEmulator(runtime.function_app)
    with EmulatorServer(emulator) as server, httpx.Client(base_url=server.base_url, timeout=30) as client:
        for quoted in ("%0A", "a%23b", "a%3Fb", "%09x"):
            response = client.get(f"/api/runs/{quoted}")
            assert response.status_code == 404, (quoted, response.text)
            assert response.json()["error"]["code"] == "RUN_NOT_FOUND"
            assert client.delete(f"/api/runs/{quoted}").status_code == 404

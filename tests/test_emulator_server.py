"""The emulator served on loopback: the real DurableOrchestrationClient works unchanged."""

from __future__ import annotations

import json

import httpx

from azure_functions_durable_graph.azure.emulator import DurableEmulator, EmulatorServer
from azure_functions_durable_graph.execution.clock import ManualClock
from emulator_apps import app


def serve(clock: ManualClock | None = None) -> EmulatorServer:
    return EmulatorServer(DurableEmulator(app, clock=clock or ManualClock(auto_advance=False)))


def test_client_starts_queries_raises_and_purges() -> None:
    with serve() as server, httpx.Client(base_url=server.base_url, timeout=10) as http:
        started = http.post("/api/orchestrators/approval/ap1", json={"who": "ann"})
        assert started.status_code == 202
        links = started.json()
        assert links["id"] == "ap1"
        assert started.headers["location"] == links["statusQueryGetUri"]
        assert links["statusQueryGetUri"].startswith(server.base_url + "/runtime/webhooks/durabletask/")

        server.wait_for("ap1", lambda s: s.custom_status == "waiting")
        status = http.get("/api/status/ap1").json()
        assert status["runtimeStatus"] == "Running" and status["customStatus"] == "waiting"
        # The host stores the client's JSON text: status input is that text, parsed once.
        assert json.loads(status["input"]) == {"who": "ann"}
        assert status["historyEvents"] > 0

        assert http.post("/api/events/ap1/approve", json={"ok": True}).status_code == 202
        final = server.wait_for("ap1")
        assert final.runtime_status == "Completed"
        # The Python client double-encodes event data and the host keeps it as posted.
        assert final.output == json.dumps({"ok": True})

        webhook = http.get(links["statusQueryGetUri"])
        assert webhook.status_code == 200 and webhook.json()["runtimeStatus"] == "Completed"

        missing = http.get("/api/status/nope")
        assert missing.status_code == 404 and missing.json() == {"found": False}
        assert http.get(server.base_url + "/durabletask/instances/nope").status_code == 404

        assert http.delete("/api/purge/ap1").json() == {"deleted": 1}
        assert http.delete("/api/purge/ap1").json() == {"deleted": 0}
        assert server.call(server.emu.get_instance, "ap1") is None


def test_client_terminates_suspends_resumes_and_lists() -> None:
    with serve() as server, httpx.Client(base_url=server.base_url, timeout=10) as http:
        http.post("/api/orchestrators/waiter/w1")
        http.post("/api/orchestrators/waiter/w2")
        http.post("/api/orchestrators/chain/other", json=1)
        server.wait_for("other")
        assert http.post("/api/control/w1/terminate").status_code == 202
        assert server.wait_for("w1").runtime_status == "Terminated"

        assert http.post("/api/control/w2/suspend").status_code == 202
        server.wait_for("w2", lambda s: s.runtime_status == "Suspended")
        http.post("/api/events/w2/x", json="a")
        http.post("/api/events/w2/y", json="b")
        assert server.call(server.emu.get_instance, "w2").runtime_status == "Suspended"
        assert http.post("/api/control/w2/resume").status_code == 202
        assert server.wait_for("w2").output == ['"a"', '"b"']

        listed = http.get("/api/instances").json()
        assert listed == [["other", "Completed"], ["w1", "Terminated"], ["w2", "Completed"]]
        assert http.get("/api/instances", params={"prefix": "w"}).json() == [
            ["w1", "Terminated"], ["w2", "Completed"]]

        # Raising on a finished instance: the host answers 410 and the client raises.
        assert http.post("/api/events/w1/x", json=1).status_code == 500


def test_timers_fire_when_the_server_clock_advances() -> None:
    with serve() as server, httpx.Client(base_url=server.base_url, timeout=10) as http:
        http.post("/api/orchestrators/sleeper/sl1")
        server.wait_for("sl1", lambda s: any(e["EventType"] == 10 for e in s.history))
        server.advance_clock(60)
        state = server.wait_for("sl1")
        assert state.output == {"waited": 60.0, "after": 2}


def test_wait_for_completion_returns_the_output() -> None:
    with serve() as server, httpx.Client(base_url=server.base_url, timeout=10) as http:
        done = http.post("/api/wait/fan_out", json=4)
        assert done.status_code == 200 and done.json() == {"results": [0, 1, 4, 9], "total": 14}


def test_http_trigger_routing_methods_and_sync_functions() -> None:
    with serve() as server, httpx.Client(base_url=server.base_url, timeout=10) as http:
        hello = http.get("/api/hello/ann", params={"x": "!"})
        assert hello.status_code == 200 and hello.text == "hello ann !"
        assert hello.headers["content-type"].startswith("text/plain")
        assert http.post("/api/hello/ann").status_code == 405
        assert http.get("/api/nothing/here").status_code == 404
        assert http.get("/hello/ann").status_code == 404  # outside the route prefix
        files = http.put("/api/files/a/b/c.txt", content=b"data").json()
        assert files == {"rest": "a/b/c.txt", "method": "PUT", "body": "data"}
        assert http.get("/api/files").json()["rest"] is None
        functions = {f.name: f for f in server.emu.functions.http}
        assert functions["hello"].auth_level == "anonymous"
        assert functions["start"].auth_level == "function"


def test_rpc_api_status_codes() -> None:
    with serve() as server, httpx.Client(base_url=server.base_url + "/durabletask", timeout=10) as rpc:
        started = rpc.post("/orchestrators/approval/r1")
        assert started.status_code == 202 and started.json()["id"] == "r1"
        assert rpc.post("/orchestrators/approval/r1").status_code == 409
        unknown = rpc.post("/orchestrators/nope")
        assert unknown.status_code == 400 and "nope" in unknown.json()["ExceptionMessage"]
        server.wait_for("r1", lambda s: s.runtime_status == "Running")
        running = rpc.get("/instances/r1", params={"showHistory": "true"})
        assert running.status_code == 202 and running.headers["retry-after"] == "5"
        assert running.json()["historyEvents"][0]["EventType"] == "OrchestratorStarted"
        assert rpc.delete("/instances/r1").status_code == 412
        assert rpc.post("/instances/r1/rewind").status_code == 412
        assert rpc.post("/instances/r1/raiseEvent/approve", content=b"1").status_code == 400
        assert rpc.post("/instances/r1/raiseEvent/approve", json=True).status_code == 202
        assert server.wait_for("r1").output is True
        assert rpc.post("/instances/r1/terminate").status_code == 410
        assert rpc.post("/instances/missing/terminate").status_code == 404
        listed = rpc.get("/instances/", params={"runtimeStatus": "Completed", "top": "5"})
        assert [s["instanceId"] for s in listed.json()] == ["r1"]
        assert rpc.delete("/instances/", params={"createdTimeFrom": "2000-01-01T00:00:00Z"}).json() == {
            "instancesDeleted": 1}


def test_two_servers_in_a_row_share_no_client_session() -> None:
    for round_ in range(2):
        with serve() as server, httpx.Client(base_url=server.base_url, timeout=10) as http:
            started = http.post(f"/api/orchestrators/chain/c{round_}", json=round_)
            assert started.status_code == 202
            assert server.wait_for(f"c{round_}").output == [round_ + 1, round_ + 2, "DONE"]
            assert http.get(f"/api/status/c{round_}").json()["runtimeStatus"] == "Completed"

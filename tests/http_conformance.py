"""Runs a scenario of the table over the HTTP API, on either engine.

Both engines serve the same ``api/`` contract: the local engine through its Starlette app, the
Azure target through the generated Functions app running on the Durable emulator (its real HTTP
triggers, orchestrator and activity, through the real SDKs, on a loopback server). Everything
the scenario does goes through HTTP: start, events, cancels, status, history. Only time is moved
by the test, on each engine's injected manual clock.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol
from urllib.parse import quote

import httpx
from starlette.testclient import TestClient

from azure_functions_durable_graph import DurableGraphApp, GraphRegistration
from azure_functions_durable_graph.api.server import build_local_app
from azure_functions_durable_graph.execution import ManualClock
from azure_functions_durable_graph.local.engine import LocalEngine
from azure_functions_durable_graph.local.store.memory import MemoryRunStore
from engine_harness import retry_due
from scenarios import Scenario, run_id_for

SETTLE_ROUNDS = 300
FINISHED = ("completed", "failed", "cancelled")


class HttpEngine(Protocol):
    """One engine behind the HTTP API, with a clock the test moves."""

    client: Any

    def advance(self, seconds: float) -> None:
        """Move the engine's clock forward; due timers fire."""

    def settle(self, instance_id: str) -> dict[str, Any]:
        """The run resource once the run finished or parked on a wait (retry backoff skipped)."""


class LocalHttpEngine:
    """The embedded engine (memory store, manual clock) behind its Starlette app."""

    def __init__(self, client: TestClient, engine: LocalEngine, clock: ManualClock) -> None:
        self.client = client
        self.engine = engine
        self.clock = clock

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.client.portal.call(self._wake)  # type: ignore[union-attr]

    async def _wake(self) -> None:
        self.engine.wake_due_runs()

    def _parked(self, instance_id: str) -> bool:
        # Waiting with no drive and no undelivered event: an event just sent may not have
        # scheduled its drive yet, so the inbox is checked too.
        return instance_id not in self.engine._drives and not self.engine.store.pending_events(instance_id)

    def settle(self, instance_id: str) -> dict[str, Any]:
        url = f"/api/runs/{quote(instance_id, safe='')}"
        for _ in range(SETTLE_ROUNDS):
            run = self.client.get(url).json()
            if run["status"] in FINISHED:
                return dict(run)
            if run["status"] == "waiting" and self._parked(instance_id):
                again = self.client.get(url).json()  # nothing moved meanwhile: really parked
                if (again["status"], again["step"], again["updated_at"]) == (run["status"], run["step"], run["updated_at"]):
                    return dict(again)
                continue
            due = retry_due(self.engine.store.get_run(instance_id).snapshot)
            if due is not None and instance_id not in self.engine._drives:
                self.advance(max(0.0, due - self.clock.now()))
            time.sleep(0.01)  # real time only bounds the engine's own worker threads here
        raise AssertionError(f"run {instance_id} did not settle: {run}")


class EmulatorHttpEngine:
    """The generated Functions app on the Durable emulator, served on loopback."""

    def __init__(self, client: httpx.Client, server: Any, emulator: Any, clock: ManualClock) -> None:
        self.client = client
        self.server = server
        self.emulator = emulator
        self.clock = clock

    def advance(self, seconds: float) -> None:
        self.server.advance_clock(seconds)
        self.server.run_until_idle()

    def settle(self, instance_id: str) -> dict[str, Any]:
        url = f"/api/runs/{quote(instance_id, safe='')}"
        for _ in range(SETTLE_ROUNDS):
            self.server.run_until_idle()
            run = self.client.get(url).json()
            if run["status"] in FINISHED or run["status"] == "waiting":
                return dict(run)
            timers = self.server.pending_timers(instance_id)
            if timers:  # only a retry backoff timer is left: move time to it
                self.advance(max(0.0, min(timers) - self.clock.now()))
        raise AssertionError(f"run {instance_id} did not settle: {run}")


@contextmanager
def local_engine(registration: GraphRegistration) -> Iterator[LocalHttpEngine]:
    """The local engine serving ``registration`` over HTTP."""
    clock = ManualClock(auto_advance=False)
    engine = LocalEngine(MemoryRunStore(), clock=clock)
    app = build_local_app([registration], engine=engine)
    with TestClient(app) as client:
        yield LocalHttpEngine(client, engine, clock)


@contextmanager
def emulator_engine(registration: GraphRegistration) -> Iterator[EmulatorHttpEngine]:
    """The Functions app of a DurableGraphApp with ``registration``, on the Durable emulator."""
    from azure_functions_durable_graph.azure.emulator import DurableEmulator, EmulatorServer

    clock = ManualClock(auto_advance=False)
    runtime = DurableGraphApp()
    runtime.register_registration(registration)
    emulator = DurableEmulator(runtime.function_app, clock=clock)
    with EmulatorServer(emulator) as server, httpx.Client(base_url=server.base_url, timeout=30) as client:
        yield EmulatorHttpEngine(client, server, emulator, clock)


ENGINES = {"local": local_engine, "emulator": emulator_engine}


def run_over_http(scenario: Scenario, engine: HttpEngine, *, early: frozenset[int] = frozenset()) -> dict[str, Any]:
    """Start the scenario's run, apply its actions over HTTP, and return the outcome.

    ``early`` names actions (events) to send as soon as the action before them was applied,
    without waiting for the run to settle first.
    """
    registration = scenario.build()
    body = {"input": scenario.input, "instance_id": run_id_for(scenario)}
    if scenario.metadata is not None:
        body["metadata"] = scenario.metadata
    response = engine.client.post(f"/api/graphs/{registration.graph_name}/runs", json=body)
    assert response.status_code == 202, response.text
    instance_id = response.json()["instance_id"]
    run_url = f"/api/runs/{quote(instance_id, safe='')}"
    for name, payload in scenario.start_events:
        sent = engine.client.post(f"{run_url}/events/{name}", json=payload)
        assert sent.status_code == 202, sent.text
    actions = scenario.actions
    for index, action in enumerate(actions):
        if index not in early:
            engine.settle(instance_id)
        if action.kind == "advance":
            engine.advance(action.seconds)
            continue
        if action.kind == "event":
            response = engine.client.post(f"{run_url}/events/{action.name}", json=action.payload)
        else:
            response = engine.client.post(f"{run_url}/cancel", json={"reason": action.reason})
        if action.expected_rejection is not None:
            assert response.status_code >= 400, f"{action} was accepted: {response.text}"
            assert response.json()["error"]["code"] == action.expected_rejection, response.text
            continue
        assert response.status_code == 202, response.text
    run = engine.settle(instance_id)
    return outcome_of(engine, run_url, run)


def outcome_of(engine: HttpEngine, run_url: str, run: dict[str, Any]) -> dict[str, Any]:
    """Status, final state, node sequence and error of a settled run, read over HTTP."""
    history = engine.client.get(f"{run_url}/history").json()["steps"]
    return {
        "status": run["status"],
        "state": (run.get("output") or {}).get("state"),
        "nodes": [s["node"] for s in history if s["ok"] and s["node"] != "__reduce__"],
        "error": run.get("error"),
        "runtime_status": run["runtime_status"],
    }


__all__ = ["ENGINES", "HttpEngine", "emulator_engine", "local_engine", "outcome_of", "run_over_http"]

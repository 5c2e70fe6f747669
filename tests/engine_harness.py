"""Runs a scenario of the table on the embedded engine with a manual clock.

Time only moves when the harness says so: waits' deadlines through ``advance`` actions, retry
backoff by advancing the clock while a run sits on a retry timer. Real time only bounds how long
the harness waits for the engine's own asyncio work.
"""

from __future__ import annotations

from typing import Any

from azure_functions_durable_graph.errors import DurableGraphError
from azure_functions_durable_graph.execution import ManualClock
from azure_functions_durable_graph.execution.backend import RunStatus
from azure_functions_durable_graph.local.engine import LocalEngine
from azure_functions_durable_graph.local.store.base import RunStore
from scenarios import Scenario, run_id_for

SETTLE_SECONDS = 10.0


def retry_due(snapshot: dict[str, Any]) -> float | None:
    """When a run that only waits for retry backoff may go on (None when it waits for more)."""
    retry_timers = [t["fire_at"] for t in snapshot["timers"] if t["kind"] == "retry"]
    if retry_timers and not any(t["status"] == "ready" for t in snapshot["tasks"]):
        return float(min(retry_timers))
    return None


async def settle(engine: LocalEngine, clock: ManualClock, instance_id: str) -> RunStatus:
    """Until the run finishes or parks on a wait, moving virtual time over retry timers."""
    for _ in range(200):
        status = await engine.wait(instance_id, timeout=0.05)
        if status.finished or (status.status == "waiting" and instance_id not in engine._drives):
            return status
        due = retry_due(engine.store.get_run(instance_id).snapshot)
        if due is not None:
            clock.advance(max(0.0, due - clock.now()))
            engine.wake_due_runs()
    return await engine.wait(instance_id, timeout=SETTLE_SECONDS)


async def run_on_engine(scenario: Scenario, store: RunStore) -> dict[str, Any]:
    """Start, apply every action, and return the outcome as plain data."""
    clock = ManualClock(auto_advance=False)
    registration = scenario.build()
    async with LocalEngine(store, clock=clock) as engine:
        engine.register(registration)
        status = await engine.start(registration.graph_name, scenario.input,
                                    instance_id=run_id_for(scenario), metadata=scenario.metadata)
        for name, payload in scenario.start_events:
            await engine.raise_event(status.instance_id, name, payload)
        status = await settle(engine, clock, status.instance_id)
        for action in scenario.actions:
            if action.expected_rejection is not None:
                await _expect_rejection(engine, status.instance_id, action)
                continue
            if action.kind == "event":
                await engine.raise_event(status.instance_id, action.name or "", action.payload)
            elif action.kind == "advance":
                clock.advance(action.seconds)
                engine.wake_due_runs()
            else:
                await engine.cancel(status.instance_id, action.reason)
            status = await settle(engine, clock, status.instance_id)
        record = engine.store.get_run(status.instance_id)
        history = await engine.history(status.instance_id)
        return {
            "status": status.status,
            "state": record.snapshot["state"],
            "nodes": [row["node"] for row in history if row["ok"] and row["node"] != "__reduce__"],
            "error": status.error,
        }


async def _expect_rejection(engine: LocalEngine, instance_id: str, action: Any) -> None:
    before = engine.store.get_run(instance_id).snapshot
    try:
        if action.kind == "event":
            await engine.raise_event(instance_id, action.name, action.payload)
        else:
            await engine.cancel(instance_id, action.reason)
    except DurableGraphError as exc:
        assert exc.code == action.expected_rejection, f"{action} refused with {exc.code}"
    else:
        raise AssertionError(f"{action} was accepted; expected {action.expected_rejection}")
    assert engine.store.get_run(instance_id).snapshot == before

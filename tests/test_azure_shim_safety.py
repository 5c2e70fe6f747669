"""Our orchestrator under the host's replay model: the cases a naive host model got wrong.

Each case ran "green" on an emulator that scheduled every returned action and finished on
``isDone``, and misbehaved under the extension's in-order awaited walk: an approval completed
only when its 86,400 s deadline fired, a graceful cancel during a running node never completed,
an event raised before its wait while a node ran hung. Here the clock never moves unless a case
says so, activity completions are held and released by the test, and every case ends with no
timer armed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel

from azure_functions_durable_graph import DurableGraphApp, ManifestBuilder, RouteDecision
from azure_functions_durable_graph.azure.emulator import DurableEmulator
from azure_functions_durable_graph.azure.protocol import (
    INPUT_EVENT,
    ORCHESTRATOR,
    input_message,
    run_payload,
)
from azure_functions_durable_graph.execution import ManualClock
from azure_functions_durable_graph.execution.driver import new_state
from test_azure_emulator_e2e import _support_agent

START = 1_700_000_000.0


class Counter(BaseModel):
    """A log of what ran and which events were applied."""

    log: list[str] = []
    oks: int = 0


def _three_steps() -> Any:
    builder = ManifestBuilder(graph_name="three_steps", state_model=Counter)
    builder.set_entrypoint("a")
    builder.add_node("a", lambda s: {"log": [*s.log, "a"]}, next_node="b")
    builder.add_node("b", lambda s: {"log": [*s.log, "b"]}, next_node="c")
    builder.add_node("c", lambda s: {"log": [*s.log, "c"]}, terminal=True)
    return builder.build()


def _wait_after_a() -> Any:
    builder = ManifestBuilder(graph_name="wait_after_a", state_model=Counter)
    wait = RouteDecision.wait_for_event("ok", "b", timeout=3600, on_timeout="late")
    builder.set_entrypoint("a")
    builder.add_node("a", lambda s: {"log": [*s.log, "a"]}, route=lambda s: wait, route_targets=[wait])
    builder.add_node("b", lambda s: {"log": [*s.log, "b"]}, terminal=True)
    builder.add_node("late", lambda s: {"log": [*s.log, "late"]}, terminal=True)
    builder.add_event_handler("ok", lambda s, p: {"oks": s.oks + 1})
    return builder.build()


class Host:
    """One graph's Functions app on the emulator, with completions held for the test."""

    def __init__(self, registration: Any) -> None:
        self.runtime = DurableGraphApp()
        self.runtime.register_registration(registration)
        self.clock = ManualClock(START, auto_advance=False)
        self.emulator = DurableEmulator(self.runtime.function_app, clock=self.clock)
        self.sent = 0

    async def start(self, graph_input: dict[str, Any], *, hold: bool) -> str:
        if hold:
            self.emulator.hold_activity_results()
        registration = self.runtime.registrations()[0]
        payload = run_payload(registration.manifest, new_state(registration, graph_input), metadata={},
                              created_at=START, policy=self.runtime.compaction)
        instance_id = await self.emulator.start_new(ORCHESTRATOR, "run-1", payload)
        await self.emulator.run_until_idle()
        return instance_id

    async def send(self, instance_id: str, kind: str, **fields: Any) -> None:
        self.sent += 1
        await self.emulator.raise_event(instance_id, INPUT_EVENT, input_message(kind, f"e{self.sent}", **fields))
        await self.emulator.run_until_idle()

    async def release_all(self) -> None:
        while self.emulator.held_results():
            self.emulator.release_result(0)
            await self.emulator.run_until_idle()

    def status(self, instance_id: str) -> tuple[str, str | None]:
        state = self.emulator.get_instance(instance_id)
        return state.runtime_status, (state.custom_status or {}).get("status")


def test_an_approval_completes_without_waiting_for_its_deadline() -> None:
    async def go() -> None:
        host = Host(_support_agent())
        instance_id = await host.start({"ticket": "Where is my order?"}, hold=False)
        assert host.status(instance_id) == ("Running", "waiting")
        assert host.emulator.pending_timers(instance_id), "the approval deadline is armed"
        await host.send(instance_id, "event", name="approval", payload={"approved": True, "reviewer": "ana"})
        state = host.emulator.get_instance(instance_id)
        assert state.runtime_status == "Completed", state.custom_status
        assert state.output["state"]["status"] == "sent"
        assert host.emulator.pending_timers(instance_id) == []

    asyncio.run(go())


def test_a_graceful_cancel_during_a_running_node_ends_the_run_at_the_boundary() -> None:
    async def go() -> None:
        host = Host(_three_steps())
        instance_id = await host.start({}, hold=True)
        assert [name for _, name in host.emulator.held_results()] == ["durable_graph_execute_task"]
        await host.send(instance_id, "cancel", reason="stop")
        assert host.status(instance_id)[0] == "Running"  # node 'a' still runs
        await host.release_all()
        state = host.emulator.get_instance(instance_id)
        assert state.runtime_status == "Completed" and state.output["status"] == "cancelled"
        assert host.emulator.held_results() == []  # 'b' never started
        assert host.emulator.pending_timers(instance_id) == []

    asyncio.run(go())


def test_an_event_sent_while_a_node_runs_is_applied_once_at_its_wait() -> None:
    async def go() -> None:
        host = Host(_wait_after_a())
        instance_id = await host.start({}, hold=True)
        await host.send(instance_id, "event", name="ok", payload=None)
        await host.release_all()
        state = host.emulator.get_instance(instance_id)
        assert state.runtime_status == "Completed", state.custom_status
        assert state.output["state"]["log"] == ["a", "b"]
        assert state.output["state"]["oks"] == 1
        assert host.emulator.pending_timers(instance_id) == []

    asyncio.run(go())


def test_a_wait_beyond_six_days_is_rearmed_in_steps_and_still_takes_its_event() -> None:
    builder = ManifestBuilder(graph_name="long_wait", state_model=Counter)
    wait = RouteDecision.wait_for_event("ok", "b", timeout=10 * 86_400, on_timeout="late")
    builder.set_entrypoint("a")
    builder.add_node("a", lambda s: None, route=lambda s: wait, route_targets=[wait])
    builder.add_node("b", lambda s: {"log": ["b"]}, terminal=True)
    builder.add_node("late", lambda s: {"log": ["late"]}, terminal=True)
    builder.add_event_handler("ok", lambda s, p: {"oks": s.oks + 1})

    async def go(event_after_days: float | None) -> Any:
        host = Host(builder.build())
        instance_id = await host.start({}, hold=False)
        deadline_steps = [t - host.clock.now() for t in host.emulator.pending_timers(instance_id)]
        assert min(deadline_steps) == 3 * 86_400  # a 3-day step, not one 10-day timer
        days = 0.0
        while event_after_days is None or days < event_after_days:
            host.emulator.advance_clock(86_400)
            await host.emulator.run_until_idle()
            days += 1
            if host.emulator.get_instance(instance_id).is_finished:
                break
        if event_after_days is not None:
            await host.send(instance_id, "event", name="ok", payload=None)
        state = host.emulator.get_instance(instance_id)
        assert host.emulator.pending_timers(instance_id) == []
        return state.output["state"]["log"], days

    assert asyncio.run(go(7)) == (["b"], 7)  # still waiting after two steps fired
    assert asyncio.run(go(None)) == (["late"], 10)  # times out at day 10, not at a step

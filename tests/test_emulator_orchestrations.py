"""The emulator runs orchestrations through the real Durable SDK (pure Python, no server)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from azure_functions_durable_graph.azure.emulator import (
    DurableEmulator,
    FunctionNotFoundError,
    InstanceNotFoundError,
)
from azure_functions_durable_graph.execution.clock import ManualClock
from emulator_apps import app

T_STARTED, T_SCHEDULED, T_COMPLETED, T_FAILED = 0, 4, 5, 6
T_TIMER_CREATED, T_TIMER_FIRED, T_ORCH_STARTED, T_EVENT_RAISED = 10, 11, 12, 15


def scenario(body: Callable[[DurableEmulator, ManualClock], Awaitable[Any]]) -> Any:
    """Run ``body`` with a fresh emulator on a manual clock, bounded in real time."""
    clock = ManualClock(auto_advance=False)
    emu = DurableEmulator(app, clock=clock)
    return asyncio.run(asyncio.wait_for(body(emu, clock), 20))


def types(history: list[dict[str, Any]]) -> list[int]:
    return [e["EventType"] for e in history]


def test_activity_chain_runs_sync_and_async_activities() -> None:
    async def body(emu: DurableEmulator, clock: ManualClock) -> None:
        instance_id = await emu.start_new("chain", input=1)
        await emu.run_until_idle()
        state = emu.get_instance(instance_id)
        assert state is not None
        assert state.runtime_status == "Completed"
        assert state.output == [2, 3, "DONE"]
        assert state.input == 1
        scheduled = [e for e in state.history if e["EventType"] == T_SCHEDULED]
        assert [(e["EventId"], e["Name"]) for e in scheduled] == [
            (0, "add_one"), (1, "add_one_async"), (2, "shout")]
        assert state.history[1]["Version"] == ""  # ExecutionStarted carries Version
        assert emu.stats.episodes[instance_id] == 4
        assert emu.stats.activities["add_one"] == 1

    scenario(body)


def test_task_all_fans_out_in_one_episode() -> None:
    async def body(emu: DurableEmulator, clock: ManualClock) -> None:
        instance_id = await emu.start_new("fan_out", input=6)
        await emu.run_until_idle()
        state = emu.get_instance(instance_id)
        assert state is not None and state.output == {"results": [0, 1, 4, 9, 16, 25], "total": 55}
        scheduled = [e["EventId"] for e in state.history if e["EventType"] == T_SCHEDULED]
        assert scheduled == [0, 1, 2, 3, 4, 5]
        assert emu.stats.activities["square"] == 6

    scenario(body)


def test_task_any_returns_the_first_event() -> None:
    async def body(emu: DurableEmulator, clock: ManualClock) -> None:
        instance_id = await emu.start_new("race")
        await emu.run_until_idle()
        await emu.raise_event(instance_id, "right", {"r": 1})
        await emu.run_until_idle()
        state = emu.get_instance(instance_id)
        assert state is not None and state.output == {"winner": "right", "value": {"r": 1}}

    scenario(body)


def test_timer_fires_only_when_the_manual_clock_passes_it() -> None:
    async def body(emu: DurableEmulator, clock: ManualClock) -> None:
        instance_id = await emu.start_new("sleeper")
        await emu.run_until_idle()
        state = emu.get_instance(instance_id)
        assert state is not None and state.runtime_status == "Running"
        assert T_TIMER_CREATED in types(state.history)
        emu.advance_clock(59)
        await emu.run_until_idle()
        assert emu.get_instance(instance_id).runtime_status == "Running"  # type: ignore[union-attr]
        emu.advance_clock(2)
        await emu.run_until_idle()
        state = emu.get_instance(instance_id)
        assert state is not None and state.runtime_status == "Completed"
        assert state.output == {"waited": 61.0, "after": 2}
        fired = [e for e in state.history if e["EventType"] == T_TIMER_FIRED]
        assert fired[0]["TimerId"] == 0

    scenario(body)


def test_wait_for_drives_work_and_sleeps_on_the_clock() -> None:
    async def body(emu: DurableEmulator, clock: ManualClock) -> None:
        instance_id = await emu.start_new("sleeper")
        waiting = asyncio.ensure_future(emu.wait_for(instance_id, timeout=5))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        emu.advance_clock(60)
        state = await waiting
        assert state.runtime_status == "Completed"

    scenario(body)


def test_cancelled_timer_does_not_fire_after_the_event_wins() -> None:
    async def body(emu: DurableEmulator, clock: ManualClock) -> None:
        instance_id = await emu.start_new("deadline")
        await emu.run_until_idle()
        await emu.raise_event(instance_id, "answer", 42)
        await emu.run_until_idle()
        state = emu.get_instance(instance_id)
        assert state is not None and state.output == {"answered": 42}
        assert emu._engine.timers.next_due() is None
        episodes = emu.stats.episodes[instance_id]
        emu.advance_clock(3600)
        await emu.run_until_idle()
        assert emu.stats.episodes[instance_id] == episodes

    scenario(body)


def test_timeout_wins_when_no_event_arrives() -> None:
    async def body(emu: DurableEmulator, clock: ManualClock) -> None:
        instance_id = await emu.start_new("deadline")
        await emu.run_until_idle()
        emu.advance_clock(30)
        await emu.run_until_idle()
        assert emu.get_instance(instance_id).output == {"answered": None}  # type: ignore[union-attr]

    scenario(body)


@pytest.mark.parametrize("early", [True, False])
def test_external_event_raised_before_or_after_the_wait(early: bool) -> None:
    async def body(emu: DurableEmulator, clock: ManualClock) -> None:
        instance_id = await emu.start_new("waiter")
        if early:  # both events arrive before the orchestrator ever waits
            await emu.raise_event(instance_id, "y", "second")
            await emu.raise_event(instance_id, "x", "first")
            await emu.run_until_idle()
        else:
            await emu.run_until_idle()
            await emu.raise_event(instance_id, "x", "first")
            await emu.run_until_idle()
            assert emu.get_instance(instance_id).runtime_status == "Running"  # type: ignore[union-attr]
            await emu.raise_event(instance_id, "y", "second")
            await emu.run_until_idle()
        state = emu.get_instance(instance_id)
        assert state is not None and state.output == ["first", "second"]
        raised = [e["Name"] for e in state.history if e["EventType"] == T_EVENT_RAISED]
        assert sorted(raised) == ["x", "y"]

    scenario(body)


def test_sub_orchestration_completes_and_reports_to_parent() -> None:
    async def body(emu: DurableEmulator, clock: ManualClock) -> None:
        instance_id = await emu.start_new("parent", "p1", input=4)
        await emu.run_until_idle()
        state = emu.get_instance(instance_id)
        assert state is not None and state.output == {
            "child": {"value": 50, "parent": "p1"}, "parent_id": "p1"}
        child = emu.get_instance("p1:0")
        assert child is not None and child.parent_instance_id == "p1"
        assert child.runtime_status == "Completed" and child.input == 4

    scenario(body)


def test_failed_sub_orchestration_raises_in_parent() -> None:
    async def body(emu: DurableEmulator, clock: ManualClock) -> None:
        instance_id = await emu.start_new("parent_of_failing", "p2")
        await emu.run_until_idle()
        child = emu.get_instance("p2:0")
        assert child is not None and child.runtime_status == "Failed"
        assert child.failure_details is not None
        assert "Orchestrator function 'failing_child' failed" in child.failure_details["message"]
        caught = emu.get_instance(instance_id).output["caught"]  # type: ignore[union-attr]
        assert "failing_child" in caught and "boom: kid" in caught

    scenario(body)


def test_activity_exception_becomes_task_failed() -> None:
    async def body(emu: DurableEmulator, clock: ManualClock) -> None:
        instance_id = await emu.start_new("catches")
        await emu.run_until_idle()
        state = emu.get_instance(instance_id)
        assert state is not None and state.runtime_status == "Completed"
        failed = [e for e in state.history if e["EventType"] == T_FAILED]
        assert failed[0]["TaskScheduledId"] == 0
        assert failed[0]["Reason"] == "Activity function 'boom' failed: ValueError: boom: bad input"
        assert "ValueError" in json.loads(failed[0]["Details"])["StackTrace"]
        assert "boom: bad input" in state.output["caught"]

    scenario(body)


def test_unhandled_activity_failure_fails_the_orchestration() -> None:
    async def body(emu: DurableEmulator, clock: ManualClock) -> None:
        instance_id = await emu.start_new("failing_child", input="solo")
        await emu.run_until_idle()
        state = emu.get_instance(instance_id)
        assert state is not None and state.runtime_status == "Failed"
        assert state.output.startswith("Orchestrator function 'failing_child' failed: ")
        assert "boom: solo" in state.output

    scenario(body)


def test_unknown_names_are_reported() -> None:
    async def body(emu: DurableEmulator, clock: ManualClock) -> None:
        with pytest.raises(FunctionNotFoundError):
            await emu.start_new("no_such_orchestrator")
        with pytest.raises(InstanceNotFoundError):
            await emu.raise_event("missing", "x", 1)
        assert emu.get_instance("missing") is None

    scenario(body)

"""Instance management in the emulator: continue-as-new, terminate, suspend, purge, replay checks."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

import emulator_apps
from azure_functions_durable_graph.azure.emulator import (
    DurableEmulator,
    EmulatorTimeoutError,
    InstanceStateError,
    NonDeterminismError,
)
from azure_functions_durable_graph.execution.clock import ManualClock
from azure_functions_durable_graph.graph.errors import DurableGraphError
from emulator_apps import app

T_EXECUTION_STARTED, T_SUSPENDED, T_RESUMED, T_TERMINATED = 0, 19, 20, 3


def scenario(body: Callable[[DurableEmulator], Awaitable[Any]], **options: Any) -> Any:
    emu = DurableEmulator(app, clock=ManualClock(auto_advance=False), **options)
    return asyncio.run(asyncio.wait_for(body(emu), 20))


@pytest.fixture(autouse=True)
def reset_mode() -> Iterator[None]:
    emulator_apps.MODE["drift"] = "a"
    yield
    emulator_apps.MODE["drift"] = "a"


def test_continue_as_new_resets_history_and_carries_input() -> None:
    async def body(emu: DurableEmulator) -> None:
        instance_id = await emu.start_new("counter", "loop", {"n": 0, "seen": []})
        await emu.run_until_idle()
        state = emu.get_instance(instance_id)
        assert state is not None and state.runtime_status == "Completed"
        assert state.output == {"n": 3, "seen": [1, 2, 3]}
        # Only the last generation's history remains: it started with the carried input.
        started = [e for e in state.history if e["EventType"] == T_EXECUTION_STARTED]
        assert len(started) == 1 and len(state.history) == 4
        assert emu.stats.episodes[instance_id] == 7
        assert emu.stats.activities["add_one"] == 3

    scenario(body)


def test_continue_as_new_drops_events_raised_in_an_old_generation() -> None:
    async def body(emu: DurableEmulator) -> None:
        instance_id = await emu.start_new("counter", "loop2", {"n": 2, "seen": []})
        await emu.raise_event(instance_id, "ignored", 1)  # nobody waits for it
        await emu.run_until_idle()
        state = emu.get_instance(instance_id)
        assert state is not None and state.output == {"n": 3, "seen": [3]}
        assert all(e["EventType"] != 15 for e in state.history)

    scenario(body)


def test_terminate_stops_the_instance_and_drops_late_results() -> None:
    async def body(emu: DurableEmulator) -> None:
        instance_id = await emu.start_new("approval", "t1")
        await emu.run_until_idle()
        await emu.terminate(instance_id, "enough")
        state = emu.get_instance(instance_id)
        assert state is not None and state.runtime_status == "Terminated"
        assert state.output == "enough"
        assert state.history[-1]["EventType"] == T_TERMINATED
        with pytest.raises(InstanceStateError):
            await emu.raise_event(instance_id, "approve", True)
        with pytest.raises(InstanceStateError):
            await emu.terminate(instance_id, "again")

    scenario(body)


def test_terminated_child_fails_its_parent_task() -> None:
    async def body(emu: DurableEmulator) -> None:
        await emu.start_new("parent", "p3", input=1)
        # Stop before the child's activity completes: run only the parent's first episode.
        await emu._engine.run_episode("p3")
        await emu.terminate("p3:0", "child stopped")
        await emu.run_until_idle()
        parent = emu.get_instance("p3")
        assert parent is not None and parent.runtime_status == "Failed"
        assert "child stopped" in parent.output

    scenario(body)


def test_suspend_holds_events_until_resume() -> None:
    async def body(emu: DurableEmulator) -> None:
        instance_id = await emu.start_new("waiter", "s1")
        await emu.run_until_idle()
        await emu.suspend(instance_id, "pause")
        assert emu.get_instance(instance_id).runtime_status == "Suspended"  # type: ignore[union-attr]
        await emu.raise_event(instance_id, "x", 1)
        await emu.raise_event(instance_id, "y", 2)
        episodes = emu.stats.episodes[instance_id]
        await emu.run_until_idle()
        assert emu.stats.episodes[instance_id] == episodes
        assert emu.get_instance(instance_id).runtime_status == "Suspended"  # type: ignore[union-attr]
        await emu.resume(instance_id, "go on")
        await emu.run_until_idle()
        state = emu.get_instance(instance_id)
        assert state is not None and state.runtime_status == "Completed"
        assert state.output == [1, 2]
        kinds = [e["EventType"] for e in state.history]
        assert kinds.index(T_SUSPENDED) < kinds.index(T_RESUMED)

    scenario(body)


def test_purge_removes_finished_instances_only() -> None:
    async def body(emu: DurableEmulator) -> None:
        done = await emu.start_new("chain", "done", 1)
        running = await emu.start_new("approval", "running")
        await emu.run_until_idle()
        with pytest.raises(InstanceStateError):
            await emu.purge(running)
        assert await emu.purge(done) is True
        assert emu.get_instance(done) is None
        assert await emu.purge(done) is False
        assert [s.instance_id for s in emu.list_instances()] == ["running"]

    scenario(body)


def test_custom_status_follows_the_latest_episode() -> None:
    async def body(emu: DurableEmulator) -> None:
        instance_id = await emu.start_new("reporter", "c1")
        await emu.run_until_idle()
        assert emu.get_instance(instance_id).custom_status == {"stage": 2}  # type: ignore[union-attr]
        seen = await emu.wait_for(instance_id, lambda s: s.custom_status == {"stage": 2})
        assert seen.runtime_status == "Running"
        await emu.raise_event(instance_id, "finish", None)
        state = await emu.wait_for(instance_id)
        assert state.output == "ok" and state.custom_status == {"stage": 2}

    scenario(body)


def test_wait_for_times_out_with_a_package_error() -> None:
    async def body(emu: DurableEmulator) -> None:
        instance_id = await emu.start_new("approval", "slow")
        with pytest.raises(EmulatorTimeoutError) as caught:
            await emu.wait_for(instance_id, timeout=0.2)
        assert isinstance(caught.value, DurableGraphError)
        assert caught.value.code == "EMULATOR_TIMEOUT"

    scenario(body)


def test_replay_with_a_renamed_activity_fails_the_instance() -> None:
    async def body(emu: DurableEmulator) -> None:
        instance_id = await emu.start_new("drifting", "nd1")
        await emu.run_until_idle()
        emulator_apps.MODE["drift"] = "b"  # "redeploy" with a different first activity
        await emu.raise_event(instance_id, "go", None)
        await emu.run_until_idle()
        state = emu.get_instance(instance_id)
        assert state is not None and state.runtime_status == "Failed"
        assert state.failure_details is not None
        assert state.failure_details["code"] == NonDeterminismError.code == "NON_DETERMINISM"
        assert state.output == (
            "Non-Deterministic workflow detected: A previous execution of this orchestration "
            "scheduled an activity task with sequence number 0 named 'step_a', but the current "
            "orchestration replay instead scheduled an activity task named 'step_b' with this "
            "sequence number.  Was a change made to the orchestrator code after this instance "
            "had already started running?")

    scenario(body)


def test_replay_that_drops_an_activity_fails_with_the_host_message() -> None:
    async def body(emu: DurableEmulator) -> None:
        instance_id = await emu.start_new("drifting", "nd2")
        await emu.run_until_idle()
        emulator_apps.MODE["drift"] = "none"
        await emu.raise_event(instance_id, "go", None)
        await emu.run_until_idle()
        state = emu.get_instance(instance_id)
        assert state is not None and state.runtime_status == "Failed"
        assert state.output == (
            "Non-Deterministic workflow detected: A previous execution of this orchestration "
            "scheduled an activity task with sequence ID 0 and name 'step_a' (version ''), but "
            "the current replay execution hasn't (yet?) scheduled this task. Was a change made "
            "to the orchestrator code after this instance had already started running?")

    scenario(body)


def test_replay_schema_v1_is_supported() -> None:
    async def body(emu: DurableEmulator) -> None:
        fan = await emu.start_new("fan_out", input=3)
        chain = await emu.start_new("chain", input=5)
        race = await emu.start_new("race")
        await emu.run_until_idle()
        await emu.raise_event(race, "left", "L")
        await emu.run_until_idle()
        assert emu.get_instance(fan).output["total"] == 5  # type: ignore[union-attr]
        assert emu.get_instance(chain).output == [6, 7, "DONE"]  # type: ignore[union-attr]
        assert emu.get_instance(race).output == {"winner": "left", "value": "L"}  # type: ignore[union-attr]

    scenario(body, upper_schema_version=0)

"""Recorded Durable histories replayed against the current orchestrator.

``tests/fixtures/durable_histories/*.json`` hold complete histories of a few scenarios, recorded
on the Durable emulator (orchestrator input, every history event in the SDK's schema, final
output). Each test replays one through today's orchestrator in a single episode: it must
schedule exactly the recorded work (the host's non-determinism check) and end with the recorded
output. A change that makes old runs replay differently fails here before it reaches users.

Re-record after an intended change of the orchestrator's scheduling with
``RECORD_DURABLE_HISTORIES=1 pytest tests/test_azure_replay.py`` and review the diff.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from azure_functions_durable_graph import DurableGraphApp
from azure_functions_durable_graph.azure.emulator import (
    DurableEmulator,
    NonDeterminismError,
    replay_history,
)
from azure_functions_durable_graph.azure.orchestrator import EVENT_RAISED
from azure_functions_durable_graph.azure.protocol import (
    INPUT_EVENT,
    ORCHESTRATOR,
    input_message,
    run_payload,
)
from azure_functions_durable_graph.execution import ManualClock
from azure_functions_durable_graph.execution.driver import new_state
from scenarios import SCENARIOS_BY_NAME, Scenario, run_id_for

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "durable_histories"
RECORDED = ("sequential", "static_fan_out", "wait_gets_event", "wait_timeout_on_timeout",
            "retry_succeeds_third_attempt", "subgraph", "two_waits_fifo_buffered", "cancel_while_waiting",
            "retry_exhausted")
START = 1_700_000_000.0


def _app(scenario: Scenario) -> Any:
    runtime = DurableGraphApp()
    runtime.register_registration(scenario.build())
    return runtime


async def record(scenario: Scenario) -> dict[str, Any]:
    """Run ``scenario`` on the emulator with a manual clock; the recording."""
    runtime = _app(scenario)
    registration = runtime.registrations()[0]
    clock = ManualClock(START, auto_advance=False)
    emulator = DurableEmulator(runtime.function_app, clock=clock)
    payload = run_payload(registration.manifest, new_state(registration, scenario.input),
                          metadata=scenario.metadata or {}, created_at=START, policy=runtime.compaction)
    instance_id = await emulator.start_new(ORCHESTRATOR, run_id_for(scenario), payload)
    count = 0
    for name, data in scenario.start_events:
        count += 1
        await emulator.raise_event(instance_id, INPUT_EVENT, input_message("event", f"e{count}", name=name, payload=data))
    await _settle(emulator, clock, instance_id)
    for action in scenario.actions:
        count += 1
        if action.kind == "advance":
            emulator.advance_clock(action.seconds)
        elif action.kind == "event":
            await emulator.raise_event(instance_id, INPUT_EVENT,
                                       input_message("event", f"e{count}", name=action.name, payload=action.payload))
        else:
            await emulator.raise_event(instance_id, INPUT_EVENT, input_message("cancel", f"e{count}", reason=action.reason))
        await _settle(emulator, clock, instance_id)
    state = emulator.get_instance(instance_id)
    assert state is not None and state.is_finished, state
    return {"scenario": scenario.name, "instance_id": instance_id, "input": json.dumps(payload),
            "runtime_status": state.runtime_status, "output": state.output, "history": state.history}


async def _settle(emulator: DurableEmulator, clock: ManualClock, instance_id: str) -> None:
    for _ in range(50):
        await emulator.run_until_idle()
        state = emulator.get_instance(instance_id)
        if state is None or state.is_finished or (state.custom_status or {}).get("status") == "waiting":
            return
        timers = emulator.pending_timers(instance_id)
        if not timers:
            return
        emulator.advance_clock(max(0.0, timers[0] - clock.now()))


def _fixture(name: str) -> dict[str, Any]:
    path = FIXTURES / f"{name}.json"
    if os.environ.get("RECORD_DURABLE_HISTORIES") == "1" or not path.exists():
        if not os.environ.get("RECORD_DURABLE_HISTORIES"):
            pytest.fail(f"{path.name} is missing; record it with RECORD_DURABLE_HISTORIES=1")
        recording = asyncio.run(record(SCENARIOS_BY_NAME[name]))
        FIXTURES.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(recording, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return dict(json.loads(path.read_text(encoding="utf-8")))


@pytest.mark.parametrize("name", RECORDED)
def test_a_recorded_history_replays_to_the_same_end(name: str) -> None:
    recording = _fixture(name)
    runtime = _app(SCENARIOS_BY_NAME[name])
    final_history = recording["history"]
    if recording["runtime_status"] == "Completed":
        # Replay every event up to (not including) the completion the host appended.
        history = [e for e in final_history if e["EventType"] not in (1,)]
        state = replay_history(runtime.function_app, ORCHESTRATOR, history,
                               input_json=recording["input"], instance_id=recording["instance_id"])
        assert state["isDone"] is True
        assert state["output"] == recording["output"]
    else:
        history = [e for e in final_history if e["EventType"] not in (1,)]
        with pytest.raises(Exception) as failure:  # a failed run fails again, the same way
            replay_history(runtime.function_app, ORCHESTRATOR, history,
                           input_json=recording["input"], instance_id=recording["instance_id"])
        assert not isinstance(failure.value, NonDeterminismError)


def test_a_changed_orchestrator_is_caught_by_the_replay() -> None:
    """The check has teeth: a history whose recorded task was renamed no longer replays."""
    recording = _fixture("sequential")
    history = [dict(e) for e in recording["history"] if e["EventType"] != 1]
    scheduled = next(e for e in history if e["EventType"] == 4)
    scheduled["Name"] = "some_other_activity"
    with pytest.raises(NonDeterminismError, match="Non-Deterministic workflow detected"):
        replay_history(_app(SCENARIOS_BY_NAME["sequential"]).function_app, ORCHESTRATOR, history,
                       input_json=recording["input"], instance_id=recording["instance_id"])


def test_the_orchestrators_event_type_constant_is_the_sdks() -> None:
    from azure.durable_functions.models.history.HistoryEventType import HistoryEventType

    assert EVENT_RAISED == HistoryEventType.EVENT_RAISED.value


@pytest.mark.parametrize("limits", [{"max_history_events": 8}, {"continue_as_new_after_steps": 1}],
                         ids=["by-history-size", "by-step-count"])
@pytest.mark.parametrize("name", ["send_map_50", "router_loop_until_five", "retry_succeeds_third_attempt"])
def test_compaction_never_changes_what_a_replay_schedules(name: str, limits: dict[str, int]) -> None:
    """Continue-as-new decisions use only replay-stable facts: with tiny limits (compacting at
    nearly every boundary, and in the middle of a 50-task fan-out's history) every run still
    ends as the table says, and did continue as new."""
    scenario = SCENARIOS_BY_NAME[name]
    runtime = DurableGraphApp(**limits)
    runtime.register_registration(scenario.build())

    async def run() -> Any:
        clock = ManualClock(START, auto_advance=False)
        emulator = DurableEmulator(runtime.function_app, clock=clock)
        registration = runtime.registrations()[0]
        payload = run_payload(registration.manifest, new_state(registration, scenario.input), metadata={},
                              created_at=START, policy=runtime.compaction)
        instance_id = await emulator.start_new(ORCHESTRATOR, "compacting", payload)
        await _settle(emulator, clock, instance_id)
        return emulator.get_instance(instance_id)

    state = asyncio.run(run())
    assert state.runtime_status == "Completed", state.output
    assert state.generation >= 1
    expected = scenario.expected_state or {}
    assert {k: state.output["state"][k] for k in expected} == expected

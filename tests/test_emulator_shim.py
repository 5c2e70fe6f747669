"""The emulator replays action lists as the Durable extension does (``emulator/shim.py``).

Two levels, as durabletask-python tests its replay engine: the walk alone, fed synthetic action
lists and histories; then orchestrators written against the real SDK, run on the emulator, each
showing one host behaviour that an emulator scheduling every returned action (and finishing on
``isDone``) gets wrong.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import azure.durable_functions as df
import pytest
from azure.durable_functions.models.actions.ActionType import ActionType as A
from azure.durable_functions.models.history.HistoryEventType import HistoryEventType as T

from azure_functions_durable_graph.azure.emulator import DurableEmulator
from azure_functions_durable_graph.azure.emulator.shim import ShimError, walk
from azure_functions_durable_graph.execution import ManualClock

START = 1_700_000_000.0
DAY = 86_400.0

# ------------------------------------------------------------------ the walk alone


def activity(name: str = "work") -> dict[str, Any]:
    return {"actionType": int(A.CALL_ACTIVITY), "functionName": name, "input": "null"}


def timer(*, canceled: bool = False) -> dict[str, Any]:
    return {"actionType": int(A.CREATE_TIMER), "fireAt": "2030-01-01T00:00:00.000000Z", "isCanceled": canceled}


def wait(name: str) -> dict[str, Any]:
    return {"actionType": int(A.WAIT_FOR_EXTERNAL_EVENT), "externalEventName": name}


def any_of(*children: dict[str, Any]) -> dict[str, Any]:
    return {"actionType": int(A.WHEN_ANY), "compoundActions": list(children)}


def all_of(*children: dict[str, Any]) -> dict[str, Any]:
    return {"actionType": int(A.WHEN_ALL), "compoundActions": list(children)}


STARTED = [{"EventType": int(T.ORCHESTRATOR_STARTED)}, {"EventType": int(T.EXECUTION_STARTED)}]


def done(seq: int) -> dict[str, Any]:
    return {"EventType": int(T.TASK_COMPLETED), "TaskScheduledId": seq}


def fired(seq: int) -> dict[str, Any]:
    return {"EventType": int(T.TIMER_FIRED), "TimerId": seq}


def raised(name: str) -> dict[str, Any]:
    return {"EventType": int(T.EVENT_RAISED), "Name": name}


def scheduled(actions: list[dict[str, Any]], history: list[dict[str, Any]]) -> tuple[list[int], bool]:
    result = walk([actions], history, schema_v2=True)
    return [a.sequence for a in result.scheduled if a.sequence is not None], result.finished


def test_an_action_after_a_pending_one_is_not_scheduled() -> None:
    actions = [any_of(timer()), activity()]
    assert scheduled(actions, STARTED) == ([0], False)
    assert scheduled(actions, [*STARTED, fired(0)]) == ([0, 1], False)
    assert scheduled(actions, [*STARTED, fired(0), done(1)]) == ([0, 1], True)


def test_a_compound_waits_only_for_the_children_it_carries() -> None:
    # WhenAll of two activities waits for both; WhenAny of one for that one.
    actions = [all_of(activity(), activity()), activity("next")]
    assert scheduled(actions, [*STARTED, done(0)]) == ([0, 1], False)
    assert scheduled(actions, [*STARTED, done(1), done(0)]) == ([0, 1, 2], False)
    with pytest.raises(ShimError, match="contains no tasks"):
        walk([[any_of()]], STARTED, schema_v2=True)


def test_a_cancelled_timer_ends_its_await_at_once_but_is_still_created() -> None:
    actions = [any_of(wait("x"), timer(canceled=True)), activity()]
    assert scheduled(actions, STARTED) == ([0, 1], False)
    actions = [any_of(wait("x"), timer(canceled=False)), activity()]
    assert scheduled(actions, STARTED) == ([0], False)


def test_waiters_of_one_name_are_a_stack_and_early_events_a_queue() -> None:
    # Two waiters of 'x', each in its own step: the newest gets the event, so the second step
    # ends (and the activity after it is scheduled) while the first waiter still waits.
    both = [any_of(wait("x"), timer()), any_of(wait("x")), activity()]
    assert scheduled(both, [*STARTED, fired(0)]) == ([0], False)
    assert scheduled(both, [*STARTED, fired(0), raised("x")]) == ([0, 1], False)
    # Raised before any waiter: buffered, and each later waiter takes one, oldest first.
    buffered = [any_of(wait("x")), any_of(wait("x")), activity()]
    assert scheduled(buffered, [*STARTED[:1], raised("x"), STARTED[1]]) == ([], False)
    assert scheduled(buffered, [*STARTED[:1], raised("x"), raised("x"), STARTED[1]]) == ([0], False)


def test_schema_v1_awaits_any_of_each_set() -> None:
    sets = [[activity(), timer()], [activity("next")]]
    assert [a.sequence for a in walk(sets, [*STARTED, fired(1)], schema_v2=False).scheduled] == [0, 1, 2]
    assert [a.sequence for a in walk(sets, STARTED, schema_v2=False).scheduled] == [0, 1]


# ------------------------------------------------------- the SDK's orchestrators on the emulator

app = df.DFApp()


@app.activity_trigger(input_name="n")
def shim_add_one(n: int) -> int:
    return n + 1


def _race_then_timer(context: Any, *, cancel: bool) -> Any:
    """The pattern our old orchestrator used: a waiter raced across two yields."""
    go = context.wait_for_external_event("go")
    yield context.task_any([context.call_activity("shim_add_one", 1), go])  # the activity wins
    deadline = context.create_timer(context.current_utc_datetime + timedelta(days=1))
    # The SDK sends this WhenAny with the deadline only: 'go' was scheduled by the first yield.
    yield context.task_any([go, deadline])
    if cancel and not deadline.is_completed:
        deadline.cancel()
    result = yield context.call_activity("shim_add_one", 10)
    return result


@app.orchestration_trigger(context_name="context")
def race_keeps_timer(context: Any) -> Any:
    return (yield from _race_then_timer(context, cancel=False))


@app.orchestration_trigger(context_name="context")
def race_cancels_timer(context: Any) -> Any:
    return (yield from _race_then_timer(context, cancel=True))


@app.orchestration_trigger(context_name="context")
def big_status(context: Any) -> Any:
    context.set_custom_status({"blob": "\U0001F600" * 4_400})  # 17,600 UTF-16 bytes: 17 KB
    yield context.call_activity("shim_add_one", 1)
    return "never"


@app.orchestration_trigger(context_name="context")
def fits_status(context: Any) -> Any:
    context.set_custom_status({"blob": "\U0001F600" * 4_000})  # 16,000 UTF-16 bytes: 15 KB
    result = yield context.call_activity("shim_add_one", 1)
    return result


@app.orchestration_trigger(context_name="context")
def long_wait(context: Any) -> Any:
    yield context.create_timer(context.current_utc_datetime + timedelta(days=7))
    return "woke"


def _emulator() -> tuple[DurableEmulator, ManualClock]:
    clock = ManualClock(START, auto_advance=False)
    return DurableEmulator(app, clock=clock), clock


def test_a_waiter_raced_again_leaves_the_host_blocked_on_the_new_timer() -> None:
    async def go() -> tuple[str, str, Any]:
        emulator, _ = _emulator()
        instance_id = await emulator.start_new("race_keeps_timer", "keeps")
        await emulator.run_until_idle()
        await emulator.raise_event(instance_id, "go", 1)
        await emulator.run_until_idle()
        after_event = emulator.get_instance(instance_id)
        emulator.advance_clock(DAY)
        await emulator.run_until_idle()
        final = emulator.get_instance(instance_id)
        return after_event.runtime_status, final.runtime_status, final.output

    after_event, final, output = asyncio.run(go())
    # Python moved on at the event; the host awaits the uncancelled deadline first.
    assert after_event == "Running"
    assert (final, output) == ("Completed", 11)


def test_cancelling_the_timer_python_stopped_racing_lets_the_host_go_on() -> None:
    async def go() -> tuple[str, Any, list[float]]:
        emulator, _ = _emulator()
        instance_id = await emulator.start_new("race_cancels_timer", "cancels")
        await emulator.run_until_idle()
        await emulator.raise_event(instance_id, "go", 1)
        await emulator.run_until_idle()
        state = emulator.get_instance(instance_id)
        return state.runtime_status, state.output, emulator.pending_timers(instance_id)

    assert asyncio.run(go()) == ("Completed", 11, [])


def test_a_custom_status_over_16_kb_in_utf16_fails_the_orchestration() -> None:
    async def go(name: str) -> Any:
        emulator, _ = _emulator()
        instance_id = await emulator.start_new(name, name)
        await emulator.run_until_idle()
        return emulator.get_instance(instance_id)

    failed = asyncio.run(go("big_status"))
    assert failed.runtime_status == "Failed"
    assert "must not exceed 16 KB. The current payload size is 17 KB" in str(failed.output)
    fits = asyncio.run(go("fits_status"))
    assert (fits.runtime_status, fits.output) == ("Completed", 2)


def test_timers_beyond_six_days_take_the_sdks_long_timer_path() -> None:
    async def go() -> tuple[list[float], str, Any]:
        emulator, clock = _emulator()
        instance_id = await emulator.start_new("long_wait", "long")
        await emulator.run_until_idle()
        first = [t - clock.now() for t in emulator.pending_timers(instance_id)]
        for _ in range(4):
            emulator.advance_clock(3 * DAY)
            await emulator.run_until_idle()
        state = emulator.get_instance(instance_id)
        return first, state.runtime_status, state.output

    first, status, output = asyncio.run(go())
    assert first == [3 * DAY]  # the extension's 3-day interval, not one 7-day timer
    assert (status, output) == ("Completed", "woke")

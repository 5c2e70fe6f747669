"""The Durable Python SDK's known traps, each shown with the real SDK, and how we avoid it.

Others are covered where they live: the host's non-determinism check (test_emulator_lifecycle,
test_azure_version_pinning), events dropped by continue-as-new (test_emulator_lifecycle, and
test_azure_emulator_e2e shows none of ours is lost), the unknown instance's falsy status
(test_emulator_server, and our 404 in test_azure_emulator_e2e), the shared aiohttp session
(test_emulator_server), replay cost growing with history (bench/emulator_bench.py).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import azure.durable_functions as df
import pytest
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

START = 1_700_000_000.0


def _run(app: Any, name: str, input: Any = None, events: tuple[tuple[str, Any], ...] = ()) -> Any:
    async def go() -> Any:
        emulator = DurableEmulator(app, clock=ManualClock(START, auto_advance=False))
        instance_id = await emulator.start_new(name, "trap", input)
        for event, data in events:
            await emulator.raise_event(instance_id, event, data)
        await emulator.run_until_idle()
        return emulator.get_instance(instance_id)

    return asyncio.run(go())


def test_sdk_hands_one_early_event_to_every_later_wait_of_its_name() -> None:
    """SDK issue #507, with the real SDK: two waits for 'x' after one early 'x' both get it."""
    app = df.DFApp()

    @app.orchestration_trigger(context_name="context")
    def twice(context: Any) -> Any:
        yield context.create_timer(context.current_utc_datetime)  # the event arrives before the waits
        first = yield context.wait_for_external_event("x")
        second = yield context.wait_for_external_event("x")
        return [first, second]

    # Python returns at once, with the one payload twice; the host's walk gives the buffered
    # event to the first wait only and blocks on the second, so the run is not done...
    state = _run(app, "twice", events=(("x", {"n": 1}),))
    assert state.runtime_status == "Running"
    # ...until a second 'x' arrives; then the SDK gives both waits the last early event: the
    # first is lost, the second consumed twice.
    state = _run(app, "twice", events=(("x", {"n": 1}), ("x", {"n": 2})))
    assert state.runtime_status == "Completed"
    assert state.output == [{"n": 2}, {"n": 2}]


class Votes(BaseModel):
    """Votes in arrival order."""

    votes: list[str] = []


def _two_waits() -> Any:
    builder = ManifestBuilder(graph_name="two_waits", state_model=Votes)
    first = RouteDecision.wait_for_event("vote", "second")
    second = RouteDecision.wait_for_event("vote", "done")
    builder.set_entrypoint("first")
    builder.add_node("first", lambda s: None, route=lambda s: first, route_targets=[first])
    builder.add_node("second", lambda s: None, route=lambda s: second, route_targets=[second])
    builder.add_node("done", lambda s: None, terminal=True)
    builder.add_event_handler("vote", lambda s, p: {"votes": [*s.votes, p["v"]]})
    return builder.build()


def _payload(runtime: DurableGraphApp, state: dict[str, Any]) -> dict[str, Any]:
    return run_payload(runtime.registrations()[0].manifest, state, metadata={}, created_at=START,
                       policy=runtime.compaction)


def test_our_orchestrator_gives_each_wait_its_own_event_in_order() -> None:
    """One input channel with event ids, consumed by the interpreter: FIFO, each event once."""
    runtime = DurableGraphApp()
    runtime.register_registration(_two_waits())
    events = tuple((INPUT_EVENT, input_message("event", f"e{i}", name="vote", payload={"v": v}))
                   for i, v in enumerate(("v1", "v2")))
    state = _run(runtime.function_app, ORCHESTRATOR, _payload(runtime, {"votes": []}), events)
    assert state.runtime_status == "Completed", state.output
    assert state.output["state"]["votes"] == ["v1", "v2"]


def test_sdk_drops_a_falsy_custom_status() -> None:
    app = df.DFApp()

    @app.orchestration_trigger(context_name="context")
    def falsy(context: Any) -> Any:
        context.set_custom_status({})
        yield context.wait_for_external_event("never")

    assert _run(app, "falsy").custom_status is None


class Big(BaseModel):
    """A large state: it must never reach the custom status (16 KB limit)."""

    blob: str = ""


def test_our_custom_status_is_small_and_never_falsy_even_with_a_large_state() -> None:
    builder = ManifestBuilder(graph_name="big", state_model=Big)
    wait = RouteDecision.wait_for_event("go", "fail")
    builder.set_entrypoint("grow")
    builder.add_node("grow", lambda s: {"blob": "x" * 200_000}, route=lambda s: wait, route_targets=[wait])

    def fail(state: Big) -> None:
        raise RuntimeError("y" * 50_000)

    builder.add_node("fail", fail, terminal=True)
    builder.add_event_handler("go")
    runtime = DurableGraphApp()
    runtime.register_registration(builder.build())
    waiting = _run(runtime.function_app, ORCHESTRATOR, _payload(runtime, {"blob": ""}))
    assert waiting.custom_status and waiting.custom_status["status"] == "waiting"
    assert len(json.dumps(waiting.custom_status)) < 4096
    failed = _run(runtime.function_app, ORCHESTRATOR, _payload(runtime, {"blob": ""}),
                  ((INPUT_EVENT, input_message("event", "e1", name="go", payload={})),))
    assert failed.runtime_status == "Failed"
    assert failed.custom_status["status"] == "failed"
    assert 0 < len(json.dumps(failed.custom_status)) < 16 * 1024


def test_sdk_needs_a_version_key_on_execution_started() -> None:
    """The host always sends ``Version``; a history without it crashes the SDK's handler."""
    app = df.DFApp()

    @app.orchestration_trigger(context_name="context")
    def hello(context: Any) -> Any:
        return "hi"
        yield  # a generator

    handler = app.get_functions()[0].get_user_function()
    started = {"EventType": 0, "EventId": -1, "IsPlayed": False, "Timestamp": "2023-11-14T22:13:20.000000Z",
               "Name": "hello", "Input": None}
    history = [{"EventType": 12, "EventId": -1, "IsPlayed": False, "Timestamp": "2023-11-14T22:13:20.000000Z"}]
    body = {"history": history + [started], "input": None, "instanceId": "v", "isReplaying": False,
            "parentInstanceId": None, "upperSchemaVersion": 1}
    with pytest.raises(Exception):  # noqa: B017 - the SDK raises a bare KeyError/TypeError here
        handler(json.dumps(body))
    body["history"] = history + [{**started, "Version": ""}]
    assert json.loads(handler(json.dumps(body)))["output"] == "hi"

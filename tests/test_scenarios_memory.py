"""The scenario table, run by the in-process runner, plus runner-only behaviour."""

from __future__ import annotations

import json
from typing import Any

import pytest

from azure_functions_durable_graph import ManifestBuilder, RouteDecision
from azure_functions_durable_graph.execution import ManualClock
from scenarios import (
    SCENARIOS,
    SCENARIOS_BY_NAME,
    Approval,
    ApprovalState,
    Scenario,
    assert_result,
    build_cancel_while_waiting,
    build_two_waits_fifo,
    build_wait_timeout_route,
    final_state,
    run_in_memory,
)

# Scenarios whose in-memory outcome is known to be wrong; the table keeps the correct
# expectation so the marker fails (strict) once the runner is fixed.
KNOWN_BUGS: dict[str, str] = {}


def _params() -> list[Any]:
    params = []
    for scenario in SCENARIOS:
        marks = []
        if scenario.name in KNOWN_BUGS:
            marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[scenario.name]))
        params.append(pytest.param(scenario, id=scenario.name, marks=marks))
    return params


def test_table_is_large_and_names_are_unique() -> None:
    assert len(SCENARIOS) >= 32
    assert len(SCENARIOS_BY_NAME) == len(SCENARIOS)
    assert set(KNOWN_BUGS) <= set(SCENARIOS_BY_NAME)


@pytest.mark.parametrize("scenario", _params())
def test_scenario(scenario: Scenario) -> None:
    result = run_in_memory(scenario)
    assert result.status == scenario.expected_status, result.error
    if scenario.expected_state is not None:
        state = final_state(result)
        assert {k: state.get(k) for k in scenario.expected_state} == scenario.expected_state
    if scenario.expected_nodes is not None:
        assert tuple(result.node_sequence) == scenario.expected_nodes
    if scenario.expected_error_code is not None:
        assert result.error is not None
        assert result.error["code"] == scenario.expected_error_code
    else:
        assert result.error is None
    assert_result(scenario, result)


@pytest.mark.parametrize("scenario", _params())
def test_scenario_is_repeatable(scenario: Scenario) -> None:
    """Builds are fresh and handlers keep nothing between runs: a second run agrees."""
    if scenario.name == "node_timeout":
        pytest.skip("covered once; it spends its timeout on purpose")
    first, second = run_in_memory(scenario), run_in_memory(scenario)
    assert second.status == first.status
    assert final_state(second) == final_state(first)
    assert second.node_sequence == first.node_sequence
    assert second.snapshot == first.snapshot
    assert_result(scenario, second)


@pytest.mark.parametrize(
    "scenario",
    [s for s in SCENARIOS if s.expected_status == "waiting" or s.actions],
    ids=lambda s: s.name,
)
def test_snapshots_stay_json(scenario: Scenario) -> None:
    """A parked run's snapshot is plain JSON (resume relies on it)."""
    if scenario.name in KNOWN_BUGS:
        pytest.skip(KNOWN_BUGS[scenario.name])
    result = run_in_memory(scenario)
    assert json.loads(json.dumps(result.snapshot)) == result.snapshot


def test_event_after_finish_is_ignored() -> None:
    clock = ManualClock()
    result = build_wait_timeout_route().invoke({}, clock=clock)
    clock.advance(61)
    done = result.resume()
    assert done.status == "completed"
    after = done.resume([("go", {"x": 9})])
    assert after.status == "completed"
    assert after.state is not None and after.state.x == 0
    assert after.node_sequence == ["ask", "late"]


def test_event_after_cancel_is_ignored() -> None:
    result = build_cancel_while_waiting().invoke({}, clock=ManualClock())
    cancelled = result.resume(cancel="stop")
    assert cancelled.status == "cancelled"
    assert cancelled.snapshot["cancel"] == {"reason": "stop"}
    assert cancelled.waiting_for == []
    after = cancelled.resume([("go", {"x": 1})])
    assert after.status == "cancelled"
    assert after.state is not None and after.state.x == 0


def test_resuming_the_same_waiting_result_twice_gives_the_same_outcome() -> None:
    waiting = build_two_waits_fifo().invoke({}, clock=ManualClock())
    assert waiting.status == "waiting"
    one = waiting.resume([("vote", {"v": "a"})])
    two = waiting.resume([("vote", {"v": "a"})])
    assert one.snapshot == two.snapshot
    assert waiting.status == "waiting" and waiting.node_sequence == ["first"]


def test_bare_payloads_go_to_the_next_wait_in_order() -> None:
    result = build_two_waits_fifo().invoke(
        {}, events=[{"v": "x"}, {"v": "y"}], clock=ManualClock()
    )
    assert result.status == "completed"
    assert result.state is not None and result.state.votes == ["x", "y"]


def test_waiting_for_describes_the_open_wait() -> None:
    result = build_wait_timeout_route().invoke({}, clock=ManualClock(start=1000.0))
    assert result.status == "waiting"
    (wait,) = result.waiting_for
    assert (wait["event"], wait["node"], wait["resume_node"], wait["on_timeout"]) == (
        "go",
        "ask",
        "resume",
        "late",
    )
    assert wait["deadline"] == 1060.0


def test_buffered_model_payload_keeps_the_snapshot_json() -> None:
    builder = ManifestBuilder(graph_name="buffered_model_payload", state_model=ApprovalState)
    first = RouteDecision.wait_for_event("first", "ask")
    approval = RouteDecision.wait_for_event("approval", "done")
    builder.set_entrypoint("start")
    builder.add_node("start", lambda s: None, route=lambda s: first, route_targets=[first])
    builder.add_node("ask", lambda s: None, route=lambda s: approval, route_targets=[approval])
    builder.add_node("done", lambda s: {"log": f"done:{s.reviewer}"}, terminal=True)
    builder.add_event_handler("first")
    builder.add_event_handler(
        "approval", lambda s, p: {"reviewer": p.reviewer}, payload_model=Approval
    )
    waiting = builder.build().invoke({}, clock=ManualClock())
    # Raised as a model instance (in-process callers may do that) while no wait needs it yet.
    parked = waiting.resume([("approval", Approval(approved=True, reviewer="cy"))])
    assert parked.status == "waiting"
    assert json.loads(json.dumps(parked.snapshot)) == parked.snapshot
    done = parked.resume([("first", {})])
    assert done.status == "completed"
    assert done.state is not None and done.state.log == ["done:cy"]


def test_invoke_does_not_format_its_result() -> None:
    # On Python 3.11 asyncio.run formats its finished main task, result included; formatting
    # a whole run's result (state, every step) cost more than a step of the run.
    from pydantic import BaseModel

    formatted: list[str] = []

    class CountingState(BaseModel):
        count: int = 0

        def __repr__(self) -> str:
            formatted.append("state")
            return super().__repr__()

    builder = ManifestBuilder(graph_name="counting", state_model=CountingState)
    builder.set_entrypoint("a")
    builder.add_node("a", lambda s: {"count": s.count + 1}, next_node="b")
    builder.add_node("b", lambda s: {"count": s.count + 1}, terminal=True)
    registration = builder.build()
    result = registration.invoke({})
    resumed = result.resume([])
    assert (result.status, resumed.status) == ("completed", "completed")
    assert formatted == []
    repr(result)  # the check above can see a repr: this one is counted
    assert formatted == ["state"]


def test_a_router_declared_with_ctx_gets_it_when_its_node_does_not() -> None:
    # The context is built only for callables that declare it: here the router, not the node.
    from scenarios import CtxState

    seen: list[tuple[str, str, int]] = []

    def route(state: CtxState, ctx: Any) -> str:
        seen.append((ctx.node, ctx.task_id, ctx.step))
        return "end"

    builder = ManifestBuilder(graph_name="router_ctx", state_model=CtxState)
    builder.set_entrypoint("first")
    builder.add_node("first", lambda s: {"log": "first"}, route=route, route_targets=["end"])
    builder.add_node("end", lambda s: {"log": "end"}, terminal=True)
    result = builder.build().invoke({})
    assert result.status == "completed", result.error
    assert seen == [("first", "1:0:first", 1)]
    assert result.state is not None and result.state.log == ["first", "end"]

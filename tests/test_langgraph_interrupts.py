"""interrupt(), interrupt_before and interrupt_after through the adapter, answered by events."""

from __future__ import annotations

import operator
from typing import Annotated, Any

import pytest

pytest.importorskip("langgraph")

from langgraph.checkpoint.memory import InMemorySaver  # noqa: E402
from langgraph.graph import START, StateGraph  # noqa: E402
from langgraph.types import Command, interrupt  # noqa: E402
from typing_extensions import TypedDict  # noqa: E402

from azure_functions_durable_graph.execution import ManualClock  # noqa: E402
from azure_functions_durable_graph.langgraph import from_langgraph  # noqa: E402
from http_conformance import ENGINES, run_over_http  # noqa: E402
from langgraph_helpers import on_langgraph, our_groups, plain  # noqa: E402
from scenarios import Scenario, event  # noqa: E402


class Draft(TypedDict):
    draft: str
    verdict: str
    log: Annotated[list[str], operator.add]


def approval_graph(**compile_options: Any) -> Any:
    def write(state: Draft) -> dict[str, Any]:
        return {"draft": f"{state['draft']}!", "log": ["write"]}

    def approve(state: Draft) -> dict[str, Any]:
        answer = interrupt({"question": "publish?", "draft": state["draft"]})
        again = interrupt("sure?")
        return {"verdict": f"{answer}/{again}", "log": ["approve"]}

    def publish(state: Draft) -> dict[str, Any]:
        return {"log": [f"publish {state['draft']}"]}

    graph = StateGraph(Draft)
    graph.add_node("write", write)
    graph.add_node("approve", approve)
    graph.add_node("publish", publish)
    graph.add_edge(START, "write")
    graph.add_edge("write", "approve")
    graph.add_edge("approve", "publish")
    return graph.compile(checkpointer=InMemorySaver(), **compile_options)


CASES = {
    # name: (compile options, LangGraph resumes, our resume payloads)
    "interrupt": ({}, [Command(resume="yes"), Command(resume="really")],
                  [{"resume": "yes"}, {"resume": "really"}]),
    "interrupt_after": ({"interrupt_after": ["write"]},
                        [None, Command(resume="yes"), Command(resume="really")],
                        [{}, {"resume": "yes"}, {"resume": "really"}]),
    "interrupt_before": ({"interrupt_before": ["publish"]},
                         [Command(resume="yes"), Command(resume="really"), None],
                         [{"resume": "yes"}, {"resume": "really"}, {}]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_pauses_match_langgraph(case: str) -> None:
    options, theirs, ours = CASES[case]
    graph = approval_graph(**options)
    expected, steps = on_langgraph(graph, [{"draft": "hi"}, *theirs], {"configurable": {"thread_id": case}})
    registration = from_langgraph(graph, name=f"approval_{case}")
    result = registration.invoke({"draft": "hi"}, clock=ManualClock())
    waits = []
    for payload in ours:
        assert result.status == "waiting", result.error
        waits.append(result.waiting_for[0]["note"])
        result = result.resume([("resume", payload)])
    assert result.status == "completed", result.error
    assert plain(registration.output(result.state), expected) == plain(expected, expected)
    assert expected["verdict"] == "yes/really"
    assert our_groups(result.steps) == steps
    assert any("publish?" in note for note in waits)


def test_resume_update_changes_the_state_like_update_state() -> None:
    graph = approval_graph(interrupt_before=["publish"])
    registration = from_langgraph(graph, name="approval_edit")
    result = registration.invoke({"draft": "hi"}, clock=ManualClock())
    result = result.resume([("resume", {"resume": "yes"})]).resume([("resume", {"resume": "ok"})])
    result = result.resume([("resume", {"update": {"draft": "edited"}})])
    assert result.status == "completed"
    assert result.state.log[-1] == "publish edited"


@pytest.mark.parametrize("engine", list(ENGINES))
def test_an_interrupt_is_answered_through_the_events_api(engine: str) -> None:
    graph = approval_graph()
    scenario = Scenario(
        name=f"lg-approval-{engine}",
        build=lambda: from_langgraph(graph, name="lg_approval"),
        input={"draft": "hi"},
        actions=(event("resume", {"resume": "yes"}), event("resume", {"resume": "really"})),
    )
    with ENGINES[engine](scenario.build()) as running:
        outcome = run_over_http(scenario, running)
    assert outcome["status"] == "completed", outcome["error"]
    assert outcome["state"]["verdict"] == "yes/really"
    assert outcome["state"]["log"] == ["write", "approve", "publish hi!"]

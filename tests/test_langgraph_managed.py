"""LangGraph's managed values ``RemainingSteps`` and ``IsLastStep`` through the adapter.

A node or branch sees them computed from the run's step and ``max_steps`` (the recursion
limit) exactly as LangGraph computes them: checked against LangGraph's own run at each step,
on ``invoke`` and on the embedded engine (memory and SQLite stores).
"""

from __future__ import annotations

import asyncio
import operator
from pathlib import Path
from typing import Annotated, Any

import pytest

pytest.importorskip("langgraph")

from langchain_core.messages import HumanMessage  # noqa: E402
from langgraph.errors import GraphRecursionError  # noqa: E402
from langgraph.graph import END, START, StateGraph  # noqa: E402
from langgraph.managed import IsLastStep, RemainingSteps  # noqa: E402
from langgraph.managed.base import ManagedValue  # noqa: E402
from typing_extensions import TypedDict  # noqa: E402

from azure_functions_durable_graph.execution import ManualClock  # noqa: E402
from azure_functions_durable_graph.langgraph import LangGraphUnsupportedError, from_langgraph  # noqa: E402
from azure_functions_durable_graph.local.engine import LocalEngine  # noqa: E402
from azure_functions_durable_graph.local.store import MemoryRunStore, RunStore  # noqa: E402
from azure_functions_durable_graph.local.store.sqlite import SqliteRunStore  # noqa: E402


class Loop(TypedDict):
    seen: Annotated[list[list[Any]], operator.add]
    remaining: RemainingSteps
    last: IsLastStep


def loop_graph(entry: str, stop: str) -> Any:
    """One node looping on itself, logging (node, remaining, last) until ``stop`` says so."""

    def work(state: Loop) -> dict[str, Any]:
        return {"seen": [["work", state["remaining"], state["last"]]]}

    def again(state: Loop) -> str:
        done = {"remaining": state["remaining"] <= 2, "last": state["last"], "never": False}[stop]
        return END if done else "work"

    graph = StateGraph(Loop)
    graph.add_node("work", work)
    if entry == "direct":
        graph.add_edge(START, "work")
    else:  # a branch at START: the adapter adds its entry node, which takes a step
        graph.add_conditional_edges(START, lambda s: "work" if s["remaining"] > 1 else END, ["work", END])
    graph.add_conditional_edges("work", again, ["work", END])
    return graph.compile()


def on_engine(registration: Any, input: dict[str, Any], store: RunStore) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        async with LocalEngine(store, clock=ManualClock(auto_advance=False)) as engine:
            engine.register(registration)
            started = await engine.start(registration.graph_name, input)
            status = await engine.wait(started.instance_id)
            record = engine.store.get_run(started.instance_id)
            return {"status": status.status, "error": status.error, "state": record.snapshot["state"]}

    return asyncio.run(asyncio.wait_for(main(), 60))


def stores(tmp_path: Path) -> dict[str, RunStore]:
    return {"memory": MemoryRunStore(), "sqlite": SqliteRunStore(tmp_path / "runs.db")}


@pytest.mark.parametrize("entry", ["direct", "branch"])
@pytest.mark.parametrize("stop", ["remaining", "last"])
@pytest.mark.parametrize("limit", [4, 7])
def test_remaining_steps_and_is_last_step_are_langgraphs_at_every_step(
        tmp_path: Path, entry: str, stop: str, limit: int) -> None:
    expected = loop_graph(entry, stop).invoke({"seen": []}, {"recursion_limit": limit})["seen"]
    assert [s[1] for s in expected] == list(range(limit - 1, expected[-1][1] - 1, -1))  # limit - step
    assert [s[2] for s in expected] == [s[1] == 1 for s in expected]  # last == (remaining == 1)
    registration = from_langgraph(loop_graph(entry, stop), name="loop", recursion_limit=limit)

    result = registration.invoke({"seen": []}, clock=ManualClock())
    assert result.status == "completed", result.error
    assert registration.output(result.state)["seen"] == expected
    for name, store in stores(tmp_path).items():
        run = on_engine(registration, {"seen": []}, store)
        assert run["status"] == "completed", (name, run["error"])
        assert run["state"]["seen"] == expected, name
        assert "remaining" not in run["state"] and "last" not in run["state"]  # never stored


def test_a_loop_past_the_limit_sees_the_same_values_then_fails_like_langgraph() -> None:
    seen: list[Any] = []
    graph = loop_graph("direct", "never")
    with pytest.raises(GraphRecursionError):
        for chunk in graph.stream({"seen": []}, {"recursion_limit": 5}, stream_mode="updates"):
            seen.extend(chunk["work"]["seen"])
    assert [s[1] for s in seen] == [4, 3, 2, 1, 0]
    registration = from_langgraph(loop_graph("direct", "never"), name="loop", recursion_limit=5)
    result = registration.invoke({"seen": []}, clock=ManualClock())
    assert result.status == "failed" and result.error["code"] == "MAX_STEPS_EXCEEDED"
    assert result.state is not None and result.state.seen == seen


def test_managed_keys_are_neither_input_nor_output() -> None:
    registration = from_langgraph(loop_graph("direct", "last"), name="loop", recursion_limit=4)
    assert set(registration.input_model.model_fields) == {"seen"}
    assert registration.manifest.output_fields == ["seen"]
    assert "remaining" not in registration.state_model.model_fields


class Tick(ManagedValue[int]):
    """A managed value of one's own (LangGraph reads it from its scratchpad)."""

    @staticmethod
    def get(scratchpad: Any) -> int:
        return 0


class Odd(TypedDict):
    n: int
    tick: Annotated[int, Tick]


def test_another_managed_value_is_refused_naming_it() -> None:
    graph = StateGraph(Odd)
    graph.add_node("a", lambda s: {"n": 1})
    graph.add_edge(START, "a")
    with pytest.raises(LangGraphUnsupportedError, match=r"managed value Tick for state key 'tick'"):
        from_langgraph(graph, name="odd")


def react_agent() -> Any:
    import test_langgraph_corpus as corpus

    if corpus.create_react_agent is None:
        pytest.skip("this langgraph-prebuilt has no create_react_agent")
    return corpus.react_agent()


@pytest.mark.parametrize("limit", [2, 4, 25])
def test_create_react_agent_stops_on_its_remaining_steps_like_langgraph(tmp_path: Path, limit: int) -> None:
    # Below 2 remaining steps with a tool call pending, the agent answers that it needs more.
    question = {"type": "human", "content": "What is 6 times 7?", "id": "h-1"}
    expected = react_agent().invoke({"messages": [HumanMessage(question["content"], id="h-1")]},
                                    {"recursion_limit": limit})["messages"]
    want = [(m.type, m.content) for m in expected]
    registration = from_langgraph(react_agent(), name="react", recursion_limit=limit)
    result = registration.invoke({"messages": [question]}, clock=ManualClock())
    assert result.status == "completed", result.error
    assert [(m["type"], m["content"]) for m in registration.output(result.state)["messages"]] == want
    run = on_engine(registration, {"messages": [question]}, stores(tmp_path)["sqlite"])
    assert run["status"] == "completed", run["error"]
    assert [(m["type"], m["content"]) for m in run["state"]["messages"]] == want
    if limit == 2:
        assert "need more steps" in want[-1][1]
    else:
        assert want[-1] == ("ai", "The answer is 42")

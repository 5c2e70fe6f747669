"""from_langgraph: LangGraph node error handlers run as ``on_error`` nodes, alike on every engine.

Each graph runs on LangGraph itself, then through the adapter on ``registration.invoke`` and on
``LocalEngine`` with the memory and the SQLite store; the final state (or the run's error) must
be the same. The handler runs in the superstep after the failed one here (in the same one on
LangGraph), so the graphs keep the failing node alone in its superstep where order matters.
"""

from __future__ import annotations

import asyncio
import inspect
import operator
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import pytest

pytest.importorskip("langgraph")

from langgraph.graph import END, START, StateGraph  # noqa: E402
from langgraph.types import Command, RetryPolicy, Send  # noqa: E402
from typing_extensions import TypedDict  # noqa: E402

from azure_functions_durable_graph.execution import ManualClock  # noqa: E402
from azure_functions_durable_graph.langgraph import FailedNodeError, from_langgraph  # noqa: E402
from azure_functions_durable_graph.local.store.memory import MemoryRunStore  # noqa: E402
from azure_functions_durable_graph.local.store.sqlite import SqliteRunStore  # noqa: E402
from engine_harness import run_on_engine  # noqa: E402
from scenarios import Scenario  # noqa: E402

pytestmark = pytest.mark.skipif("error_handler" not in inspect.signature(StateGraph.add_node).parameters,
                                reason="this LangGraph has no node error handlers")

if "error_handler" in inspect.signature(StateGraph.add_node).parameters:
    from langgraph.errors import NodeError
else:  # the annotation below only needs a name
    NodeError = Any  # type: ignore[misc,assignment]


class Log(TypedDict):
    topic: str
    log: Annotated[list[str], operator.add]


def run_everywhere(build: Callable[[], Any], value: dict[str, Any], tmp_path: Path) -> list[dict[str, Any]]:
    """Outcomes (status, log, error) of ``build()``'s graph through the adapter on each engine."""
    registration = from_langgraph(build(), name="g")
    result = registration.invoke(value, clock=ManualClock())
    outcomes = [{"status": result.status, "log": (result.state.log if result.state is not None else None),
                 "error": result.error, "steps": [(s.step, s.node, bool(s.error)) for s in result.steps]}]
    scenario = Scenario(name="lg-errors", build=lambda: from_langgraph(build(), name="g"), input=value)
    store = SqliteRunStore(tmp_path / "runs.db")
    try:
        for each in (MemoryRunStore(), store):
            run = asyncio.run(asyncio.wait_for(run_on_engine(scenario, each), 60))
            outcomes.append({"status": run["status"], "log": run["state"].get("log"), "error": run["error"],
                             "nodes": run["nodes"]})
    finally:
        store.close()
    return outcomes


def same(build: Callable[[], Any], value: dict[str, Any], tmp_path: Path) -> list[dict[str, Any]]:
    """The graph completes with LangGraph's final log on every engine."""
    expected = asyncio.run(build().ainvoke(value))
    outcomes = run_everywhere(build, value, tmp_path)
    for outcome in outcomes:
        assert outcome["status"] == "completed", outcome["error"]
        assert outcome["log"] == expected["log"]
    return outcomes


def test_handler_with_a_plain_update_ends_the_branch(tmp_path: Path) -> None:
    def build() -> Any:
        def risky(state: Log) -> dict[str, Any]:
            raise ValueError(f"no {state['topic']}")

        def handler(state: Log, error: NodeError) -> dict[str, Any]:
            return {"log": [f"handled {error.node}: {type(error.error).__name__}: {error.error}"]}

        graph = StateGraph(Log)
        graph.add_node("first", lambda s: {"log": ["first"]})
        graph.add_node("risky", risky, error_handler=handler)
        graph.add_node("after", lambda s: {"log": ["after"]})  # risky's edge: not taken
        graph.add_edge(START, "first")
        graph.add_edge("first", "risky")
        graph.add_edge("risky", "after")
        graph.add_edge("after", END)
        return graph.compile()

    outcomes = same(build, {"topic": "otters"}, tmp_path)
    assert outcomes[0]["log"] == ["first", "handled risky: ValueError: no otters"]
    assert outcomes[0]["steps"] == [(1, "first", False), (2, "risky", True), (3, "__error_handler__risky", False)]
    assert outcomes[1]["nodes"] == outcomes[2]["nodes"] == ["first", "__error_handler__risky"]


def test_handler_command_goto_routes_to_its_target(tmp_path: Path) -> None:
    def build() -> Any:
        def risky(state: Log) -> dict[str, Any]:
            raise KeyError("missing")

        async def handler(state: Log, error: NodeError) -> Command:
            return Command(update={"log": [f"recovering from {error.node}"]}, goto="fallback")

        graph = StateGraph(Log)
        graph.add_node("risky", risky, error_handler=handler)
        graph.add_node("fallback", lambda s: {"log": ["fallback"]})
        graph.add_node("after", lambda s: {"log": ["after"]})
        graph.add_edge(START, "risky")
        graph.add_edge("risky", "after")
        graph.add_edge("fallback", END)
        return graph.compile()

    expected = asyncio.run(build().ainvoke({"topic": "t"}))
    assert expected["log"] == ["recovering from risky", "fallback"]
    outcomes = same(build, {"topic": "t"}, tmp_path)
    assert outcomes[1]["nodes"] == ["__error_handler__risky", "fallback"]


def test_default_handler_from_set_node_defaults_covers_every_node(tmp_path: Path) -> None:
    if not hasattr(StateGraph, "set_node_defaults"):
        pytest.skip("this LangGraph has no set_node_defaults")

    def build() -> Any:
        def fails(state: Log) -> dict[str, Any]:
            raise ValueError("second broke")

        def default(state: Log, error: NodeError) -> Command:
            return Command(update={"log": [f"default caught {error.node}"]}, goto=END)

        graph = StateGraph(Log)
        graph.set_node_defaults(error_handler=default)
        graph.add_node("one", lambda s: {"log": ["one"]})
        graph.add_node("two", fails)
        graph.add_node("three", lambda s: {"log": ["three"]})
        graph.add_edge(START, "one")
        graph.add_edge("one", "two")
        graph.add_edge("two", "three")
        return graph.compile()

    outcomes = same(build, {"topic": "t"}, tmp_path)
    assert outcomes[0]["log"] == ["one", "default caught two"]
    assert outcomes[1]["nodes"] == ["one", "__default_error_handler__"]


def test_handler_runs_after_the_last_retry(tmp_path: Path) -> None:
    calls: list[int] = []

    def build() -> Any:
        attempts = {"n": 0}

        def flaky(state: Log) -> dict[str, Any]:
            attempts["n"] += 1
            raise ConnectionError(f"attempt {attempts['n']}")

        def handler(state: Log, error: NodeError) -> dict[str, Any]:
            calls.append(attempts["n"])
            return {"log": [f"gave up after {attempts['n']}: {error.error}"]}

        graph = StateGraph(Log)
        graph.add_node("flaky", flaky, error_handler=handler,
                       retry_policy=RetryPolicy(max_attempts=3, initial_interval=0.01, jitter=False))
        graph.add_edge(START, "flaky")
        return graph.compile()

    outcomes = same(build, {"topic": "t"}, tmp_path)
    assert outcomes[0]["log"] == ["gave up after 3: attempt 3"]
    assert calls == [3, 3, 3, 3]  # LangGraph, invoke, memory, SQLite


def test_exception_retry_on_does_not_retry_reaches_the_handler_as_itself(tmp_path: Path) -> None:
    def build() -> Any:
        def picky(state: Log) -> dict[str, Any]:
            raise ValueError("bad input: a, b")

        def handler(state: Log, error: NodeError) -> dict[str, Any]:
            return {"log": [f"{error.node} {isinstance(error.error, ValueError)} {error.error}"]}

        graph = StateGraph(Log)
        graph.add_node("picky", picky, error_handler=handler,
                       retry_policy=RetryPolicy(max_attempts=3, initial_interval=0.01, retry_on=ConnectionError))
        graph.add_edge(START, "picky")
        return graph.compile()

    outcomes = same(build, {"topic": "t"}, tmp_path)
    assert outcomes[0]["log"] == ["picky True bad input: a, b"]


class QuotaExceeded(Exception):
    """Not a builtin: the handler gets a FailedNodeError naming it."""


def test_handler_reads_the_failed_node_and_the_exception_type(tmp_path: Path) -> None:
    def build() -> Any:
        def parse(state: Log) -> dict[str, Any]:
            raise ValueError("not a number")

        def call_api(state: Log) -> dict[str, Any]:
            raise QuotaExceeded("quota of 10 used")

        def handler(state: Log, error: NodeError) -> dict[str, Any]:
            kind = getattr(error.error, "type_name", type(error.error).__name__)
            return {"log": [f"{error.node}:{kind}:{isinstance(error.error, ValueError)}:{error.error}"]}

        graph = StateGraph(Log)
        graph.set_node_defaults(error_handler=handler)
        graph.add_node("parse", parse)
        graph.add_node("call_api", call_api)
        graph.add_conditional_edges(START, lambda s: "parse" if s["topic"] == "parse" else "call_api",
                                    ["parse", "call_api"])
        return graph.compile()

    parsed = same(build, {"topic": "parse"}, tmp_path)
    assert parsed[0]["log"] == ["parse:ValueError:True:not a number"]
    (tmp_path / "api").mkdir()
    called = same(build, {"topic": "api"}, tmp_path / "api")
    assert called[0]["log"] == ["call_api:QuotaExceeded:False:quota of 10 used"]


def test_rebuilt_exception_of_a_non_builtin_type_carries_its_name_and_message() -> None:
    seen: list[BaseException] = []

    def call_api(state: Log) -> dict[str, Any]:
        raise QuotaExceeded("quota of 10 used")

    def handler(state: Log, error: NodeError) -> dict[str, Any]:
        seen.append(error.error)
        return {"log": ["handled"]}

    graph = StateGraph(Log)
    graph.add_node("call_api", call_api, error_handler=handler)
    graph.add_edge(START, "call_api")
    result = from_langgraph(graph.compile(), name="g").invoke({"topic": "t"}, clock=ManualClock())
    assert result.status == "completed", result.error
    [error] = seen
    assert isinstance(error, FailedNodeError) and not isinstance(error, QuotaExceeded)
    assert (error.type_name, error.message, str(error)) == ("QuotaExceeded", "quota of 10 used", "quota of 10 used")
    assert error.record["node"] == "call_api" and error.record["attempt"] == 1


def test_failing_handler_fails_the_run_with_its_error(tmp_path: Path) -> None:
    def build() -> Any:
        def risky(state: Log) -> dict[str, Any]:
            raise ValueError("first failure")

        def handler(state: Log, error: NodeError) -> dict[str, Any]:
            raise RuntimeError(f"handler broke on {error.error}")

        graph = StateGraph(Log)
        graph.add_node("risky", risky, error_handler=handler)
        graph.add_edge(START, "risky")
        return graph.compile()

    with pytest.raises(RuntimeError, match="^handler broke on first failure"):
        build().invoke({"topic": "t"})
    for outcome in run_everywhere(build, {"topic": "t"}, tmp_path):
        assert outcome["status"] == "failed"
        error = outcome["error"]
        assert (error["type"], error["message"]) == ("RuntimeError", "handler broke on first failure")
        assert error["node"] == "__error_handler__risky"


def test_handler_of_a_node_started_by_send_is_refused_when_it_would_run() -> None:
    class Fan(TypedDict):
        items: list[str]
        log: Annotated[list[str], operator.add]

    def work(item: dict[str, Any]) -> dict[str, Any]:
        raise ValueError(item["item"])

    def handler(state: Any, error: NodeError) -> dict[str, Any]:
        return {"log": ["handled"]}

    graph = StateGraph(Fan)
    graph.add_node("work", work, error_handler=handler)
    graph.add_conditional_edges(START, lambda s: [Send("work", {"item": i}) for i in s["items"]], ["work"])
    result = from_langgraph(graph.compile(), name="g").invoke({"items": ["x"]}, clock=ManualClock())
    assert result.status == "failed" and result.error["code"] == "LANGGRAPH_UNSUPPORTED"
    assert "an error handler for a node started by Send" in result.error["message"]
    assert "node 'work'" in result.error["message"] and "ValueError: x" in result.error["message"]


def test_parallel_sibling_runs_on_while_the_handler_waits_a_superstep() -> None:
    def risky(state: Log) -> dict[str, Any]:
        raise ValueError("boom")

    def handler(state: Log, error: NodeError) -> dict[str, Any]:
        return {"log": ["handled"]}

    graph = StateGraph(Log)
    graph.add_node("risky", risky, error_handler=handler)
    graph.add_node("sibling", lambda s: {"log": ["sibling"]})
    graph.add_edge(START, "risky")
    graph.add_edge(START, "sibling")
    compiled = graph.compile()
    expected = compiled.invoke({"topic": "t"})
    result = from_langgraph(compiled, name="g").invoke({"topic": "t"}, clock=ManualClock())
    assert result.status == "completed", result.error
    # The same writes; the handler's lands after the sibling's (LangGraph: in the same superstep).
    assert sorted(result.state.log) == sorted(expected["log"]) == ["handled", "sibling"]
    assert result.state.log == ["sibling", "handled"]

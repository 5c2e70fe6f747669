"""from_langgraph: each LangGraph construct runs on LangGraph and through the adapter alike."""

from __future__ import annotations

import inspect
import operator
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import pytest

pytest.importorskip("langgraph")

from langchain_core.runnables import RunnableConfig, RunnableLambda  # noqa: E402
from langgraph.graph import END, START, StateGraph  # noqa: E402
from langgraph.types import Command, RetryPolicy, Send, StreamWriter  # noqa: E402
from pydantic import BaseModel  # noqa: E402
from typing_extensions import TypedDict  # noqa: E402

from azure_functions_durable_graph import ManifestBuilder  # noqa: E402
from azure_functions_durable_graph.execution import ManualClock  # noqa: E402
from azure_functions_durable_graph.langgraph import LangGraphUnsupportedError, from_langgraph  # noqa: E402
from langgraph_helpers import on_langgraph, our_groups, plain  # noqa: E402


class Log(TypedDict):
    topic: str
    log: Annotated[list[str], operator.add]
    n: int


def same(graph: Any, value: dict[str, Any], **options: Any) -> Any:
    """Run on LangGraph and through the adapter; final state and node steps must agree."""
    expected, steps = on_langgraph(graph, [value])
    registration = from_langgraph(graph, name="g", **options)
    result = registration.invoke(value, clock=ManualClock())
    assert result.status == "completed", result.error
    assert plain(registration.output(result.state), expected) == plain(expected, expected)
    assert our_groups(result.steps) == steps
    return result


def test_signatures_state_config_writer_runtime_async_and_runnable() -> None:
    written: list[Any] = []

    def first(state: Log) -> dict[str, Any]:
        return {"log": ["first"], "n": 1}

    def with_config(state: Log, config: RunnableConfig) -> dict[str, Any]:
        return {"log": [f"config:{config['metadata']['langgraph_node']}"]}

    def with_writer(state: Log, *, writer: StreamWriter) -> dict[str, Any]:
        writer({"seen": state["n"]})
        written.append(state["n"])
        return {"log": ["writer"]}

    def with_runtime(state: Log, runtime: Any) -> dict[str, Any]:
        return {"log": [f"runtime:{runtime.context is None}"]}

    async def is_async(state: Log) -> dict[str, Any]:
        return {"log": ["async"], "n": state["n"] + 1}

    graph = StateGraph(Log)
    graph.add_node("first", first)
    graph.add_node("with_config", with_config)
    graph.add_node("with_writer", with_writer)
    graph.add_node("with_runtime", with_runtime)
    graph.add_node("is_async", is_async)
    graph.add_node("runnable", RunnableLambda(lambda s: {"log": [f"lambda:{s['n']}"]}))
    graph.add_sequence  # noqa: B018 - (a sequence is edges; spelled out below)
    for a, b in [(START, "first"), ("first", "with_config"), ("with_config", "with_writer"),
                 ("with_writer", "with_runtime"), ("with_runtime", "is_async"), ("is_async", "runnable"),
                 ("runnable", END)]:
        graph.add_edge(a, b)
    result = same(graph.compile(), {"topic": "t"})
    assert result.state.log[-1] == "lambda:2"
    assert written == [1, 1]  # once on LangGraph, once through the adapter


@dataclass
class DataState:
    items: Annotated[list[int], operator.add] = field(default_factory=list)
    label: str = "start"


class PydanticState(BaseModel):
    items: Annotated[list[int], operator.add] = []
    label: str = "start"


@pytest.mark.parametrize("schema", [DataState, PydanticState], ids=["dataclass", "pydantic"])
def test_dataclass_and_pydantic_schemas_reach_nodes_as_instances(schema: Any) -> None:
    def one(state: Any) -> dict[str, Any]:
        assert isinstance(state, schema)
        return {"items": [1], "label": f"{state.label}+one"}

    def two(state: Any) -> dict[str, Any]:
        assert isinstance(state, schema)
        return {"items": [len(state.items) + 1], "label": state.label + "+two"}

    graph = StateGraph(schema)
    graph.add_node("one", one)
    graph.add_node("two", two)
    graph.add_edge(START, "one")
    graph.add_edge("one", "two")
    result = same(graph.compile(), {"label": "go"})
    assert result.state.label == "go+one+two" and result.state.items == [1, 2]


def test_conditional_edges_with_a_path_map_and_a_literal_annotation_and_start_fan_out() -> None:
    def left(state: Log) -> dict[str, Any]:
        return {"log": ["left"], "n": state.get("n", 0) + 1}

    def right(state: Log) -> dict[str, Any]:
        return {"log": ["right"]}

    def again(state: Log) -> Literal["left", "__end__"]:
        return "left" if state["n"] < 3 else END

    graph = StateGraph(Log)
    graph.add_node("left", left)
    graph.add_node("right", right)
    graph.add_node("pick", lambda s: {"log": ["pick"]})
    graph.add_edge(START, "left")
    graph.add_edge(START, "right")
    graph.add_conditional_edges("left", lambda s: "more" if s["n"] < 2 else "done",
                                {"more": "left", "done": "pick"})
    graph.add_conditional_edges("pick", again)
    result = same(graph.compile(), {"topic": "t", "n": 0})
    assert result.state.n == 3


def test_command_goto_and_update_among_declared_destinations() -> None:
    def decide(state: Log) -> Command[Literal["yes", "no"]]:
        return Command(update={"log": ["decide"]}, goto="yes" if state["topic"] == "y" else "no")

    graph = StateGraph(Log)
    graph.add_node("decide", decide)
    graph.add_node("yes", lambda s: {"log": ["yes"]})
    graph.add_node("no", lambda s: {"log": ["no"]})
    graph.add_edge(START, "decide")
    for topic in ("y", "n"):
        result = same(graph.compile(), {"topic": topic})
        assert result.state.log == ["decide", "yes" if topic == "y" else "no"]


class Essays(TypedDict):
    subjects: list[str]
    jokes: Annotated[list[str], operator.add]


class JokeInput(TypedDict):
    subject: str


def test_send_map_reduce_gives_the_node_the_send_argument_as_its_whole_input() -> None:
    def joke(state: JokeInput) -> dict[str, Any]:
        assert set(state) == {"subject"}
        return {"jokes": [f"joke about {state['subject']}"]}

    def fan(state: Essays) -> list[Send]:
        return [Send("joke", {"subject": s}) for s in state["subjects"]]

    graph = StateGraph(Essays)
    graph.add_node("joke", joke)
    graph.add_node("best", lambda s: {"jokes": [f"{len(s['jokes'])} jokes"]})
    graph.add_conditional_edges(START, fan, ["joke"])
    graph.add_edge("joke", "best")
    result = same(graph.compile(), {"subjects": ["cats", "dogs", "owls"]})
    assert result.state.jokes[-1] == "3 jokes"


def test_command_goto_send() -> None:
    def spread(state: Essays) -> Command[Literal["joke"]]:
        return Command(goto=[Send("joke", {"subject": s}) for s in state["subjects"]])

    def joke(state: JokeInput) -> dict[str, Any]:
        return {"jokes": [state["subject"]]}

    graph = StateGraph(Essays)
    graph.add_node("spread", spread)
    graph.add_node("joke", joke)
    graph.add_edge(START, "spread")
    result = same(graph.compile(), {"subjects": ["a", "b"]})
    assert result.state.jokes == ["a", "b"]


def test_defer_runs_the_node_once_when_every_branch_finished() -> None:
    graph = StateGraph(Log)
    graph.add_node("a", lambda s: {"log": ["a"]})
    graph.add_node("b", lambda s: {"log": ["b"]})
    graph.add_node("c", lambda s: {"log": ["c"]})
    graph.add_node("last", lambda s: {"log": [f"last after {len(s['log'])}"]}, defer=True)
    graph.add_edge(START, "a")
    graph.add_edge(START, "c")
    graph.add_edge("a", "b")
    graph.add_edge("b", "last")
    graph.add_edge("c", "last")
    result = same(graph.compile(), {"topic": "t"})
    assert result.state.log[-1] == "last after 3"


def keep_max(current: int, update: int) -> int:
    return max(current, update)


class Totals(TypedDict):
    best: Annotated[int, keep_max]
    words: Annotated[str, operator.add]


def test_other_binary_operators_become_custom_reducers() -> None:
    graph = StateGraph(Totals)
    graph.add_node("a", lambda s: {"best": 3, "words": "a"})
    graph.add_node("b", lambda s: {"best": 7, "words": "b"})
    graph.add_node("c", lambda s: {"best": 5, "words": "c"})
    graph.add_edge(START, "a")
    graph.add_edge(START, "b")
    graph.add_edge("a", "c")
    result = same(graph.compile(), {"best": 1, "words": ""})
    assert result.state.best == 7


def test_retry_policy_retries_what_retry_on_accepts_and_nothing_else() -> None:
    calls: dict[str, int] = {"flaky": 0, "broken": 0}

    def flaky(state: Log) -> dict[str, Any]:
        calls["flaky"] += 1
        if calls["flaky"] % 3:
            raise ConnectionError("try again")
        return {"log": ["flaky"]}

    def broken(state: Log) -> dict[str, Any]:
        calls["broken"] += 1
        raise KeyError("no")

    policy = RetryPolicy(max_attempts=3, initial_interval=0.0, jitter=False, retry_on=ConnectionError)
    graph = StateGraph(Log)
    graph.add_node("flaky", flaky, retry_policy=policy)
    graph.add_edge(START, "flaky")
    same(graph.compile(), {"topic": "t"})
    assert calls["flaky"] == 6

    graph = StateGraph(Log)
    graph.add_node("broken", broken, retry_policy=policy)
    graph.add_edge(START, "broken")
    result = from_langgraph(graph, name="broken").invoke({"topic": "t"}, clock=ManualClock())
    assert result.status == "failed" and calls["broken"] == 1
    assert result.error["type"] == "NodeNotRetriedError" and "KeyError" in result.error["message"]


def test_recursion_limit_is_max_steps() -> None:
    graph = StateGraph(Log)
    graph.add_node("loop", lambda s: {"n": s.get("n", 0) + 1})
    graph.add_edge(START, "loop")
    graph.add_edge("loop", "loop")
    registration = from_langgraph(graph.compile().with_config(recursion_limit=5), name="loop")
    assert registration.manifest.max_steps == 5
    result = registration.invoke({"topic": "t"}, clock=ManualClock())
    assert result.status == "failed" and result.state.n == 5
    assert from_langgraph(graph, name="loop", recursion_limit=9).manifest.max_steps == 9


def test_input_and_output_schemas() -> None:
    class In(TypedDict):
        question: str

    class Out(TypedDict):
        answer: str

    class All(TypedDict):
        question: str
        answer: str
        notes: str

    graph = StateGraph(All, input_schema=In, output_schema=Out)
    graph.add_node("answer", lambda s: {"answer": s["question"].upper(), "notes": "private"})
    graph.add_edge(START, "answer")
    registration = from_langgraph(graph, name="io")
    assert set(registration.input_model.model_fields) == {"question"}
    result = registration.invoke({"question": "why"}, clock=ManualClock())
    assert registration.output(result.state) == graph.compile().invoke({"question": "why"}) == {"answer": "WHY"}
    with pytest.raises(Exception) as refused:
        registration.invoke({"question": "why", "notes": "x"})
    assert getattr(refused.value, "code", None) == "INVALID_INPUT"


def test_refusals_name_the_construct() -> None:
    from langgraph.func import entrypoint

    @entrypoint()
    def workflow(value: int) -> int:
        return value

    def dynamic(state: Log) -> str:
        return "x"

    graph = StateGraph(Log)
    graph.add_node("x", lambda s: {})
    graph.add_edge(START, "x")
    graph.add_conditional_edges("x", dynamic)
    cases = {
        "Functional API": workflow,
        "built per config": lambda config: graph,
        "without a path map": graph,
    }
    for words, value in cases.items():
        with pytest.raises(LangGraphUnsupportedError, match=words) as refused:
            from_langgraph(value, name="r")
        assert refused.value.code == "LANGGRAPH_UNSUPPORTED"

    ok = StateGraph(Log)
    ok.add_node("x", lambda s: {})
    ok.add_edge(START, "x")
    registration = from_langgraph(ok, name="r")
    with pytest.raises(LangGraphUnsupportedError, match="get_state.*events/resume"):
        registration.get_state({})

    def parent(state: Log) -> Command[Literal["x"]]:
        return Command(graph=Command.PARENT, goto="x")

    up = StateGraph(Log)
    up.add_node("up", parent)
    up.add_node("x", lambda s: {})
    up.add_edge(START, "up")
    result = from_langgraph(up, name="up").invoke({"topic": "t"}, clock=ManualClock())
    assert result.status == "failed" and result.error["code"] == "LANGGRAPH_UNSUPPORTED"
    assert "Command.PARENT" in result.error["message"] and "'up'" in result.error["message"]


@pytest.mark.skipif("join_on" not in inspect.signature(ManifestBuilder.add_node).parameters,
                    reason="this tree's ManifestBuilder has no join_on yet")
def test_waiting_edge_runs_the_node_once_both_starts_finished() -> None:
    graph = StateGraph(Log)
    graph.add_node("a", lambda s: {"log": ["a"]})
    graph.add_node("b1", lambda s: {"log": ["b1"]})
    graph.add_node("b2", lambda s: {"log": ["b2"]})
    graph.add_node("c", lambda s: {"log": [f"c after {len(s['log'])}"]})
    graph.add_edge(START, "a")
    graph.add_edge(START, "b1")
    graph.add_edge("b1", "b2")
    graph.add_edge(["a", "b2"], "c")
    result = same(graph.compile(), {"topic": "t"})
    assert result.state.log[-1] == "c after 3"


class Nested(TypedDict):
    flat: list[str]
    rows: list[dict[str, Any]]
    seen: Annotated[list[str], operator.add]


def test_a_node_changing_its_input_in_place_does_not_change_the_run_state() -> None:
    # Flat lists are copied shallowly, nested values deeply: neither reaches the stored state.
    def meddle(state: Nested) -> dict[str, Any]:
        state["flat"].append("meddled")
        state["rows"][0]["n"] = 99
        state["seen"].clear()
        return {"seen": ["meddle"]}

    def look(state: Nested) -> dict[str, Any]:
        return {"seen": [f"flat={len(state['flat'])} n={state['rows'][0]['n']}"]}

    graph = StateGraph(Nested)
    graph.add_node("meddle", meddle)
    graph.add_node("look", look)
    graph.add_edge(START, "meddle")
    graph.add_edge("meddle", "look")
    registration = from_langgraph(graph, name="meddling")
    result = registration.invoke({"flat": ["a"], "rows": [{"n": 1}], "seen": ["start"]}, clock=ManualClock())
    assert result.status == "completed", result.error
    output = registration.output(result.state)
    assert output["flat"] == ["a"] and output["rows"] == [{"n": 1}]
    assert output["seen"] == ["start", "meddle", "flat=1 n=1"]

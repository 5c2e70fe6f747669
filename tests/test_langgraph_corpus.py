"""Tutorial-style LangGraph graphs, each run on LangGraph and through the adapter on every engine.

Every graph runs on LangGraph itself, then through ``from_langgraph`` with ``invoke``, on the
embedded engine (``LocalEngine``, memory store) and as the generated Functions app on the
Durable emulator (over HTTP). The final state (the graph's output keys; messages compared by
type and content, since ``add_messages`` gives new messages random ids) and the nodes run must
be the same everywhere: per superstep against LangGraph, in order among our engines.
"""

from __future__ import annotations

import asyncio
import inspect
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import pytest

pytest.importorskip("langgraph")

from langchain_core.language_models.chat_models import BaseChatModel  # noqa: E402
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage  # noqa: E402
from langchain_core.outputs import ChatGeneration, ChatResult  # noqa: E402
from langchain_core.tools import tool  # noqa: E402
from langgraph.checkpoint.memory import InMemorySaver  # noqa: E402
from langgraph.graph import END, START, MessagesState, StateGraph  # noqa: E402
from langgraph.prebuilt import ToolNode, tools_condition  # noqa: E402
from langgraph.types import Command, RetryPolicy, Send, interrupt  # noqa: E402
from typing_extensions import TypedDict  # noqa: E402

from azure_functions_durable_graph.langgraph import from_langgraph, is_internal_node  # noqa: E402
from azure_functions_durable_graph.local.store.memory import MemoryRunStore  # noqa: E402
from engine_harness import run_on_engine  # noqa: E402
from http_conformance import emulator_engine, run_over_http  # noqa: E402
from langgraph_helpers import interrupted, on_langgraph, our_groups, plain  # noqa: E402
from scenarios import Scenario, event, run_in_memory  # noqa: E402

ERROR_HANDLERS = "error_handler" in inspect.signature(StateGraph.add_node).parameters
try:
    from langgraph.prebuilt import create_react_agent
except ImportError:  # a langgraph-prebuilt without it
    create_react_agent = None


class Log(TypedDict):
    topic: str
    log: Annotated[list[str], operator.add]
    n: int


def chain() -> Any:
    graph = StateGraph(Log)
    graph.add_node("outline", lambda s: {"log": [f"outline {s['topic']}"]})
    graph.add_node("draft", lambda s: {"log": ["draft"], "n": len(s["log"])})
    graph.add_node("polish", lambda s: {"log": [f"polish {s['n']}"]})
    graph.add_edge(START, "outline")
    graph.add_edge("outline", "draft")
    graph.add_edge("draft", "polish")
    graph.add_edge("polish", END)
    return graph.compile()


def routing() -> Any:
    def classify(state: Log) -> dict[str, Any]:
        return {"log": ["classify"], "n": len(state["topic"])}

    def by_length(state: Log) -> Literal["short", "long"]:
        return "short" if state["n"] < 5 else "long"

    graph = StateGraph(Log)
    graph.add_node("classify", classify)
    graph.add_node("short", lambda s: {"log": ["short"]})
    graph.add_node("long", lambda s: {"log": ["long"]})
    graph.add_edge(START, "classify")
    graph.add_conditional_edges("classify", by_length)
    return graph.compile()


class Jokes(TypedDict):
    subjects: list[str]
    jokes: Annotated[list[str], operator.add]
    best: str


class Subject(TypedDict):
    subject: str


def map_reduce() -> Any:
    def plan(state: Jokes) -> dict[str, Any]:
        return {"subjects": ["cats", "owls", "eels"]}

    def fan(state: Jokes) -> list[Send]:
        return [Send("joke", {"subject": s}) for s in state["subjects"]]

    def joke(state: Subject) -> dict[str, Any]:
        return {"jokes": [f"a {state['subject']} walks into a bar"]}

    def pick(state: Jokes) -> dict[str, Any]:
        return {"best": max(state["jokes"], key=len)}

    graph = StateGraph(Jokes)
    graph.add_node("plan", plan)
    graph.add_node("joke", joke)
    graph.add_node("pick", pick)
    graph.add_edge(START, "plan")
    graph.add_conditional_edges("plan", fan, ["joke"])
    graph.add_edge("joke", "pick")
    return graph.compile()


def command() -> Any:
    def triage(state: Log) -> Command[Literal["billing", "support"]]:
        goto = "billing" if "invoice" in state["topic"] else "support"
        return Command(update={"log": [f"triage -> {goto}"]}, goto=goto)

    graph = StateGraph(Log)
    graph.add_node("triage", triage)
    graph.add_node("billing", lambda s: {"log": ["billing"]})
    graph.add_node("support", lambda s: {"log": ["support"]})
    graph.add_edge(START, "triage")
    return graph.compile()


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


def agent() -> Any:
    def model(state: MessagesState) -> dict[str, Any]:
        # A tiny deterministic chat model: asks the tool once, then answers with its result.
        last = state["messages"][-1]
        if last.type == "human":
            call = {"name": "multiply", "args": {"a": 6, "b": 7}, "id": "call-1"}
            return {"messages": [AIMessage("", id="ai-1", tool_calls=[call])]}
        return {"messages": [AIMessage(f"The answer is {last.content}", id="ai-2")]}

    graph = StateGraph(MessagesState)
    graph.add_node("model", model)
    graph.add_node("tools", ToolNode([multiply]))
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", tools_condition)
    graph.add_edge("tools", "model")
    return graph.compile()


def _answer(last: BaseMessage) -> AIMessage:
    """A tiny deterministic chat model's reply: ask the tool once, then answer with its result."""
    if last.type == "human":
        call = {"name": "multiply", "args": {"a": 6, "b": 7}, "id": "call-1"}
        return AIMessage("", id="ai-1", tool_calls=[call])
    return AIMessage(f"The answer is {last.content}", id="ai-2")


class FakeToolModel(BaseChatModel):
    """That model as a LangChain chat model (binding tools changes nothing)."""

    @property
    def _llm_type(self) -> str:
        return "fake-tool-model"

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=_answer(messages[-1]))])


def react_agent() -> Any:
    import warnings

    assert create_react_agent is not None
    with warnings.catch_warnings():  # deprecated since LangGraph 1.0 for langchain.agents
        warnings.simplefilter("ignore")
        # Its state has RemainingSteps, which a node sees computed from the run's step.
        return create_react_agent(FakeToolModel(), [multiply])


class Draft(TypedDict):
    draft: str
    verdict: str


def approval() -> Any:
    def write(state: Draft) -> dict[str, Any]:
        return {"draft": f"post about {state['draft']}"}

    def review(state: Draft) -> dict[str, Any]:
        return {"verdict": interrupt({"approve": state["draft"]})}

    graph = StateGraph(Draft)
    graph.add_node("write", write)
    graph.add_node("review", review)
    graph.add_edge(START, "write")
    graph.add_edge("write", "review")
    return graph.compile(checkpointer=InMemorySaver())


class Parent(TypedDict):
    topic: str
    log: Annotated[list[str], operator.add]
    summary: str


class Child(TypedDict):
    topic: str
    summary: str


def subgraph() -> Any:
    inner = StateGraph(Child)
    inner.add_node("research", lambda s: {"summary": f"notes on {s['topic']}"})
    inner.add_node("condense", lambda s: {"summary": s["summary"].upper()})
    inner.add_edge(START, "research")
    inner.add_edge("research", "condense")
    graph = StateGraph(Parent)
    graph.add_node("start", lambda s: {"log": ["start"]})
    graph.add_node("team", inner.compile())
    graph.add_node("report", lambda s: {"log": [f"report {s['summary']}"]})
    graph.add_edge(START, "start")
    graph.add_edge("start", "team")
    graph.add_edge("team", "report")
    return graph.compile()


def retry() -> Any:
    calls = {"fetch": 0}

    def fetch(state: Log) -> dict[str, Any]:
        calls["fetch"] += 1
        if calls["fetch"] < 3:
            raise ConnectionError("flaky upstream")
        return {"log": [f"fetched after {calls['fetch']}"]}

    graph = StateGraph(Log)
    graph.add_node("fetch", fetch, retry_policy=RetryPolicy(max_attempts=4, initial_interval=1.0, jitter=False))
    graph.add_edge(START, "fetch")
    return graph.compile()


def fallback() -> Any:
    from langgraph.errors import NodeError

    def lookup(state: Log) -> dict[str, Any]:
        raise LookupError(f"no entry for {state['topic']}")

    def recover(state: Log, error: NodeError) -> Command[Literal["default"]]:
        return Command(update={"log": [f"{error.node} failed: {error.error}"]}, goto="default")

    graph = StateGraph(Log)
    graph.add_node("lookup", lookup, error_handler=recover)
    graph.add_node("answer", lambda s: {"log": ["answer"]})  # lookup's edge: not taken after its failure
    graph.add_node("default", lambda s: {"log": ["default answer"]})
    graph.add_edge(START, "lookup")
    graph.add_edge("lookup", "answer")
    graph.add_edge("default", END)
    return graph.compile()


@dataclass(frozen=True)
class Case:
    build: Callable[[], Any]
    input: dict[str, Any]
    resumes: tuple[Any, ...] = ()  # answers to interrupt(), in order
    failing: tuple[str, ...] = ()  # nodes whose failed run LangGraph lists in its superstep


HUMAN = {"type": "human", "content": "What is 6 times 7?", "id": "h-1"}
CASES = {
    "chain": Case(chain, {"topic": "durable graphs"}),
    "routing": Case(routing, {"topic": "ai"}),
    "map_reduce": Case(map_reduce, {"subjects": []}),
    "command": Case(command, {"topic": "invoice overdue"}),
    "agent": Case(agent, {"messages": [HUMAN]}),
    "approval": Case(approval, {"draft": "otters"}, ("approved",)),
    "subgraph": Case(subgraph, {"topic": "otters"}),
    "retry": Case(retry, {"topic": "t"}),
    "fallback": Case(fallback, {"topic": "otters"}, failing=("lookup",)),
    "react_agent": Case(react_agent, {"messages": [HUMAN]}),
}
NEEDS_ERROR_HANDLERS = {"fallback"}


def _langgraph_input(case: Case) -> dict[str, Any]:
    if "messages" in case.input:
        return {"messages": [HumanMessage(m["content"], id=m["id"]) for m in case.input["messages"]]}
    return case.input


def _scenario(name: str, case: Case) -> Scenario:
    return Scenario(name=f"lg-{name}", build=lambda: from_langgraph(case.build(), name=f"lg_{name}"),
                    input=case.input, actions=tuple(event("resume", {"resume": r}) for r in case.resumes))


def _ours(nodes: list[str]) -> list[str]:
    return [n for n in nodes if not is_internal_node(n)]


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=[pytest.mark.skipif(n in NEEDS_ERROR_HANDLERS and not ERROR_HANDLERS,
                                              reason="this LangGraph has no node error handlers"),
                           pytest.mark.skipif(n == "react_agent" and create_react_agent is None,
                                              reason="this langgraph-prebuilt has no create_react_agent")])
    for n in CASES])
def test_corpus_graph_runs_alike_on_langgraph_and_every_engine(name: str) -> None:
    from langgraph.types import Command as LGCommand

    case = CASES[name]
    config = {"configurable": {"thread_id": name}} if case.resumes else None
    inputs = [_langgraph_input(case), *(LGCommand(resume=r) for r in case.resumes)]
    expected, groups = on_langgraph(case.build(), inputs, config)
    # A failed run is not a completed step here; its handler runs in the next superstep.
    groups = [kept for group in groups if (kept := tuple(n for n in group if n not in case.failing))]
    keys = list(expected)
    scenario = _scenario(name, case)

    result = run_in_memory(scenario)
    assert result.status == "completed", result.error
    assert plain(result.registration.output(result.state), keys) == plain(expected, keys)
    assert our_groups(result.steps) == groups
    sequence = [s.node for s in result.steps if s.error is None and not is_internal_node(s.node)
                and not interrupted(s.update)]
    ran = _ours(result.node_sequence)

    local = asyncio.run(asyncio.wait_for(run_on_engine(scenario, MemoryRunStore()), 60))
    assert local["status"] == "completed", local["error"]
    assert plain(local["state"], keys) == plain(expected, keys)
    assert _ours(local["nodes"]) == ran

    with emulator_engine(scenario.build()) as engine:
        remote = run_over_http(scenario, engine)
    assert remote["status"] == "completed", remote["error"]
    assert plain(remote["state"], keys) == plain(expected, keys)
    assert _ours(remote["nodes"]) == ran
    assert sequence  # the comparison above covered real nodes

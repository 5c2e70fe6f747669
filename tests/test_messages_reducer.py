"""The ``messages`` reducer: LangGraph's ``add_messages`` on JSON message dicts.

The interpreter only appends, replaces and removes; ids of messages that have none are given by
the executor (user-code side) and recorded in the task result, so a replay or a resumed run
applies the same ones.
"""

from __future__ import annotations

import asyncio
import importlib.util
import re
import subprocess
import sys
from typing import Annotated, Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from azure_functions_durable_graph import (
    InvalidUpdateError,
    ManifestBuilder,
    RouteDecision,
    reducers,
)
from azure_functions_durable_graph.execution.executor import execute_task, normalize_update
from azure_functions_durable_graph.graph.messages import coerce_messages
from azure_functions_durable_graph.graph.reducers import (
    REMOVE_ALL_MESSAGES,
    apply_builtin,
    reducer_fits,
)
from http_conformance import ENGINES, run_over_http
from scenarios import Scenario, event

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def h(content: str, id: str | None = None) -> dict[str, Any]:
    return {"type": "human", "content": content, **({"id": id} if id else {})}


def ai(content: str, id: str | None = None) -> dict[str, Any]:
    return {"type": "ai", "content": content, **({"id": id} if id else {})}


def remove(id: str) -> dict[str, Any]:
    return {"type": "remove", "id": id}


CASES: list[tuple[str, Any, Any, list[Any]]] = [
    ("append one to nothing", None, h("hi", "1"), [h("hi", "1")]),
    ("append a list", [h("hi", "1")], [ai("a", "2"), ai("b", "3")], [h("hi", "1"), ai("a", "2"), ai("b", "3")]),
    ("single vs list", [h("hi", "1")], [ai("a", "2")], [h("hi", "1"), ai("a", "2")]),
    ("replace by id in place", [h("hi", "1"), ai("a", "2"), h("x", "3")], ai("A", "2"),
     [h("hi", "1"), ai("A", "2"), h("x", "3")]),
    ("remove", [h("hi", "1"), ai("a", "2")], remove("1"), [ai("a", "2")]),
    ("remove one added by the same update", [h("hi", "1")], [ai("a", "2"), remove("2")], [h("hi", "1")]),
    ("remove then put back", [h("hi", "1"), ai("a", "2")], [remove("1"), h("again", "1")],
     [h("again", "1"), ai("a", "2")]),
    ("remove all", [h("hi", "1"), ai("a", "2")], [ai("lost", "9"), remove(REMOVE_ALL_MESSAGES), ai("new", "3")],
     [ai("new", "3")]),
    ("remove all alone", [h("hi", "1")], remove(REMOVE_ALL_MESSAGES), []),
    ("bare string is a human message", [h("hi", "1")], "hello", [h("hi", "1"), {"type": "human", "content": "hello"}]),
    ("duplicate ids in one update: the later replaces", [], [ai("a", "2"), ai("b", "2")], [ai("b", "2")]),
    ("no id: appended, never matched", [ai("a")], ai("a"), [ai("a"), ai("a")]),
    ("empty list changes nothing", [h("hi", "1")], [], [h("hi", "1")]),
]


@pytest.mark.parametrize(("current", "update", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_add_messages_table(current: Any, update: Any, expected: list[Any]) -> None:
    before = None if current is None else [dict(m) for m in current]
    assert apply_builtin("messages", "messages", current, update) == expected
    assert current == before  # the current value is never modified


@pytest.mark.parametrize(
    ("update", "fragment"),
    [
        (remove("ghost"), "cannot remove message id 'ghost', no message has it"),
        ({"content": "no type"}, "needs message objects with a 'type'"),
        (42, "needs message objects"),
        ({"type": "remove"}, "a remove message needs a string 'id'"),
    ],
)
def test_bad_updates_name_the_field(update: Any, fragment: str) -> None:
    with pytest.raises(InvalidUpdateError) as caught:
        apply_builtin("messages", "history", [h("hi", "1")], update)
    assert "field 'history'" in caught.value.message and fragment in caught.value.message
    assert caught.value.code == "INVALID_UPDATE"


def test_the_reducer_fits_lists_only() -> None:
    assert reducer_fits("messages", list[dict[str, Any]]) and reducer_fits("messages", list)
    assert not reducer_fits("messages", str) and not reducer_fits("messages", dict[str, Any])


class Chat(BaseModel):
    messages: Annotated[list[dict[str, Any]], reducers.messages] = []
    first_id: str = ""


def _chat_graph() -> Any:
    b = ManifestBuilder("chat", Chat)
    b.set_entrypoint("greet")
    b.add_node("greet", lambda s: {"messages": ["hello", ("assistant", "hi there")]}, next_node="ask")
    b.add_node("ask", lambda s: None, route=lambda s: RouteDecision.wait_for_event("reply", "answer"),
               route_targets=[RouteDecision.wait_for_event("reply", "answer")])
    b.add_event_handler("reply")
    # Runs after the wait, in a later orchestrator episode on Azure: it sees the ids of step 1.
    b.add_node("answer", lambda s: {"first_id": s.messages[0]["id"],
                                    "messages": {"role": "assistant", "content": "thanks"}}, terminal=True)
    return b.build()


def test_executor_assigns_ids_once_and_records_them() -> None:
    registration = _chat_graph()
    update = normalize_update(registration, "greet", {"messages": ["hello", {"role": "user", "content": "x", "id": "u"}]})
    first, second = update["messages"]
    assert first["type"] == "human" and first["content"] == "hello" and UUID.match(first["id"])
    assert second == {"type": "human", "content": "x", "id": "u"}  # a given id is kept
    command = {"run_id": "r", "graph": "chat", "task_id": "1:0:greet", "node": "greet", "kind": "node",
               "step": 1, "attempt": 1, "state": {"messages": [], "first_id": ""}, "metadata": {}}
    result = asyncio.run(execute_task(registration, command))
    ids = [m["id"] for m in result["update"]["messages"]]
    assert len(set(ids)) == 2 and all(UUID.match(i) for i in ids)
    assert [m["type"] for m in result["update"]["messages"]] == ["human", "ai"]


def test_coerce_rejects_what_is_not_a_message() -> None:
    with pytest.raises(InvalidUpdateError, match="field 'messages': message role 'robot'"):
        coerce_messages("messages", {"role": "robot", "content": "x"})
    with pytest.raises(InvalidUpdateError, match="holds messages"):
        coerce_messages("messages", 3.5)


def _check_ids_kept(state: dict[str, Any]) -> None:
    messages = state["messages"]
    assert [(m["type"], m["content"]) for m in messages] == [("human", "hello"), ("ai", "hi there"), ("ai", "thanks")]
    assert all(UUID.match(m["id"]) for m in messages) and len({m["id"] for m in messages}) == 3
    assert state["first_id"] == messages[0]["id"]  # the id given in step 1 survived the wait


def test_ids_kept_across_resume_in_process() -> None:
    registration = _chat_graph()
    parked = registration.invoke({})
    assert parked.status == "waiting"
    ids = [m["id"] for m in parked.output["state"]["messages"]] if parked.output else [
        m["id"] for m in parked.state.messages]
    done = parked.resume(events=[("reply", {})])
    assert done.status == "completed"
    final = done.state.model_dump(mode="json")
    _check_ids_kept(final)
    assert [m["id"] for m in final["messages"][:2]] == ids


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_ids_kept_across_replay_and_resume_on_engines(engine: str) -> None:
    scenario = Scenario(name="chat_ids", build=_chat_graph, input={}, actions=(event("reply", {}),))
    with ENGINES[engine](scenario.build()) as running:
        outcome = run_over_http(scenario, running)
    assert outcome["status"] == "completed", outcome
    _check_ids_kept(outcome["state"])


def test_importing_the_package_does_not_import_langchain() -> None:
    code = ("import sys, azure_functions_durable_graph, azure_functions_durable_graph.graph.messages, "
            "azure_functions_durable_graph.execution.executor; print('langchain_core' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- LangChain objects and LangGraph's own add_messages (dev venv: installed by the bench extra) --

needs_langchain = pytest.mark.skipif(
    importlib.util.find_spec("langchain_core") is None, reason="langchain-core is not installed (bench extra)"
)
needs_langgraph = pytest.mark.skipif(
    importlib.util.find_spec("langgraph") is None, reason="langgraph is not installed (bench extra)"
)


@needs_langchain
def test_a_node_may_return_langchain_messages() -> None:
    import langchain_core.messages as lc_messages

    from azure_functions_durable_graph.graph.messages import from_message_dicts, to_message_dicts

    registration = _chat_graph()
    tool_call = {"name": "lookup", "args": {"q": "x"}, "id": "t1"}
    update = normalize_update(registration, "greet", {"messages": [
        lc_messages.AIMessage(content="calling", tool_calls=[tool_call]),
        lc_messages.ToolMessage(content="42", tool_call_id="t1", id="tm"),
        lc_messages.AIMessageChunk(content="chunk", id="c1"),
    ]})
    call, tool, chunk = update["messages"]
    assert call["type"] == "ai" and UUID.match(call["id"]) and call["tool_calls"][0]["name"] == "lookup"
    assert tool == {"type": "tool", "content": "42", "tool_call_id": "t1", "id": "tm"}
    assert chunk == {"type": "ai", "content": "chunk", "id": "c1"}
    back = from_message_dicts(update["messages"])
    assert [type(m).__name__ for m in back] == ["AIMessage", "ToolMessage", "AIMessage"]
    assert back[0].tool_calls[0]["args"] == {"q": "x"} and back[0].id == call["id"]
    assert to_message_dicts(back) == update["messages"]
    assert from_message_dicts(remove("x"))[0].type == "remove"


_IDS = st.sampled_from(["1", "2", "3", "4", "5"])
_MESSAGE = st.builds(lambda kind, content, id: {"type": kind, "content": content, "id": id},
                     st.sampled_from(["human", "ai", "system"]), st.text(max_size=3), _IDS)
_ITEM = st.one_of(_MESSAGE, _MESSAGE, st.builds(remove, _IDS), st.just(remove(REMOVE_ALL_MESSAGES)))


def _projection(messages: list[Any]) -> list[tuple[str, Any, Any]]:
    return [(m.type, m.content, m.id) for m in messages]


@needs_langgraph
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(current=st.lists(_MESSAGE, max_size=5, unique_by=lambda m: m["id"]),
       update=st.one_of(_ITEM, st.lists(_ITEM, max_size=6)))
def test_same_result_as_langgraph_add_messages(current: list[dict[str, Any]], update: Any) -> None:
    from langgraph.graph.message import add_messages

    from azure_functions_durable_graph.graph.messages import from_message_dicts

    items = update if isinstance(update, list) else [update]
    cuts = [i for i, m in enumerate(items) if m["id"] == REMOVE_ALL_MESSAGES]
    if cuts:  # LangGraph returns what follows a remove-all as given: keep it to plain new messages
        tail = items[cuts[-1] + 1:]
        assume(all(m["type"] != "remove" for m in tail) and len({m["id"] for m in tail}) == len(tail))
    try:
        expected = _projection(add_messages(from_message_dicts(current), from_message_dicts(items)))
    except ValueError:
        with pytest.raises(InvalidUpdateError, match="cannot remove message id"):
            apply_builtin("messages", "messages", current, update)
        return
    ours = apply_builtin("messages", "messages", current, update)
    assert _projection(from_message_dicts(ours)) == expected

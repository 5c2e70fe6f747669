"""``ManifestBuilder(output_fields=[...])``: a completed run's output shows only those fields,
on every engine (the interpreter builds the output); graphs without it keep their hash."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel

from azure_functions_durable_graph import GraphValidationError, ManifestBuilder
from azure_functions_durable_graph.local.engine import LocalEngine
from azure_functions_durable_graph.local.store import MemoryRunStore


class Work(BaseModel):
    question: str = ""
    scratch: list[str] = []
    answer: str = ""


def build(output_fields: list[str] | None) -> ManifestBuilder:
    b = ManifestBuilder(graph_name="work", state_model=Work, output_fields=output_fields)
    b.set_entrypoint("think")
    b.add_node("think", lambda s: {"scratch": ["draft"], "answer": s.question.upper()}, terminal=True)
    return b


def test_the_output_shows_only_the_output_fields_in_process_and_on_the_engine() -> None:
    registration = build(["answer"]).build()
    result = registration.invoke({"question": "why"})
    assert result.output is not None and result.output["state"] == {"answer": "WHY"}
    assert result.state is not None and result.state.scratch == ["draft"]  # the state keeps all

    async def main() -> dict[str, object]:
        async with LocalEngine(MemoryRunStore()) as engine:
            engine.register(registration)
            started = await engine.start("work", {"question": "why"})
            return (await engine.wait(started.instance_id)).to_dict()

    assert asyncio.run(main())["output"]["state"] == {"answer": "WHY"}


def test_output_fields_are_in_the_hash_only_when_given() -> None:
    plain, explicit = build(None).build(), build(["answer"]).build()
    assert "output_fields" not in plain.manifest.model_dump(mode="json")
    assert plain.manifest.graph_hash != explicit.manifest.graph_hash


def test_an_unknown_output_field_is_refused_at_build_naming_it() -> None:
    with pytest.raises(GraphValidationError, match=r"output_fields names unknown state field\(s\) \['nope'\]"):
        build(["answer", "nope"]).build()


def test_an_adapted_langgraph_graphs_output_has_no_hidden_fields_on_the_engine() -> None:
    pytest.importorskip("langgraph")
    from typing import TypedDict

    from langgraph.graph import END, START, StateGraph

    from azure_functions_durable_graph.langgraph import from_langgraph

    class Chat(TypedDict):
        text: str

    graph = StateGraph(Chat)
    graph.add_node("shout", lambda s: {"text": s["text"].upper()})
    graph.add_edge(START, "shout")
    graph.add_edge("shout", END)
    registration = from_langgraph(graph, name="shouting")

    async def main() -> dict[str, object]:
        async with LocalEngine(MemoryRunStore()) as engine:
            engine.register(registration)
            started = await engine.start("shouting", {"text": "hi"})
            return (await engine.wait(started.instance_id)).to_dict()

    assert asyncio.run(main())["output"]["state"] == {"text": "HI"}

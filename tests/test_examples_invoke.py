"""The shipped examples, run end to end with ``invoke``: the results their docstrings document."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from azure_functions_durable_graph import GraphRegistration
from azure_functions_durable_graph.execution import ManualClock, RunResult
from azure_functions_durable_graph.local.engine import LocalEngine
from graph_helpers import load_example

TICKET = {"ticket": "My order has not arrived"}
APPROVE = {"approved": True, "reviewer": "ana"}
REJECT = {"approved": False, "reviewer": "ana", "comment": "mention the refund"}


def _registration(module: ModuleType) -> GraphRegistration:
    (registration,) = module.runtime.registrations()
    return registration


@pytest.fixture(scope="module")
def quick() -> GraphRegistration:
    return _registration(load_example("quick_example"))


@pytest.fixture(scope="module")
def classifier() -> GraphRegistration:
    return _registration(load_example("content_classifier"))


@pytest.fixture(scope="module")
def support() -> GraphRegistration:
    return _registration(load_example("support_agent"))


# --- quick example -------------------------------------------------------------------------------


def test_quick_example(quick: GraphRegistration) -> None:
    result = quick.invoke({"message": "hello"}, clock=ManualClock())
    assert result.status == "completed"
    assert result.state is not None
    assert result.state.model_dump() == {"message": "Done: hello", "processed": True}
    assert result.node_sequence == ["process", "finalize"]
    assert result.output is not None and result.output["final_nodes"] == ["finalize"]
    assert result.output["graph_name"] == "my_graph" and result.output["steps"] == 2


# --- content classifier --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "category", "confidence", "final", "outcome"),
    [
        ("Buy cheap pills now", "spam", 0.95, "handle_spam", "quarantined"),
        ("How do I reset my password?", "question", 0.8, "handle_question", "routed to the help desk"),
        ("The meeting moved to Tuesday.", "other", 0.5, "handle_other", "archived"),
    ],
)
def test_content_classifier_documented_results(
    classifier: GraphRegistration,
    text: str,
    category: str,
    confidence: float,
    final: str,
    outcome: str,
) -> None:
    result = classifier.invoke({"text": text}, clock=ManualClock())
    assert result.status == "completed", result.error
    assert result.state is not None
    assert (result.state.category, result.state.confidence, result.state.result) == (
        category,
        confidence,
        outcome,
    )
    assert result.node_sequence == ["classify", final]
    assert result.output is not None and result.output["final_nodes"] == [final]
    assert result.state.log == [f"classified as {category}", f"handled {category}"]


# --- support agent -------------------------------------------------------------------------------


def _start(support: GraphRegistration, clock: ManualClock | None = None) -> RunResult:
    result = support.invoke(TICKET, clock=clock or ManualClock())
    assert result.status == "waiting"
    (wait,) = result.waiting_for
    assert (wait["event"], wait["node"], wait["resume_node"], wait["on_timeout"]) == (
        "approval",
        "draft_reply",
        "apply_decision",
        "escalate",
    )
    assert result.node_sequence == ["draft_reply"]
    return result


def test_support_agent_waits_for_approval_after_drafting(support: GraphRegistration) -> None:
    result = _start(support)
    assert result.state is not None
    assert result.state.status == "awaiting_approval"
    assert result.state.draft.startswith("Hello, thank you for writing about: My order")
    assert result.waiting_for[0]["deadline"] == pytest.approx(result.clock.now() + 86400)


def test_support_agent_approval_path(support: GraphRegistration) -> None:
    result = _start(support).resume([("approval", APPROVE)])
    assert result.status == "completed", result.error
    assert result.state is not None
    assert result.state.status == "sent"
    assert (result.state.approved, result.state.reviewer) == (True, "ana")
    assert result.node_sequence == ["draft_reply", "event:approval", "apply_decision", "send_reply"]
    assert result.output is not None and result.output["final_nodes"] == ["send_reply"]
    assert result.state.log == ["drafted", "approved by ana", "decision applied", "sent"]


def test_support_agent_rejection_then_approval(support: GraphRegistration) -> None:
    revised = _start(support).resume([("approval", REJECT)])
    assert revised.status == "waiting"
    assert revised.state is not None
    assert revised.state.revisions == 1
    assert revised.state.draft.endswith(" Note: mention the refund.")
    assert revised.node_sequence[-1] == "revise"
    assert revised.waiting_for[0]["node"] == "revise"
    done = revised.resume([("approval", APPROVE)])
    assert done.status == "completed"
    assert done.state is not None and done.state.status == "sent"
    assert done.output is not None and done.output["final_nodes"] == ["send_reply"]


def test_support_agent_two_rejections_close_the_ticket(support: GraphRegistration) -> None:
    result = _start(support).resume([("approval", REJECT)]).resume([("approval", REJECT)])
    assert result.status == "completed"
    assert result.state is not None
    assert result.state.status == "closed_unapproved"
    assert result.state.revisions == 2
    assert result.output is not None and result.output["final_nodes"] == ["close_unapproved"]
    assert result.node_sequence[-2:] == ["revise", "close_unapproved"]


def test_support_agent_timeout_escalates(support: GraphRegistration) -> None:
    clock = ManualClock()
    waiting = _start(support, clock)
    clock.advance(86399)
    still = waiting.resume()
    assert still.status == "waiting"
    clock.advance(2)
    result = still.resume()
    assert result.status == "completed"
    assert result.state is not None and result.state.status == "escalated"
    assert result.node_sequence == ["draft_reply", "escalate"]
    assert result.output is not None and result.output["final_nodes"] == ["escalate"]


def test_support_agent_approval_given_at_start(support: GraphRegistration) -> None:
    result = support.invoke(TICKET, events=[("approval", APPROVE)], clock=ManualClock())
    assert result.status == "completed"
    assert result.state is not None and result.state.status == "sent"


def test_support_agent_streams_its_draft_token_by_token(support: GraphRegistration, tmp_path: Path) -> None:
    """The draft node's tokens reach readers in order, and join to the draft the state keeps."""
    draft = "Hello, thank you for writing about: My order has not arrived. We are on it."

    async def in_process() -> list[dict[str, Any]]:
        return [e async for e in support.stream(TICKET)]

    async def on_the_engine() -> list[dict[str, Any]]:
        async with LocalEngine(tmp_path / "runs.db") as engine:
            engine.register(support)
            started = await engine.start(support.graph_name, TICKET)
            events = []
            async for event in engine.stream(started.instance_id):
                events.append(event)
                if event["type"] == "waiting":  # a waiting run's stream stays open: end the run
                    await engine.cancel(started.instance_id)
            return events

    for events in (asyncio.run(in_process()), asyncio.run(on_the_engine())):
        tokens = [e for e in events if e["type"] == "emit"]
        assert {(e["node"], e["kind"], e["step"], e["attempt"]) for e in tokens} == {("draft_reply", "token", 1, 1)}
        assert "".join(e["data"] for e in tokens) == draft
        assert len(tokens) == len(draft.split())
        done = next(i for i, e in enumerate(events) if e["type"] == "task_completed")
        assert events.index(tokens[-1]) < done  # every token before the step that keeps the draft
        assert events[done]["update"]["draft"] == draft

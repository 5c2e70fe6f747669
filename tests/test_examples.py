"""The shipped examples import, build, register, and their node functions behave as documented."""

from __future__ import annotations

import asyncio
import inspect
from types import ModuleType

import pytest

from azure_functions_durable_graph import (
    DurableGraphApp,
    GraphRegistration,
    RouteAction,
    RouteDecision,
)
from azure_functions_durable_graph.azure.app import LazyFunctionApp
from azure_functions_durable_graph.execution import NodeContext
from graph_helpers import EXAMPLE_NAMES, EXAMPLES_DIR, load_example

GRAPH_NAMES = {
    "quick_example": "my_graph",
    "content_classifier": "content_classifier",
    "support_agent": "support_agent",
}


def test_every_example_file_is_covered() -> None:
    files = sorted(p.stem for p in EXAMPLES_DIR.glob("*.py"))
    assert files == sorted([*EXAMPLE_NAMES, "function_app"])


def test_the_combined_app_registers_every_example_graph(monkeypatch: pytest.MonkeyPatch) -> None:
    # As the CLI loads a file target: its folder first on sys.path, so sibling imports work.
    monkeypatch.syspath_prepend(str(EXAMPLES_DIR))
    module = load_example("function_app")
    assert sorted(module.runtime.graph_names) == sorted(GRAPH_NAMES.values())
    assert isinstance(module.app, LazyFunctionApp) and module.app.owner is module.runtime


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_example_imports_builds_and_registers(name: str) -> None:
    module = load_example(name)
    runtime = module.runtime
    assert isinstance(runtime, DurableGraphApp)
    assert runtime.graph_names == [GRAPH_NAMES[name]]
    (registration,) = runtime.registrations()
    assert isinstance(registration, GraphRegistration)
    assert registration.graph_name == GRAPH_NAMES[name]
    assert runtime.get(GRAPH_NAMES[name]) is registration
    assert runtime.versions(GRAPH_NAMES[name]) == ["0.1.0"]
    rebuilt = module.builder.build()
    assert rebuilt.graph_hash == registration.graph_hash
    assert set(registration.handlers) == set(registration.manifest.node_names)
    assert isinstance(module.app, LazyFunctionApp)
    assert module.app.owner is runtime


@pytest.mark.parametrize("name", ["content_classifier", "support_agent"])
def test_example_functions_have_docstrings(name: str) -> None:
    module = load_example(name)
    assert module.__doc__ and "Documented results" in module.__doc__
    functions = [
        f
        for f in vars(module).values()
        if inspect.isfunction(f) and f.__module__ == module.__name__
    ]
    assert len(functions) >= 5
    assert [f.__name__ for f in functions if not (f.__doc__ or "").strip()] == []


def _quick() -> ModuleType:
    return load_example("quick_example")


def test_quick_example_nodes() -> None:
    module = _quick()
    state = module.MyState(message="hi")
    assert module.process(state) == {"processed": True}
    assert module.finalize(state) == {"message": "Done: hi"}


# --- content classifier -------------------------------------------------------------------------

CLASSIFIED = [
    ("Buy cheap pills now", "spam", 0.95, "handle_spam", "quarantined"),
    ("Free offer", "spam", 0.75, "handle_spam", "quarantined"),
    ("How do I reset my password?", "question", 0.8, "handle_question", "routed to the help desk"),
    ("is this free?", "question", 0.8, "handle_question", "routed to the help desk"),
    ("The meeting moved to Tuesday.", "other", 0.5, "handle_other", "archived"),
    ("", "other", 0.5, "handle_other", "archived"),
]


@pytest.mark.parametrize(("text", "category", "confidence", "handler", "result"), CLASSIFIED)
def test_content_classifier_documented_results(
    text: str, category: str, confidence: float, handler: str, result: str
) -> None:
    module = load_example("content_classifier")
    state = module.ContentState(text=text)
    update = module.classify(state)
    assert update == {
        "category": category,
        "confidence": confidence,
        "log": f"classified as {category}",
    }
    classified = state.model_copy(update={"category": category, "confidence": confidence})
    decision = module.route_by_category(classified)
    assert decision == RouteDecision.next(handler)
    handled = getattr(module, handler)(classified)
    assert handled["result"] == result
    registration = module.runtime.get("content_classifier")
    assert registration.handlers[handler] is getattr(module, handler)
    assert registration.manifest.node(handler).terminal is True


def test_content_classifier_graph_shape() -> None:
    module = load_example("content_classifier")
    manifest = module.runtime.get("content_classifier").manifest
    assert manifest.entrypoint == "classify"
    assert manifest.node("classify").route_targets == [
        "handle_spam",
        "handle_question",
        "handle_other",
    ]
    assert manifest.reducers == {
        "text": "replace",
        "category": "replace",
        "confidence": "replace",
        "result": "replace",
        "log": "append",
    }
    assert set(manifest.state_schema["properties"]) >= {"text", "category", "confidence", "log"}


# --- support agent ------------------------------------------------------------------------------


def test_support_agent_graph_shape() -> None:
    module = load_example("support_agent")
    registration = module.runtime.get("support_agent")
    manifest = registration.manifest
    assert manifest.entrypoint == "draft_reply"
    terminals = {n.name for n in manifest.nodes if n.terminal}
    assert terminals == {"send_reply", "close_unapproved", "escalate"}
    event = manifest.event("approval")
    assert event is not None and event.has_handler
    assert event.payload_schema == module.Approval.model_json_schema()
    assert registration.event_models == {"approval": module.Approval}
    assert registration.event_handlers == {"approval": module.record_approval}
    assert manifest.reducers["log"] == "append"


def test_support_agent_waits_for_approval_with_timeout() -> None:
    module = load_example("support_agent")
    state = module.SupportState(ticket="My order has not arrived")
    decision = module.ask_for_approval(state)
    assert decision.action is RouteAction.WAIT_FOR_EVENT
    assert (decision.event_name, decision.resume_node, decision.timeout, decision.on_timeout) == (
        "approval",
        "apply_decision",
        86400,
        "escalate",
    )
    ctx = NodeContext("r", "support_agent", "draft_reply", 1, 1, "t", "k")
    drafted = asyncio.run(module.draft_reply(state, ctx))
    assert drafted["draft"] == (
        "Hello, thank you for writing about: My order has not arrived. We are on it."
    )


def test_support_agent_approval_path() -> None:
    module = load_example("support_agent")
    state = module.SupportState(ticket="t", draft="d")
    approval = module.Approval(approved=True, reviewer="ana")
    update = module.record_approval(state, approval)
    assert update == {
        "approved": True,
        "reviewer": "ana",
        "review_comment": "",
        "log": "approved by ana",
    }
    assert module.record_approval(state, {"approved": True, "reviewer": "ana"}) == update
    approved = state.model_copy(update={"approved": True})
    assert module.route_decision(approved) == RouteDecision.next("send_reply")
    assert module.send_reply(approved)["status"] == "sent"


def test_support_agent_rejection_paths() -> None:
    module = load_example("support_agent")
    state = module.SupportState(ticket="t", draft="Hello.")
    rejection = module.Approval(approved=False, reviewer="ana", comment="mention the refund")
    update = module.record_approval(state, rejection)
    assert update["approved"] is False and update["log"] == "rejected by ana"
    rejected = state.model_copy(update={"approved": False, "review_comment": "mention the refund"})
    assert module.route_decision(rejected) == RouteDecision.next("revise")

    revised = module.revise(rejected)
    assert revised["draft"] == "Hello. Note: mention the refund."
    assert revised["revisions"] == 1
    once = rejected.model_copy(update={"draft": revised["draft"], "revisions": 1})
    assert module.ask_for_approval(once).action is RouteAction.WAIT_FOR_EVENT

    twice = once.model_copy(update={"revisions": module.revise(once)["revisions"]})
    assert twice.revisions == 2
    assert module.ask_for_approval(twice) == RouteDecision.next("close_unapproved")
    assert module.close_unapproved(twice)["status"] == "closed_unapproved"
    assert module.escalate(state)["status"] == "escalated"

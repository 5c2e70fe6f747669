"""Content classifier: keyword rules pick a category, a router sends the text to its handler.

Graph ``content_classifier``: ``classify`` -> router -> one of ``handle_spam``,
``handle_question`` or ``handle_other`` (each terminal). Everything is deterministic: plain
keyword rules, no network, no randomness.

Documented results:

- ``{"text": "Buy cheap pills now"}`` ends in ``handle_spam`` with category ``"spam"``,
  confidence ``0.95`` and result ``"quarantined"``;
- ``{"text": "How do I reset my password?"}`` ends in ``handle_question`` with category
  ``"question"``, confidence ``0.8`` and result ``"routed to the help desk"``;
- ``{"text": "The meeting moved to Tuesday."}`` ends in ``handle_other`` with category
  ``"other"``, confidence ``0.5`` and result ``"archived"``.

``log`` gathers one line per node (append reducer): e.g. ``["classified as spam", "handled spam"]``.

A run is started with ``text`` only (the input model ``ContentInput``): the verdict fields are
the graph's own, so the start operation, its OpenAPI schema and the inspector's form ask for
nothing else, and an input such as ``{"text": "hi", "category": "spam"}`` is refused (400).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel

from azure_functions_durable_graph import DurableGraphApp, ManifestBuilder, RouteDecision, reducers

SPAM_WORDS = ("buy", "cheap", "free", "pills", "winner", "click", "offer")
QUESTION_WORDS = ("how", "what", "why", "when", "where", "who", "which", "can", "does", "is")


class ContentState(BaseModel):
    """The text to classify, the verdict, and what was done with it."""

    text: str
    category: str | None = None
    confidence: float = 0.0
    result: str | None = None
    log: Annotated[list[str], reducers.append] = []


class ContentInput(BaseModel):
    """What a caller gives to start a run: the text; the rest of the state is the graph's."""

    text: str


def _words(text: str) -> list[str]:
    """Lower-case words of ``text`` with surrounding punctuation removed."""
    return [w.strip(".,!?;:'\"()") for w in text.lower().split()]


def classify(state: ContentState) -> dict:
    """Two spam words make spam (three or more: surer); a '?' or question word, a question."""
    words = _words(state.text)
    spam_hits = sum(1 for w in words if w in SPAM_WORDS)
    if spam_hits >= 2:
        category, confidence = "spam", 0.95 if spam_hits >= 3 else 0.75
    elif state.text.rstrip().endswith("?") or (words and words[0] in QUESTION_WORDS):
        category, confidence = "question", 0.8
    else:
        category, confidence = "other", 0.5
    return {"category": category, "confidence": confidence, "log": f"classified as {category}"}


def route_by_category(state: ContentState) -> RouteDecision:
    """Send the text to the handler of its category."""
    if state.category == "spam":
        return RouteDecision.next("handle_spam")
    if state.category == "question":
        return RouteDecision.next("handle_question")
    return RouteDecision.next("handle_other")


def handle_spam(state: ContentState) -> dict:
    """Spam is quarantined."""
    return {"result": "quarantined", "log": "handled spam"}


def handle_question(state: ContentState) -> dict:
    """Questions go to the help desk."""
    return {"result": "routed to the help desk", "log": "handled question"}


def handle_other(state: ContentState) -> dict:
    """Anything else is archived."""
    return {"result": "archived", "log": "handled other"}


builder = ManifestBuilder(
    graph_name="content_classifier", state_model=ContentState, input_model=ContentInput
)
builder.set_entrypoint("classify")
builder.add_node(
    "classify",
    classify,
    route=route_by_category,
    route_targets=["handle_spam", "handle_question", "handle_other"],
)
builder.add_node("handle_spam", handle_spam, terminal=True)
builder.add_node("handle_question", handle_question, terminal=True)
builder.add_node("handle_other", handle_other, terminal=True)

registration = builder.build()
runtime = DurableGraphApp()
runtime.register_registration(registration)
app = runtime.function_app

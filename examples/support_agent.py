"""Support agent: draft a reply, wait for a human approval, then send, revise or escalate.

Graph ``support_agent``: ``draft_reply`` streams a draft from a chat model (``ctx.emit_each``:
readers of the run see the tokens as they come), then waits for the ``approval`` event (86400 s
at most);
its handler records the decision and the run resumes at ``apply_decision``. A rejected draft is
revised and waits again; after ``MAX_REVISIONS`` revisions a rejection closes the ticket.

Documented results, for input ``{"ticket": "My order has not arrived"}``:

- ``draft_reply`` emits the draft's tokens (kind ``"token"``), then the run waits for
  ``approval``;
- ``{"approved": true, "reviewer": "ana"}`` ends in ``send_reply``, status ``"sent"``;
- ``{"approved": false, "reviewer": "ana", "comment": "mention the refund"}`` runs ``revise``
  (revisions 1, draft ending ``" Note: mention the refund."``) and waits again; approving
  then ends in ``send_reply`` with status ``"sent"``, a second rejection in
  ``close_unapproved`` with status ``"closed_unapproved"``;
- no approval in time ends in ``escalate`` with status ``"escalated"``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Annotated

from pydantic import BaseModel

from azure_functions_durable_graph import DurableGraphApp, ManifestBuilder, RouteDecision, reducers
from azure_functions_durable_graph.execution import NodeContext

MAX_REVISIONS = 1


class SupportState(BaseModel):
    """A ticket, the reply being drafted, and the reviewer's decision."""

    ticket: str
    draft: str = ""
    revisions: int = 0
    approved: bool | None = None
    reviewer: str | None = None
    review_comment: str = ""
    status: str = "open"
    log: Annotated[list[str], reducers.append] = []


class Approval(BaseModel):
    """Payload of the ``approval`` event."""

    approved: bool
    reviewer: str
    comment: str = ""


WAIT_FOR_APPROVAL = RouteDecision.wait_for_event(
    event_name="approval", resume_node="apply_decision", timeout=86400, on_timeout="escalate"
)


class FakeChatModel:
    """A stand-in for a chat model client, offline: streams a canned reply token by token.

    ``astream(prompt)`` yields chunks shaped like a chat client's deltas, ``{"delta": text}``,
    with a short pause between tokens as a model would; swap in a real client's stream.
    """

    def __init__(self, pause: float = 0.001) -> None:
        self.pause = pause

    def reply(self, prompt: str) -> str:
        """The whole answer to ``prompt`` (its last line is the ticket)."""
        return f"Hello, thank you for writing about: {prompt.splitlines()[-1]}. We are on it."

    async def astream(self, prompt: str) -> AsyncIterator[dict[str, str]]:
        """The reply as ``{"delta": token}`` chunks; the tokens join to the whole reply."""
        for token in re.findall(r"\s*\S+", self.reply(prompt)):
            await asyncio.sleep(self.pause)
            yield {"delta": token}


model = FakeChatModel()


async def draft_reply(state: SupportState, ctx: NodeContext) -> dict:
    """Stream the first draft from the model; readers of the run see each token."""
    prompt = f"Write a short, friendly first reply to this support ticket:\n{state.ticket}"
    tokens = await ctx.emit_each(model.astream(prompt), select=lambda chunk: chunk["delta"])
    return {"draft": "".join(tokens), "status": "awaiting_approval", "log": "drafted"}


def ask_for_approval(state: SupportState) -> RouteDecision:
    """Every draft waits for a reviewer, unless the revision budget is spent."""
    if state.revisions > MAX_REVISIONS:
        return RouteDecision.next("close_unapproved")
    return WAIT_FOR_APPROVAL


def record_approval(state: SupportState, payload: Approval) -> dict:
    """Handler of the ``approval`` event: store the reviewer's decision."""
    approval = Approval.model_validate(payload)
    verdict = "approved" if approval.approved else "rejected"
    return {
        "approved": approval.approved,
        "reviewer": approval.reviewer,
        "review_comment": approval.comment,
        "log": f"{verdict} by {approval.reviewer}",
    }


def apply_decision(state: SupportState) -> dict:
    """Resume point after the event; its router acts on the decision."""
    return {"log": "decision applied"}


def route_decision(state: SupportState) -> RouteDecision:
    """Approved drafts are sent; rejected ones are revised."""
    return RouteDecision.next("send_reply" if state.approved else "revise")


def send_reply(state: SupportState) -> dict:
    """Send the approved draft."""
    return {"status": "sent", "log": "sent"}


def revise(state: SupportState) -> dict:
    """Fold the reviewer's comment into the draft."""
    note = f" Note: {state.review_comment}." if state.review_comment else ""
    return {"draft": state.draft + note, "revisions": state.revisions + 1, "log": "revised"}


def close_unapproved(state: SupportState) -> dict:
    """Give up after too many rejected drafts."""
    return {"status": "closed_unapproved", "log": "closed unapproved"}


def escalate(state: SupportState) -> dict:
    """Nobody reviewed the draft in time: hand the ticket to a supervisor."""
    return {"status": "escalated", "log": "escalated"}


builder = ManifestBuilder(graph_name="support_agent", state_model=SupportState)
builder.set_entrypoint("draft_reply")
builder.add_node(
    "draft_reply", draft_reply, route=ask_for_approval, route_targets=[WAIT_FOR_APPROVAL]
)
builder.add_node(
    "apply_decision", apply_decision, route=route_decision, route_targets=["send_reply", "revise"]
)
builder.add_node("send_reply", send_reply, terminal=True)
builder.add_node(
    "revise", revise, route=ask_for_approval, route_targets=[WAIT_FOR_APPROVAL, "close_unapproved"]
)
builder.add_node("close_unapproved", close_unapproved, terminal=True)
builder.add_node("escalate", escalate, terminal=True)
builder.add_event_handler("approval", record_approval, payload_model=Approval)

runtime = DurableGraphApp()
runtime.register_registration(builder.build())
app = runtime.function_app

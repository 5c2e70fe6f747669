"""The ``resume`` event: LangGraph's ``Command(resume=..., update=...)`` as an event payload.

``{"resume": value}`` answers the pending ``interrupt()`` (the node re-runs and ``interrupt()``
returns the value); ``{"update": {...}}`` updates the state through its reducers, as
``update_state`` would, before the run goes on (both may be given). With several interrupts
pending, ``"node"`` names the one answered; otherwise the oldest is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..errors import InvalidInputError
from .plan import GraphPlan
from .state import INTERRUPT_FIELD, RESUME_FIELD, to_update


class ResumePayload(BaseModel):
    """Payload of the ``resume`` event."""

    model_config = ConfigDict(extra="forbid")

    resume: Any = None
    update: dict[str, Any] = Field(default_factory=dict)
    node: str | None = None


def resume_handler(plan: GraphPlan) -> Callable[[BaseModel, ResumePayload], dict[str, Any]]:
    """The event handler of ``resume`` for ``plan``'s graph."""

    def on_resume(state: BaseModel, payload: ResumePayload) -> dict[str, Any]:
        unknown = [k for k in payload.update if k not in plan.state.fields]
        if unknown:
            raise InvalidInputError(f"graph '{plan.name}': resume update names unknown key(s) {unknown}")
        update = to_update(plan.state, payload.update.items())
        pending = [n for n, v in (getattr(state, INTERRUPT_FIELD) or {}).items() if v is not None]
        if "resume" in payload.model_fields_set and pending:
            node = payload.node if payload.node in pending else pending[0]
            answers = list((getattr(state, RESUME_FIELD) or {}).get(node) or [])
            update[RESUME_FIELD] = {node: [*answers, payload.resume]}
            update[INTERRUPT_FIELD] = {node: None}
        return update

    return on_resume


__all__ = ["ResumePayload", "resume_handler"]

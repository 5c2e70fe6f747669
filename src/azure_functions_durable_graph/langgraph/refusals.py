"""What the LangGraph adapter refuses, and the one error it refuses with.

Every refusal is a :class:`LangGraphUnsupportedError` (code ``LANGGRAPH_UNSUPPORTED``) whose
message names the construct, the graph and, where there is one, the node.
"""

from __future__ import annotations

from typing import Any

from ..errors import DurableGraphError

UNSUPPORTED = "LANGGRAPH_UNSUPPORTED"


class LangGraphUnsupportedError(DurableGraphError):
    """A LangGraph construct that the adapter cannot run durably (named in the message)."""

    code = UNSUPPORTED
    http_status = 400


def refuse(graph: str, construct: str, *, node: str | None = None, hint: str = "") -> LangGraphUnsupportedError:
    """The refusal of ``construct`` in ``graph`` (at ``node``), with an optional hint."""
    where = f"graph '{graph}'" + (f", node '{node}'" if node is not None else "")
    tail = f"; {hint}" if hint else ""
    return LangGraphUnsupportedError(
        f"{where}: {construct} is not supported by from_langgraph{tail}",
        details={"graph": graph, "node": node, "construct": construct},
    )


CHECKPOINTER_HINT = (
    "a durable run keeps its own state: read it with LocalEngine.status/history or GET "
    "/api/runs/{id}, and change it by answering the run's 'resume' wait with "
    "{'update': {...}} (POST /api/runs/{id}/events/resume)"
)


def checkpointer_call(graph: str, method: str) -> LangGraphUnsupportedError:
    """The refusal of a checkpointer-level call (get_state, update_state, ...)."""
    return refuse(graph, f"{method}() (a checkpointer-level call)", hint=CHECKPOINTER_HINT)


def describe(value: Any) -> str:
    """A short name for a value in a refusal message."""
    return type(value).__name__


__all__ = ["CHECKPOINTER_HINT", "LangGraphUnsupportedError", "UNSUPPORTED", "checkpointer_call", "describe", "refuse"]

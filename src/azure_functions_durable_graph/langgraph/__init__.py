"""Run LangGraph ``StateGraph`` graphs durably: ``from_langgraph(graph)`` returns a registration.

LangGraph is optional (``pip install azure-functions-durable-graph[langgraph]``); nothing else
in the package imports this module. See ``docs/langgraph.md`` for the mapping and the refusals.
"""

from __future__ import annotations

from .convert import LangGraphRegistration, from_langgraph
from .edges import RESUME_EVENT
from .error_handlers import FailedNodeError
from .nodes import NodeNotRetriedError
from .plan import is_internal_node
from .refusals import UNSUPPORTED, LangGraphUnsupportedError
from .resume import ResumePayload

__all__ = [
    "FailedNodeError",
    "LangGraphRegistration",
    "LangGraphUnsupportedError",
    "NodeNotRetriedError",
    "RESUME_EVENT",
    "ResumePayload",
    "UNSUPPORTED",
    "from_langgraph",
    "is_internal_node",
]
